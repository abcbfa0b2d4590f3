"""Babble from espeak-ng talkers: cached once per version, several talkers, user noise files."""

import subprocess

import numpy as np
import pytest
import soundfile as sf

from modelzoo.corruption import babble
from modelzoo.corruption.audio import make_noise
from modelzoo.errors import UserError


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    babble.babble_recording.cache_clear()
    yield tmp_path / "synclab"
    babble.babble_recording.cache_clear()


def _envelope_variation(x, rate=babble.BABBLE_RATE):
    frames = x[: len(x) // (rate // 10) * (rate // 10)].reshape(-1, rate // 10)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return rms.std() / rms.mean()


def test_babble_is_made_once_and_cached_under_the_version_name(cache, monkeypatch):
    first = babble.babble_recording(16000)
    assert (cache / f"{babble.BABBLE_VERSION}.wav").is_file()
    babble.babble_recording.cache_clear()

    def no_espeak(*args, **kwargs):
        raise AssertionError("espeak-ng ran although the cache exists")

    monkeypatch.setattr(subprocess, "run", no_espeak)
    assert np.array_equal(babble.babble_recording(16000), first)


def test_babble_is_resampled_to_the_requested_rate(cache):
    at_16k = babble.babble_recording(16000)
    at_48k = babble.babble_recording(48000)
    assert at_48k.shape[0] == pytest.approx(3 * at_16k.shape[0], abs=3)
    assert at_16k.shape[0] == pytest.approx(babble.TALKER_SECONDS * 16000, rel=0.01)


def test_many_talkers_give_a_steadier_envelope_than_one():
    one = babble.make_babble(np.random.default_rng(0), n_talkers=1)
    many = babble.make_babble(np.random.default_rng(0), n_talkers=8)
    assert _envelope_variation(many) < 0.6 * _envelope_variation(one)


def test_a_user_noise_file_replaces_the_built_in_babble(tmp_path):
    rate = 16000
    tone = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(rate) / rate)
    sf.write(tmp_path / "hum.wav", tone, rate)
    noise = make_noise(
        "babble", 8000, rate, np.random.default_rng(1), noise_file=tmp_path / "hum.wav"
    )
    spectrum = np.abs(np.fft.rfft(noise))
    assert np.argmax(spectrum) * rate / noise.shape[0] == pytest.approx(1000, abs=5)


def test_a_missing_noise_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="noise file gone.wav: not found"):
        make_noise("babble", 100, 16000, np.random.default_rng(), noise_file=tmp_path / "gone.wav")
