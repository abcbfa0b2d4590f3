"""Audio features at 25 video frames per second: the Wav2Lip mel and AV-RelScore's normalised
waveform.

The mel follows Wav2Lip's `audio.py`/`hparams.py` (Rudrabha/Wav2Lip, which SyncTalkFace copies
unchanged at jinny960812/SyncTalkFace@9d5d08d); its window indexing follows Wav2Lip's `inference.py`
(one window per frame) and `hq_wav2lip_train.py` (`crop_audio_window`, `get_segmented_mels`). The
waveform cut follows ms-dot-k/AVSR `src/data/dataset.py` (trim or pad to 640 samples per frame,
utterance z-norm). Written from the papers.md notes with numpy only: no librosa and no torchaudio at
run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
MEL_STEP = 16  # mel frames per window: 0.2 s, five video frames at 25 fps
MEL_FPS = 80  # mel frames per second (hop 200 at 16 kHz)
SAMPLES_PER_FRAME = 640  # AV-RelScore: 16000 / 25


@dataclass(frozen=True)
class MelConfig:
    """Wav2Lip's audio hyper-parameters; the models were trained on these defaults only."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 800
    win_length: int = 800
    hop_length: int = 200
    n_mels: int = 80
    fmin: float = 55.0
    fmax: float = 7600.0
    preemphasis: float = 0.97
    ref_level_db: float = 20.0
    min_level_db: float = -100.0
    max_abs_value: float = 4.0


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_step = np.log(6.4) / 27.0
    above = hz >= 1000.0
    mel[above] = 15.0 + np.log(hz[above] / 1000.0) / log_step
    return mel


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    hz = mel * (200.0 / 3)
    log_step = np.log(6.4) / 27.0
    above = mel >= 15.0
    hz[above] = 1000.0 * np.exp(log_step * (mel[above] - 15.0))
    return hz


@lru_cache(maxsize=4)
def mel_basis(config: MelConfig = MelConfig()) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters, Slaney-normalised as librosa builds them."""
    fft_hz = np.linspace(0.0, config.sample_rate / 2, config.n_fft // 2 + 1)
    mels = np.linspace(
        _hz_to_mel(np.array([config.fmin]))[0],
        _hz_to_mel(np.array([config.fmax]))[0],
        config.n_mels + 2,
    )
    edges = _mel_to_hz(mels)
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    weights.setflags(write=False)
    return weights


def _stft_magnitude(signal: np.ndarray, config: MelConfig, block: int = 2048) -> np.ndarray:
    """|STFT| (n_fft // 2 + 1, frames), centred frames with reflect padding as librosa 0.7
    (Wav2Lip's pin) did.

    Frames are transformed `block` at a time so that a long recording never needs all frames at
    once.
    """
    pad = config.n_fft // 2
    padded = np.pad(signal, pad, mode="reflect")
    window = np.zeros(config.n_fft)
    offset = (config.n_fft - config.win_length) // 2
    # Periodic Hann, as scipy.signal.get_window('hann', N) returns for spectral analysis.
    window[offset : offset + config.win_length] = np.hanning(config.win_length + 1)[:-1]
    frames = np.lib.stride_tricks.sliding_window_view(padded, config.n_fft)[:: config.hop_length]
    out = np.empty((config.n_fft // 2 + 1, len(frames)), dtype=np.float64)
    for start in range(0, len(frames), block):
        chunk = frames[start : start + block] * window
        out[:, start : start + block] = np.abs(np.fft.rfft(chunk, axis=1)).T
    return out


def melspectrogram(wav: np.ndarray, config: MelConfig = MelConfig()) -> np.ndarray:
    """Wav2Lip's normalised log-mel, (80, 1 + len(wav) // 200) float32 in [-4, 4], 80 frames per
    second.

    `wav` is mono float audio at 16 kHz. Clips shorter than half an FFT window are zero-padded
    first, since reflect padding needs that many samples.
    """
    wav = np.asarray(wav, dtype=np.float64)
    if wav.ndim != 1:
        raise ValueError(f"expected mono audio of shape (samples,), got {wav.shape}")
    n_out = 1 + len(wav) // config.hop_length
    if len(wav) <= config.n_fft // 2:
        wav = np.pad(wav, (0, config.n_fft // 2 + 1 - len(wav)))
    emphasised = np.concatenate([wav[:1], wav[1:] - config.preemphasis * wav[:-1]])
    magnitude = _stft_magnitude(emphasised, config)[:, :n_out]
    mel = mel_basis(config) @ magnitude
    floor = 10.0 ** (config.min_level_db / 20.0)
    db = 20.0 * np.log10(np.maximum(floor, mel)) - config.ref_level_db
    top = config.max_abs_value
    scaled = 2 * top * (db - config.min_level_db) / -config.min_level_db - top
    return np.clip(scaled, -top, top).astype(np.float32)


def mel_start(frame: int, fps: float = 25.0) -> int:
    """First mel frame of video frame `frame`: Wav2Lip's `int(80 * frame / fps)`."""
    return int(MEL_FPS * (frame / float(fps)))


def frame_mels(mel: np.ndarray, n_frames: int, fps: float = 25.0) -> np.ndarray:
    """(n_frames, 80, 16): one window per video frame, as Wav2Lip's `inference.py` cuts them.

    Window i starts at `mel_start(i)`; a window that would run past the end is replaced by the
    last full window, so every frame gets one even when the audio is a little short.
    """
    if mel.shape[1] < MEL_STEP:
        raise ValueError(
            f"need at least {MEL_STEP} mel frames (0.2 s of audio), got {mel.shape[1]}"
        )
    starts = np.array([mel_start(i, fps) for i in range(n_frames)], dtype=np.int64)
    starts = np.minimum(starts, mel.shape[1] - MEL_STEP)
    columns = starts[:, None] + np.arange(MEL_STEP)  # (n_frames, 16)
    return mel[:, columns].transpose(1, 0, 2)


def sync_mel(mel: np.ndarray, frame: int, fps: float = 25.0) -> np.ndarray | None:
    """(80, 16) window that the SyncNet expert pairs with frames frame..frame+4
    (`crop_audio_window`).

    None when the window does not fit in the audio, as in the reference data loader.
    """
    start = mel_start(frame, fps)
    if start < 0 or start + MEL_STEP > mel.shape[1]:
        return None
    return mel[:, start : start + MEL_STEP]


def segmented_mels(mel: np.ndarray, frame: int, n: int = 5, fps: float = 25.0) -> np.ndarray | None:
    """(n, 80, 16) per-frame windows for frames frame..frame+n-1 (`get_segmented_mels`).

    Wav2Lip turns the 0-based id into a 1-based one and then crops at id - 2, so the window of
    frame k starts at frame k - 1 and spans [k - 1, k + 4) in video time. None when any window
    falls outside the audio.
    """
    windows = []
    for k in range(frame, frame + n):
        window = sync_mel(mel, k - 1, fps) if k >= 1 else None
        if window is None:
            return None
        windows.append(window)
    return np.stack(windows)


def normalized_waveform(wav: np.ndarray, n_frames: int, fps: float = 25.0) -> np.ndarray:
    """AV-RelScore's audio input: trim or zero-pad to the video length, then z-normalise the
    utterance.

    Returns float32 of `int(n_frames / fps * 16000)` samples (640 per frame at 25 fps). Silence
    stays zeros instead of dividing by a zero standard deviation.
    """
    length = int(n_frames / fps * SAMPLE_RATE)
    wav = np.asarray(wav, dtype=np.float64)[:length]
    wav = np.pad(wav, (0, length - len(wav)))
    centred = wav - wav.mean() if length else wav
    std = centred.std() if length else 0.0
    return (centred / std if std > 0 else centred).astype(np.float32)


def waveform_frames(wav: np.ndarray, n_frames: int, fps: float = 25.0) -> np.ndarray:
    """(n_frames, 640) `normalized_waveform`: the samples of each video frame at 25 fps."""
    if fps != 25.0:
        raise ValueError("AV-RelScore's 640-sample frames assume 25 fps video")
    return normalized_waveform(wav, n_frames, fps).reshape(n_frames, SAMPLES_PER_FRAME)
