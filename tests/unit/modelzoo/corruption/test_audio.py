"""Audio noise: exact SNR, noise colours, partial segments, anti-clipping, the training recipe."""

import numpy as np
import pytest
import scipy.signal

from modelzoo.corruption import audio as A
from modelzoo.corruption.params import AudioNoiseParams
from modelzoo.errors import InvalidMediaError


def _speechlike(n=32000, channels=None, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    x = 0.2 * np.sin(2 * np.pi * 180 * t) * (
        1 + np.sin(2 * np.pi * 3 * t)
    ) + 0.01 * rng.standard_normal(n)
    x = x.astype(np.float32)
    return x if channels is None else np.stack([x * (c + 1) / channels for c in range(channels)], 1)


@pytest.mark.parametrize("kind", ["white", "pink"])
@pytest.mark.parametrize("snr", [-5.0, 0.0, 5.0, 10.0, 15.0])
def test_whole_clip_noise_has_the_requested_snr(kind, snr):
    clean = _speechlike()
    noisy, gain = A.add_noise(
        clean, 16000, AudioNoiseParams(noise=kind, snr_db=snr), np.random.default_rng(1)
    )
    assert A.snr_db(clean * gain, noisy) == pytest.approx(snr, abs=0.01)


def test_stereo_noise_has_the_requested_snr_over_all_channels():
    clean = _speechlike(channels=2)
    noisy, _ = A.add_noise(
        clean, 16000, AudioNoiseParams(noise="white", snr_db=3.0), np.random.default_rng(2)
    )
    assert noisy.shape == clean.shape
    assert A.snr_db(clean, noisy) == pytest.approx(3.0, abs=0.01)


def test_mixture_that_would_clip_is_scaled_as_a_whole_keeping_the_snr():
    clean = _speechlike() * 4.0  # peaks near 1.6
    noisy, gain = A.add_noise(
        clean, 16000, AudioNoiseParams(noise="white", snr_db=0.0), np.random.default_rng(3)
    )
    assert gain < 1.0
    assert np.max(np.abs(noisy)) <= A.PEAK_LIMIT
    assert A.snr_db(clean * gain, noisy) == pytest.approx(0.0, abs=0.01)


def test_pink_noise_power_falls_as_one_over_f():
    noise = A.pink_noise(2**17, np.random.default_rng(4))
    freqs, psd = scipy.signal.welch(noise, fs=16000, nperseg=4096)
    band = (freqs > 50) & (freqs < 6000)
    slope = np.polyfit(np.log10(freqs[band]), np.log10(psd[band]), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.1)


def test_white_noise_spectrum_is_flat():
    noise = A.white_noise(2**17, np.random.default_rng(5))
    freqs, psd = scipy.signal.welch(noise, fs=16000, nperseg=4096)
    band = (freqs > 50) & (freqs < 7000)
    slope = np.polyfit(np.log10(freqs[band]), np.log10(psd[band]), 1)[0]
    assert abs(slope) < 0.05


def test_partial_noise_leaves_one_to_five_clean_segments_of_at_least_50_ms():
    for seed in range(20):
        mask = A.partial_noise_mask(48000, 16000, np.random.default_rng(seed))
        edges = np.flatnonzero(np.diff(np.r_[1.0, mask, 1.0]))
        runs = edges[1::2] - edges[::2]
        assert 1 <= len(runs) <= 5
        assert runs.min() >= 800  # overlapping segments merge into longer runs


def test_partial_noise_is_clean_where_the_mask_is_zero_and_noisy_elsewhere():
    clean = _speechlike()
    params = AudioNoiseParams(noise="white", snr_db=0.0, partial=True)
    noisy, _ = A.add_noise(clean, 16000, params, np.random.default_rng(6))
    mask = A.partial_noise_mask(32000, 16000, _rng_after_noise(6, 32000))
    diff = noisy - clean
    assert np.abs(diff[mask == 0]).max() < 1e-6
    assert A.snr_db(clean[mask == 1], noisy[mask == 1]) == pytest.approx(0.0, abs=1.0)


def _rng_after_noise(seed, n):
    rng = np.random.default_rng(seed)
    A.white_noise(n, rng)  # replay the draws add_noise made before the mask
    return rng


def test_same_seed_gives_the_same_noise_and_another_seed_differs():
    clean = _speechlike()
    params = AudioNoiseParams(noise="pink", snr_db=5.0, partial=True)
    a, _ = A.add_noise(clean, 16000, params, np.random.default_rng(7))
    b, _ = A.add_noise(clean, 16000, params, np.random.default_rng(7))
    c, _ = A.add_noise(clean, 16000, params, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_silent_audio_cannot_take_an_snr():
    with pytest.raises(InvalidMediaError, match="silent"):
        A.add_noise(
            np.zeros(1000, np.float32),
            16000,
            AudioNoiseParams(noise="white", snr_db=5),
            np.random.default_rng(),
        )


def test_short_noise_recording_is_looped_to_the_clip_length():
    out = A.loop_to_length(np.arange(10, dtype=np.float32), 25, np.random.default_rng(9))
    assert out.shape == (25,)
    assert np.all((out[1:] - out[:-1]) % 10 == 1)  # consecutive samples of the looped recording


def test_training_recipe_draws_its_snr_from_the_list():
    clean = _speechlike()
    bank = np.random.default_rng(10).standard_normal(50000).astype(np.float32)
    seen = set()
    for seed in range(30):
        noisy = A.add_training_noise(clean, bank, np.random.default_rng(seed), dropout_p=0.0)
        seen.add(round(A.snr_db(clean, noisy)))
    assert seen <= {-5, 0, 5, 10, 15} and len(seen) >= 3
