"""espeak-ng speech: 16 kHz mono WAV out, and clear errors for text that cannot be spoken."""

import pytest
import soundfile as sf

from modelzoo.media.tts import MAX_TEXT_CHARS, SpeechError, speak


def test_speech_is_16k_mono_and_longer_for_longer_text(tmp_path):
    short = speak("Hello.", tmp_path / "short.wav")
    long = speak("Hello there, the path through the woods is dark.", tmp_path / "long.wav")
    info = sf.info(long)
    assert (info.samplerate, info.channels) == (16000, 1)
    assert info.duration > 2 * sf.info(short).duration


def test_slower_rate_gives_longer_speech(tmp_path):
    text = "The river is cold in the morning."
    fast = sf.info(speak(text, tmp_path / "fast.wav", rate=300)).duration
    slow = sf.info(speak(text, tmp_path / "slow.wav", rate=100)).duration
    assert slow > 1.8 * fast


def test_text_starting_with_a_dash_is_spoken_not_read_as_an_option(tmp_path):
    audio, _ = sf.read(speak("-w five minutes to go", tmp_path / "dash.wav"))
    assert len(audio) > 16000 and abs(audio).max() > 0.05


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("   ", {}, "empty"),
        ("a" * (MAX_TEXT_CHARS + 1), {}, "limit is"),
        ("...", {}, "no speech"),
        ("hello", {"voice": "xx-nope"}, "not an espeak-ng voice"),
        ("hello", {"voice": "../../etc"}, "not an espeak-ng voice"),
        ("hello", {"rate": 1000}, "words a minute"),
    ],
)
def test_unspeakable_input_gives_a_speech_error_naming_the_problem(tmp_path, text, kwargs, message):
    with pytest.raises(SpeechError, match=message):
        speak(text, tmp_path / "out.wav", **kwargs)
    assert not (tmp_path / "out.wav").exists()
