"""SynthGrid's recipe: seeded, held-out talkers and faces kept out of training, two speech engines,
phone times that match the audio, channels and articulation that vary what they should."""

import json
import subprocess

import numpy as np
import pytest
import soundfile as sf

from modelzoo.errors import UserError
from modelzoo.synthgrid import grammar, speech
from modelzoo.synthgrid.build import fingerprint, make_clip, plan, recipe
from modelzoo.synthgrid.render import Articulation, viseme_track
from modelzoo.synthgrid.speech import Channel, Voice, is_held_out, synthesize

UTTERANCES = 240
SENTENCE = ("bin", "blue", "at", "a", "two", "now")


@pytest.fixture(scope="module")
def clips():
    return plan(seed=5, utterances=UTTERANCES)


def test_the_plan_is_a_function_of_the_seed(clips):
    assert plan(seed=5, utterances=UTTERANCES) == clips
    assert plan(seed=6, utterances=UTTERANCES) != clips


def test_a_clip_is_the_same_bytes_from_the_same_seed(clips, tmp_path):
    clip = clips[0]
    for folder in ("a", "b"):
        make_clip(tmp_path / folder, 5, clip)
    for suffix in ("audio.wav", "mouth.npy", "0.jpg"):
        first = (tmp_path / "a" / clip.name / suffix).read_bytes()
        assert first == (tmp_path / "b" / clip.name / suffix).read_bytes(), suffix
    first = (tmp_path / "a" / f"{clip.name}.json").read_text()
    assert first == (tmp_path / "b" / f"{clip.name}.json").read_text()


def test_the_fingerprint_names_seed_and_counts():
    base = fingerprint(recipe(0, 100, 24))
    assert fingerprint(recipe(0, 100, 24)) == base
    assert len({base, fingerprint(recipe(1, 100, 24)), fingerprint(recipe(0, 101, 24))}) == 3


def test_held_out_voices_and_faces_are_only_in_the_test_split(clips):
    splits = {split: [c for c in clips if c.split == split] for split in ("train", "val", "test")}
    assert all(splits.values())
    for clip in splits["train"] + splits["val"]:
        assert not is_held_out(clip.voice.engine, clip.voice.name), clip.voice
        assert not clip.speaker.held_out and clip.speaker.name.startswith("s")
    for clip in splits["test"]:
        assert is_held_out(clip.voice.engine, clip.voice.name), clip.voice
        assert clip.speaker.held_out and clip.speaker.name.startswith("h")
    seen = {c.speaker.face for c in splits["train"] + splits["val"]}
    assert not seen & {c.speaker.face for c in splits["test"]}
    heard = {(c.voice.engine, c.voice.name) for c in splits["train"] + splits["val"]}
    assert not heard & {(c.voice.engine, c.voice.name) for c in splits["test"]}


def test_each_engine_has_a_held_out_voice_and_the_test_split_uses_both(clips):
    assert speech.HELD_OUT_FLITE_VOICES and speech.HELD_OUT_ESPEAK_VOICES
    assert {c.voice.engine for c in clips if c.split == "test"} == set(speech.ENGINES)


def test_voices_and_faces_vary_from_clip_to_clip(clips):
    train = [c for c in clips if c.split == "train"]
    assert len({c.voice.name for c in train}) > len(train) // 2
    assert len({c.speaker.name for c in train}) >= 20
    assert {c.voice.engine for c in train} == set(speech.ENGINES)
    assert len({c.channel for c in train}) == len(train)


def test_every_voice_is_espeak_ng_or_flite_and_each_exists(clips):
    assert speech.ENGINES == ("espeak-ng", "flite")
    assert {c.voice.engine for c in clips} <= set(speech.ENGINES)
    listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout.split()
    assert set(speech.FLITE_VOICES) <= set(listed)
    voices = subprocess.run(["espeak-ng", "--voices=en"], capture_output=True, text=True).stdout
    accents = {line.split()[1] for line in voices.splitlines()[1:] if "gmw/" in line}
    assert set(speech.ESPEAK_VOICES) - {"en"} <= accents and "en-gb" in accents
    variants = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True)
    files = {
        line.split("!v/")[1].split("(")[0].strip() for line in variants.stdout.splitlines()[1:]
    }
    assert set(speech.ESPEAK_VARIANTS) <= files


def test_the_same_text_and_voice_give_the_same_samples_whatever_came_before():
    voice = Voice("espeak-ng", "en+whisper", speed=1.1)
    first = synthesize("bin white at jay", voice).audio
    synthesize("lay green by x seven soon", Voice("espeak-ng", "en-us+m3", pitch=1.2))
    assert np.array_equal(first, synthesize("bin white at jay", voice).audio)


def test_another_engine_is_refused():
    with pytest.raises(UserError, match="espeak-ng, flite"):
        synthesize("bin blue", Voice("mbrola", "us1"))


def _rms(audio, start, end):
    piece = audio[int(start * 16000) : int(end * 16000)]
    return float(np.sqrt(np.mean(piece**2))) if len(piece) else 0.0


@pytest.mark.parametrize("voice", [Voice("espeak-ng", "en-us+m3"), Voice("flite", "slt", 0.9)])
def test_phone_times_match_the_audio(voice):
    """Vowels are loud, pauses quiet, and speech starts where the first sounding phone does."""
    said = synthesize(grammar.spoken_text(SENTENCE), voice)
    assert said.phones[-1].end == pytest.approx(len(said.audio) / 16000, abs=0.02)
    vowels = [p for p in said.phones if p.symbol in ("I", "u:", "a", "eI", "aU")]
    pauses = [p for p in said.phones if p.symbol.startswith("_") and p.end - p.start > 0.05]
    assert len(vowels) >= 5
    loud = np.median([_rms(said.audio, p.start, p.end) for p in vowels])
    for pause in pauses:
        assert _rms(said.audio, pause.start + 0.02, pause.end - 0.02) < 0.1 * loud
    onset = np.argmax(np.abs(said.audio) > 0.05 * np.abs(said.audio).max()) / 16000
    first = next(p for p in said.phones if not p.symbol.startswith("_"))
    assert onset == pytest.approx(first.start, abs=0.04)


def test_clip_phones_are_shifted_to_where_the_clip_speaks(clips, tmp_path):
    clip = next(c for c in clips if c.voice.engine == "flite")
    make_clip(tmp_path, 5, clip)
    meta = json.loads((tmp_path / f"{clip.name}.json").read_text())
    audio, _ = sf.read(tmp_path / clip.name / "audio.wav", dtype="float32")
    sounding = [p for p in meta["phones"] if not p[0].startswith("_")]
    before = _rms(audio, 0.0, sounding[0][1] - 0.03)
    during = _rms(audio, sounding[0][1], sounding[-1][2])
    assert before < 0.05 * during
    assert meta["voice"]["engine"] == "flite" and meta["held_out"] == (clip.split == "test")


def test_a_room_rings_on_and_a_band_limit_cuts_the_highs():
    burst = np.zeros(16000, np.float32)
    burst[1000:1800] = np.random.default_rng(0).normal(size=800)
    wet = Channel(reverb_s=0.5, reverb_wet=0.3).apply(burst)
    assert len(wet) == len(burst) and _rms(wet, 0.15, 0.3) > 0.01 > _rms(burst, 0.15, 0.3)
    narrow = Channel(lowpass_hz=3000.0).apply(burst)
    high = np.abs(np.fft.rfft(narrow))[np.fft.rfftfreq(len(narrow), 1 / 16000) > 5000]
    assert high.mean() < 0.05 * np.abs(np.fft.rfft(burst))[-1000:].mean()


def test_articulation_style_scales_and_jitters_the_lips():
    said = synthesize(grammar.spoken_text(SENTENCE), Voice("espeak-ng", "en-us"))
    plain = viseme_track(said.phones, 60)
    assert np.array_equal(plain, viseme_track(said.phones, 60, style=Articulation()))
    narrow = viseme_track(said.phones, 60, style=Articulation(opening=0.5))
    assert narrow[:, 0].max() == pytest.approx(0.5 * plain[:, 0].max(), rel=0.05)
    style = Articulation(boundary_jitter_s=0.02, target_jitter=0.1)
    takes = [viseme_track(said.phones, 60, 0.0, style, np.random.default_rng(k)) for k in (1, 2)]
    assert not np.allclose(takes[0], takes[1])
    assert np.corrcoef(takes[0][:, 0], plain[:, 0])[0, 1] > 0.7  # still the same sentence
