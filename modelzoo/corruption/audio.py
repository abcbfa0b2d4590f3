"""Audio noise at an exact SNR: white, pink and babble, whole-clip or partial, as in AV-RelScore.

Recipe after AV-RelScore (arXiv 2303.08536, papers.md §4.5 (c)): the test recipe of
joannahong/AV-RelScore@17b9f02 `Audio_perturb.py` (RMS-based gain, optional partial-noise segments,
mixture rescaled to peak 1) and the training recipe of ms-dot-k/AVSR@2a287f5
`src/data/transforms.py::AddNoise` (power-based gain, SNR drawn from a list, dropouts of the
mixture). Both codebases are CC BY-NC 4.0; this is an independent implementation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.fft

from modelzoo.corruption.params import AudioNoiseParams
from modelzoo.errors import InvalidMediaError

# The largest float value that PCM 16-bit stores without clipping.
PEAK_LIMIT = 32767 / 32768
TRAIN_SNRS_DB = (-5.0, 0.0, 5.0, 10.0, 15.0)
POWER_BLOCK = 2**20


def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise, float32, unit variance."""
    return rng.standard_normal(n, dtype=np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f (pink) noise: white noise shaped in the frequency domain, float32, unit variance."""
    if n < 2:
        return np.zeros(n, dtype=np.float32)
    spectrum = scipy.fft.rfft(rng.standard_normal(n, dtype=np.float32))
    freqs = np.arange(spectrum.shape[0], dtype=np.float32)
    freqs[0] = 1.0
    spectrum /= np.sqrt(freqs)  # power falls as 1/f
    spectrum[0] = 0.0  # no DC offset
    noise = scipy.fft.irfft(spectrum, n).astype(np.float32)
    return noise / max(float(np.sqrt(np.mean(noise.astype(np.float64) ** 2))), 1e-12)


def loop_to_length(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random excerpt of `n` samples from a noise recording, tiled first when it is too short."""
    if noise.size == 0:
        raise InvalidMediaError("the noise recording is empty")
    if noise.shape[0] < n:
        noise = np.tile(noise, n // noise.shape[0] + 1)
    start = int(rng.integers(0, noise.shape[0] - n + 1))
    return noise[start : start + n]


def power(x: np.ndarray) -> float:
    """Mean power over all samples and channels, summed in float64 a block at a time, so that a
    long clip needs no full-size temporary."""
    flat = x.reshape(-1)
    total = 0.0
    for i in range(0, flat.size, POWER_BLOCK):
        block = flat[i : i + POWER_BLOCK].astype(np.float64)
        total += float(np.dot(block, block))
    return total / flat.size if flat.size else 0.0


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """Measured SNR of `noisy` against `clean`: 10 log10(P(clean) / P(noisy - clean))."""
    diff = noisy.astype(np.float64) - clean.astype(np.float64)
    return 10.0 * np.log10(power(clean) / max(power(diff), 1e-30))


def scale_noise(clean: np.ndarray, noise: np.ndarray, snr: float) -> np.ndarray:
    """`noise` (float32) scaled so that P(clean) / P(noise) is exactly `snr` dB over the clip.

    The power ratio and the paper's RMS ratio give the same gain when taken over the same samples.
    A mono `noise` (n,) stands for the same noise on every channel of `clean` (n, ch), which has
    the same power.
    """
    p_clean = power(clean)
    if p_clean <= 0.0:
        raise InvalidMediaError(
            "the audio is silent, so no SNR can be set; upload audio with sound"
        )
    p_noise = power(noise)
    if p_noise <= 0.0:
        raise InvalidMediaError("the noise recording is silent")
    gain = np.sqrt(p_clean / p_noise / 10.0 ** (snr / 10.0))
    return (noise * np.float32(gain)).astype(np.float32, copy=False)


def mix(clean: np.ndarray, scaled_noise: np.ndarray) -> tuple[np.ndarray, float]:
    """clean + noise, scaled as a whole below full scale when it would clip (the SNR is kept).

    Returns the float32 mixture and the gain applied to it (1.0 when nothing was rescaled). A mono
    noise is added to every channel; the sum is made in place to keep long clips small.
    """
    mixture = np.array(clean, dtype=np.float32)
    if mixture.ndim == 2 and scaled_noise.ndim == 1:
        scaled_noise = scaled_noise[:, None]
    mixture += scaled_noise
    peak = max(float(mixture.max()), -float(mixture.min())) if mixture.size else 0.0
    gain = PEAK_LIMIT / peak if peak > PEAK_LIMIT else 1.0
    if gain != 1.0:
        mixture *= np.float32(gain)
    return mixture, gain


def partial_noise_mask(n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Test recipe's partial noise: 1-5 segments (0.05 s up to n / (2 repeat) each) left clean.

    Returns a float32 mask of ones with zeros where the noise is removed.
    """
    mask = np.ones(n, dtype=np.float32)
    repeat = int(rng.integers(1, 6))
    min_len = int(0.05 * sample_rate)
    max_len = n // repeat // 2
    if max_len < min_len:
        return mask
    starts = rng.choice(n - max_len + 1, size=min(repeat, n - max_len + 1), replace=False)
    for start in starts:
        mask[start : start + int(rng.integers(min_len, max_len + 1))] = 0.0
    return mask


def make_noise(
    kind: str,
    n: int,
    sample_rate: int,
    rng: np.random.Generator,
    *,
    noise_file: Path | None = None,
) -> np.ndarray:
    """`n` samples of mono noise of `kind`; a user's `noise_file` replaces the built-in babble."""
    if kind == "white":
        return white_noise(n, rng)
    if kind == "pink":
        return pink_noise(n, rng)
    if kind == "babble":
        from modelzoo.corruption.babble import babble_recording, load_noise_file

        bank = (
            load_noise_file(noise_file, sample_rate)
            if noise_file
            else babble_recording(sample_rate)
        )
        return loop_to_length(bank, n, rng)
    raise ValueError(f"unknown noise kind {kind!r}")


def add_noise(
    clean: np.ndarray,
    sample_rate: int,
    params: AudioNoiseParams,
    rng: np.random.Generator,
    *,
    noise_file: Path | None = None,
) -> tuple[np.ndarray, float]:
    """Test-recipe noise at `params.snr_db` over `clean` (n,) or (n, ch) float; (mixture, gain).

    With `partial` false the SNR over the whole clip is exact. With `partial` true the gain is set
    on the whole noise before segments of it are removed, as the test recipe does, so the noisy
    stretches sit at the requested SNR and the clip as a whole is cleaner.
    """
    mixture, gain, _ = add_noise_where(clean, sample_rate, params, rng, noise_file=noise_file)
    return mixture, gain


def add_noise_where(
    clean: np.ndarray,
    sample_rate: int,
    params: AudioNoiseParams,
    rng: np.random.Generator,
    *,
    noise_file: Path | None = None,
) -> tuple[np.ndarray, float, np.ndarray]:
    """`add_noise` that also says where the noise is: (mixture, gain, (n,) bool mask of the
    samples that carry noise), for showing the corrupted stretches beside a transcript."""
    n = clean.shape[0]
    noise = make_noise(params.noise, n, sample_rate, rng, noise_file=noise_file)
    scaled = scale_noise(clean, noise, params.snr_db)
    noisy = np.ones(n, dtype=bool)
    if params.partial:
        mask = partial_noise_mask(n, sample_rate, rng)
        scaled *= mask[:, None] if scaled.ndim == 2 else mask
        noisy = mask > 0
    mixture, gain = mix(clean, scaled)
    return mixture, gain, noisy


def add_training_noise(
    clean: np.ndarray,
    noise_bank: np.ndarray,
    rng: np.random.Generator,
    *,
    snrs_db: tuple[float, ...] = TRAIN_SNRS_DB,
    dropout_p: float = 0.5,
) -> np.ndarray:
    """Training recipe: bank noise at an SNR drawn from `snrs_db`; with p=`dropout_p` the mixture
    is zeroed in 4 random segments shorter than len/8 each. `clean` is mono (n,)."""
    n = clean.shape[0]
    snr = float(snrs_db[int(rng.integers(len(snrs_db)))])
    noisy = clean.astype(np.float32) + scale_noise(clean, loop_to_length(noise_bank, n, rng), snr)
    if n >= 16 and rng.random() < dropout_p:
        for _ in range(4):
            length = int(rng.integers(0, n // 8))
            start = int(rng.integers(0, n - length + 1))
            noisy[start : start + length] = 0.0
    return noisy
