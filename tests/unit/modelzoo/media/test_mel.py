"""The Wav2Lip mel against librosa, its per-frame windows, and AV-RelScore's waveform cut."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from modelzoo.media import mel
from tests.unit.modelzoo.synthetic_media import speech


def librosa_wav2lip_mel(wav: np.ndarray) -> np.ndarray:
    """Wav2Lip's `audio.melspectrogram` in librosa, with the reflect padding it was pinned to."""
    emphasised = scipy.signal.lfilter([1, -0.97], [1], wav)
    spectrum = np.abs(
        librosa.stft(y=emphasised, n_fft=800, hop_length=200, win_length=800, pad_mode="reflect")
    )
    basis = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    db = 20 * np.log10(np.maximum(1e-5, basis @ spectrum)) - 20
    return np.clip(8 * ((db + 100) / 100) - 4, -4, 4)


@pytest.fixture(scope="module")
def spoken(tmp_path_factory) -> np.ndarray:
    path = speech(tmp_path_factory.mktemp("mel") / "speech.wav")
    wav, rate = sf.read(path, dtype="float32")
    assert rate == 16000
    return wav


def test_mel_matches_librosa_on_speech_to_1e_3(spoken):
    ours = mel.melspectrogram(spoken)
    reference = librosa_wav2lip_mel(spoken)
    assert ours.shape == reference.shape == (80, 1 + len(spoken) // 200)
    assert np.abs(ours - reference).max() < 1e-3


def test_mel_basis_matches_librosa_slaney_filters():
    reference = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    assert np.abs(mel.mel_basis() - reference).max() < 1e-6


def test_mel_is_80_frames_per_second_in_minus_4_to_4(spoken):
    values = mel.melspectrogram(spoken[:16000])
    assert values.shape == (80, 81) and values.dtype == np.float32
    assert values.min() >= -4 and values.max() <= 4
    assert mel.melspectrogram(np.zeros(16000)).max() == -4


def test_mel_of_a_very_short_clip_still_has_one_frame():
    assert mel.melspectrogram(np.ones(100) * 0.1).shape == (80, 1)


def indexed_mel(frames: int) -> np.ndarray:
    """A fake mel whose every column holds its own index, so windows show where they start."""
    return np.tile(np.arange(frames, dtype=np.float32), (80, 1))


def test_frame_windows_start_at_int_80_frame_over_fps_and_clamp_at_the_end():
    spec = indexed_mel(200)  # 2.5 s of mel
    windows = mel.frame_mels(spec, n_frames=62)
    starts = windows[:, 0, 0].astype(int)
    assert windows.shape == (62, 80, 16)
    assert starts[:5].tolist() == [0, 3, 6, 9, 12]
    assert starts[57] == int(80 * 57 / 25) == 182
    assert starts[-1] == 200 - 16  # past the end: the last full window
    assert (windows[:, 0, 15] - windows[:, 0, 0] == 15).all()


def test_sync_window_is_none_past_the_end():
    spec = indexed_mel(100)
    assert mel.sync_mel(spec, 10)[0, 0] == int(80 * 10 / 25)
    assert mel.sync_mel(spec, 27) is None


def test_segmented_windows_start_one_video_frame_early():
    spec = indexed_mel(200)
    windows = mel.segmented_mels(spec, 10)
    assert windows.shape == (5, 80, 16)
    assert windows[:, 0, 0].astype(int).tolist() == [int(80 * (k - 1) / 25) for k in range(10, 15)]
    assert mel.segmented_mels(spec, 0) is None


def test_waveform_is_640_samples_per_frame_and_z_normalised():
    rng = np.random.default_rng(0)
    wav = 0.3 + 0.1 * rng.standard_normal(16000)
    cut = mel.waveform_frames(wav, n_frames=20)
    assert cut.shape == (20, 640) and cut.dtype == np.float32
    assert cut.mean() == pytest.approx(0, abs=1e-5) and cut.std() == pytest.approx(1, abs=1e-4)
    expected = (wav[:12800] - wav[:12800].mean()) / wav[:12800].std()
    assert np.allclose(cut.ravel(), expected, atol=1e-5)


def test_short_audio_is_zero_padded_to_the_video_length_and_silence_stays_zero():
    padded = mel.normalized_waveform(np.ones(1000), n_frames=3)
    assert len(padded) == 1920 and np.isfinite(padded).all()
    assert (mel.normalized_waveform(np.zeros(100), n_frames=2) == 0).all()
