"""Talking-face generation end to end on tiny random-weight models: valid MP4s from a photo or a
face video with espeak-ng speech, clear errors for no face and bad params, OOM batch halving."""

import math

import ffmpeg
import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image
from skimage import data

from modelzoo.alm.model import ALMConfig, AudioLipMemoryModel
from modelzoo.cals.model import CALSConfig, CALSModel
from modelzoo.errors import InvalidParamsError, UserError
from modelzoo.media.crops import face_boxes
from modelzoo.media.faces import NoFaceError, track_faces
from modelzoo.media.io import iter_frames, read_image
from modelzoo.media.mel import mel_start
from modelzoo.media.tts import speak
from modelzoo.pipelines.generate import (
    HalvingBatches,
    frame_windows,
    generate,
    ping_pong,
)

from .media.face_media import encode, moving_clip

TINY_ALM = ALMConfig(width=32, num_slots=8)
TINY_CALS = CALSConfig(width=16, context=2, a2l_layers=1, a2l_heads=2, a2l_ffn=32)
TEXT = "Bring a torch, the path is dark."
AAC_PADDING_S = 1024 / 16000  # one AAC frame of encoder priming at 16 kHz


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("generation")
    Image.fromarray(data.astronaut()).save(root / "astronaut.png")
    Image.fromarray(data.coffee()).save(root / "coffee.png")
    speak(TEXT, root / "speech.wav")
    return root


def tiny_alm():
    torch.manual_seed(0)
    return AudioLipMemoryModel(TINY_ALM)


def streams(path):
    facts = ffmpeg.probe(str(path))
    by_kind = {s["codec_type"]: s for s in facts["streams"]}
    return by_kind["video"], by_kind.get("audio"), float(facts["format"]["duration"])


def assert_valid_output(path, audio_seconds, size):
    video, audio, duration = streams(path)
    assert (video["codec_name"], video["pix_fmt"], video["r_frame_rate"]) == (
        "h264",
        "yuv420p",
        "25/1",
    )
    assert (video["width"], video["height"]) == size
    assert audio is not None and audio["codec_name"] == "aac"
    assert int(video["nb_frames"]) == math.ceil(audio_seconds * 25 - 1e-9)
    assert abs(duration - audio_seconds) <= 0.04 + AAC_PADDING_S


def test_photo_and_text_give_an_mp4_as_long_as_the_speech_at_full_resolution(media, tmp_path):
    reports = []
    out = generate(
        tiny_alm(),
        media / "astronaut.png",
        None,
        tmp_path / "generated.mp4",
        text=TEXT,
        batch_size=8,
        progress=lambda frac, msg: reports.append(frac),
    )
    assert out == tmp_path / "generated.mp4"
    assert [p.name for p in tmp_path.iterdir()] == ["generated.mp4"]  # no temporary files left
    assert_valid_output(out, sf.info(media / "speech.wav").duration, (512, 512))
    assert reports == sorted(reports) and reports[-1] == 1.0


def test_only_the_lower_face_is_redrawn(media, tmp_path):
    out = generate(tiny_alm(), media / "astronaut.png", media / "speech.wav", tmp_path / "o.mp4")
    photo = data.astronaut().astype(float)
    frame = read_image(out).astype(float)
    x1, y1, x2, y2 = face_boxes(track_faces(data.astronaut()).landmarks, (512, 512))[0]
    middle = (y1 + y2) // 2
    difference = np.abs(frame - photo).mean(axis=2)
    noise = difference[: y1 - 4].mean()  # above the face: H.264 and yuv420p rounding only
    assert noise < 4
    assert difference[middle - 30 : middle - 4, x1:x2].mean() < 2 * noise  # the eyes are kept
    assert difference[y2 + 10 :].mean() < 2 * noise  # below the chin too
    assert difference[middle + 10 : y2 - 10, x1 + 10 : x2 - 10].mean() > 5 * noise  # the mouth


def test_cals_and_resampled_stereo_audio_give_a_valid_mp4(media, tmp_path):
    speech, _ = sf.read(media / "speech.wav")
    stereo = tmp_path / "stereo.wav"
    at_44k = np.interp(np.arange(0, len(speech), 16000 / 44100), np.arange(len(speech)), speech)
    stereo_44k = np.stack([at_44k, at_44k], axis=1)
    sf.write(stereo, stereo_44k, 44100)
    torch.manual_seed(0)
    out = generate(CALSModel(TINY_CALS), media / "astronaut.png", stereo, tmp_path / "c.mp4")
    assert_valid_output(out, len(stereo_44k) / 44100, (512, 512))


def test_a_face_video_shorter_than_the_speech_plays_back_and_forth(media, tmp_path):
    frames, _ = moving_clip(n=20, size=(240, 320))
    clip = encode(tmp_path / "face.mp4", frames)
    out = generate(tiny_alm(), clip, media / "speech.wav", tmp_path / "o.mp4", batch_size=4)
    seconds = sf.info(media / "speech.wav").duration
    assert seconds > 1.6  # longer than the clip, so the clip must loop
    assert_valid_output(out, seconds, (320, 240))
    decoded = np.concatenate(list(iter_frames(out)))
    # Frame 20 shows input frame 18, frame 38 shows input frame 0: compare the frames' tops.
    source = np.concatenate(list(iter_frames(clip)))
    for output_index, input_index in [(20, 18), (38, 0), (5, 5)]:
        top = np.abs(decoded[output_index, :40].astype(float) - source[input_index, :40]).mean()
        assert top < 3, (output_index, input_index, top)


def test_a_face_video_longer_than_the_speech_is_cut_to_the_speech(media, tmp_path):
    frames, _ = moving_clip(n=60, size=(240, 320))
    clip = encode(tmp_path / "face.mp4", frames)
    speak("Hi there.", tmp_path / "short.wav")
    out = generate(tiny_alm(), clip, tmp_path / "short.wav", tmp_path / "o.mp4")
    assert_valid_output(out, sf.info(tmp_path / "short.wav").duration, (320, 240))


def test_a_photo_without_a_face_is_refused_naming_the_file(media, tmp_path):
    with pytest.raises(NoFaceError, match="no face found in the photo of coffee.png"):
        generate(tiny_alm(), media / "coffee.png", media / "speech.wav", tmp_path / "o.mp4")
    assert list(tmp_path.iterdir()) == []


def test_ping_pong_runs_forwards_then_backwards():
    assert ping_pong(np.arange(10), 4).tolist() == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert ping_pong(np.arange(3), 1).tolist() == [0, 0, 0]


def test_frame_windows_start_one_frame_early_and_are_clamped_into_the_audio():
    mel = np.arange(80 * 40, dtype=np.float32).reshape(80, 40)
    windows, valid = frame_windows(mel, -1, 13, n_frames=11)
    assert valid.tolist() == [False] + [True] * 11 + [False]
    assert not windows[0].any() and not windows[-1].any()
    for k in (1, 5, 7):
        start = mel_start(k - 1)
        assert torch.equal(windows[k + 1, 0], torch.from_numpy(mel[:, start : start + 16]))
    assert torch.equal(windows[1, 0], torch.from_numpy(mel[:, :16]))  # frame 0: from the start
    assert torch.equal(windows[11, 0], torch.from_numpy(mel[:, -16:]))  # frame 10: the last 16


class OutOfMemoryAbove(AudioLipMemoryModel):
    """A tiny generator that runs out of memory on batches over `limit` frames."""

    limit = 3

    def generate(self, mels, faces):
        self.calls.append(len(faces))
        if len(faces) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().generate(mels, faces)


def test_out_of_memory_halves_the_batch_and_retries(media, tmp_path):
    torch.manual_seed(0)
    model = OutOfMemoryAbove(TINY_ALM)
    model.calls = []
    out = generate(
        model, media / "astronaut.png", media / "speech.wav", tmp_path / "o.mp4", batch_size=16
    )
    assert model.calls[:3] == [16, 8, 4] and model.calls[3] == 2  # halved until it fits
    assert set(model.calls[3:]) <= {1, 2}  # stays small for the rest of the clip
    assert_valid_output(out, sf.info(media / "speech.wav").duration, (512, 512))


def test_halving_gives_the_same_frames_and_passes_other_errors_on():
    batches = HalvingBatches(8)

    def small_only(x, first):
        if len(x) > 2:
            raise RuntimeError("CUDA error: out of memory")
        return x * 2 + first

    inputs = torch.zeros(5, 1)
    assert batches.run(small_only, inputs, 10).flatten().tolist() == [10, 10, 12, 12, 14]
    assert batches.batch_size == 2

    def broken(x, first):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        HalvingBatches(8).run(broken, inputs, 0)
    with pytest.raises(RuntimeError, match="out of memory"):
        HalvingBatches(8).run(lambda x, first: small_only(x.repeat(3, 1), first), inputs, 0)


@pytest.mark.parametrize(
    ("settings", "audio", "message"),
    [
        ({"batch_size": 0}, "speech.wav", "batch size 0"),
        ({"batch_size": 257}, "speech.wav", "from 1 to 256"),
        ({}, None, "needs speech"),
        ({"text": "hello"}, "speech.wav", "'text' was given with an audio file"),
    ],
)
def test_bad_settings_are_refused_before_any_work(media, tmp_path, settings, audio, message):
    audio = media / audio if audio else None
    with pytest.raises(InvalidParamsError, match=message):
        generate(tiny_alm(), media / "astronaut.png", audio, tmp_path / "o.mp4", **settings)
    assert list(tmp_path.iterdir()) == []


def test_a_model_that_is_not_a_generator_is_refused(media, tmp_path):
    with pytest.raises(UserError, match="does not generate faces"):
        generate(
            torch.nn.Linear(2, 2), media / "astronaut.png", None, tmp_path / "o.mp4", text="hi"
        )
