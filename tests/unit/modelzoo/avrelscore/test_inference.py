"""transcribe and the transcription pipeline on real media files with a tiny random-weight model."""

import json

import cv2
import numpy as np
import pytest
import torch

from modelzoo import cpu_linear, onednn
from modelzoo.avrelscore import inference
from modelzoo.avrelscore.decoding import beam_search, greedy_ctc
from modelzoo.avrelscore.inference import optimize_for_inference, transcribe
from modelzoo.avrelscore.model import AVRelScore
from modelzoo.errors import InvalidMediaError, InvalidParamsError, UserError
from modelzoo.media.io import VideoWriter
from modelzoo.pipelines import transcribe as pipeline
from tests.conftest import make_clip

from ..media.face_media import moving_clip
from ..synthetic_media import speech
from .conftest import tiny_config

FACE_FRAMES = 30
VOCAB_TEXT = set("'0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ?")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Files of every kind the Transcribe tab takes: a face with or without speech, colour bars
    (no face) with or without a tone, and a speech WAV."""
    root = tmp_path_factory.mktemp("transcribe")
    wav = speech(root / "speech.wav")
    frames, _ = moving_clip(FACE_FRAMES)
    files = {"speech": wav}
    for name, audio in (("face", wav), ("silent_face", None)):
        with VideoWriter(root / f"{name}.mp4", 320, 240, audio=audio) as writer:
            writer.write(frames)
        files[name] = root / f"{name}.mp4"
    files["bars"] = make_clip(root / "bars.mp4", seconds=2.0)
    files["silent_bars"] = make_clip(root / "silent_bars.mp4", seconds=1.0, audio=False)
    return files


def _model(**changes):
    torch.manual_seed(0)
    return AVRelScore(tiny_config(**changes)).eval()


@pytest.fixture(scope="module")
def model():
    return _model()


def test_audio_visual_transcription_has_text_per_frame_reliability_and_timings(model, media):
    seen = []
    result = transcribe(model, media["face"], progress=lambda frac, msg: seen.append(frac))
    out = json.loads(json.dumps(result.as_json()))
    assert (out["mode"], out["notice"], out["fps"]) == ("audio-visual", "", 25)
    assert out["frames"] == FACE_FRAMES and out["duration_s"] == pytest.approx(FACE_FRAMES / 25)
    assert set(out["text"]) <= VOCAB_TEXT
    for stream in ("audio", "video"):
        scores = out["reliability"][stream]
        assert len(scores) == FACE_FRAMES
        assert all(0.0 < s < 1.0 for s in scores)
    assert set(out["timings"]) == {"read_media", "mouth_crops", "encoder", "decoding", "total"}
    assert all(t >= 0 for t in out["timings"].values())
    assert (
        out["timings"]["mouth_crops"] > 0 and out["timings"]["total"] >= out["timings"]["encoder"]
    )
    assert out["decoder"] == {"name": "greedy"}
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_reliability_is_the_per_frame_channel_mean_of_the_scorer_output(model, media):
    captured = {}
    encode = model.encode

    def spy(*args):
        captured["encoded"] = encode(*args)
        return captured["encoded"]

    model.encode = spy
    try:
        result = transcribe(model, media["face"])
    finally:
        del model.encode
    video_scores = captured["encoded"].video_scores[0].mean(-1)
    assert result.reliability["video"] == pytest.approx(video_scores.tolist(), abs=1e-4)
    # The change: RMS over channels of each frame's distance to the clip's per-channel median.
    channels = captured["encoded"].video_scores[0].double().numpy()  # (T, C)
    moved = np.sqrt(((channels - np.median(channels, axis=0)) ** 2).mean(axis=1))
    assert result.reliability_change["video"] == pytest.approx(moved.tolist(), abs=1e-4)
    assert len(result.reliability_change["audio"]) == FACE_FRAMES


def test_reliability_change_rises_on_frames_scored_unlike_the_rest(model, media, monkeypatch):
    encode = model.encode

    def odd_stretch(*args):
        encoded = encode(*args)
        encoded.video_scores[:, 10:15] = 1.0 - encoded.video_scores[:, 10:15]  # flipped scores
        return encoded

    monkeypatch.setattr(model, "encode", odd_stretch)
    change = np.array(transcribe(model, media["face"]).reliability_change["video"])
    assert change[10:15].min() > 2 * np.median(np.delete(change, range(10, 15)))


def test_a_video_without_a_face_is_transcribed_from_the_audio_alone(model, media):
    captured = []
    encode = model.encode
    model.encode = lambda video, audio, lengths: (
        captured.append(video) or encode(video, audio, lengths)
    )
    try:
        result = transcribe(model, media["bars"])
    finally:
        del model.encode
    assert result.mode == "audio-only"
    assert "no face" in result.notice.lower() and "audio alone" in result.notice
    assert result.reliability["video"] is None
    assert len(result.reliability["audio"]) == result.frames == 50
    assert captured[0].shape == (1, 50, 1, 88, 88) and not captured[0].any()  # blanked


def test_a_video_without_audio_is_read_from_the_lips_alone(model, media):
    result = transcribe(model, media["silent_face"])
    assert result.mode == "video-only"
    assert "no audio in silent_face.mp4" in result.notice and "lips alone" in result.notice
    assert result.reliability["audio"] is None
    assert len(result.reliability["video"]) == FACE_FRAMES


def test_an_audio_file_is_transcribed_from_the_audio(model, media):
    result = transcribe(model, media["speech"], decoder="beam", beam_size=3, ctc_weight=0.3)
    assert result.mode == "audio-only" and "no video in speech.wav" in result.notice
    assert result.frames > 25 and len(result.reliability["audio"]) == result.frames
    assert result.decoder == {"name": "beam", "beam_size": 3, "ctc_weight": 0.3}
    assert set(result.text) <= VOCAB_TEXT


def test_no_face_and_no_audio_is_a_user_error_naming_both(model, media):
    with pytest.raises(UserError, match=r"No face .* and there is no audio in silent_bars.mp4"):
        transcribe(model, media["silent_bars"])


def test_a_still_image_is_refused(model, tmp_path):
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), moving_clip(1)[0][0])
    with pytest.raises(InvalidMediaError, match="still image"):
        transcribe(model, image)


def test_an_audio_only_model_skips_the_video_without_a_notice(media):
    result = transcribe(_model(variant="audio_only"), media["bars"])
    assert (result.mode, result.notice) == ("audio-only", "")
    assert result.timings["mouth_crops"] == 0.0
    assert result.reliability == {"audio": None, "video": None}  # no reliability scorer


def test_a_video_only_model_cannot_read_an_audio_file(media):
    with pytest.raises(UserError, match="no video in speech.wav, and this video-only model"):
        transcribe(_model(variant="video_only"), media["speech"])


def test_the_pipeline_writes_the_json_and_the_text(model, media, tmp_path):
    settings = {"decoder": "beam", "beam_size": 2, "ctc_weight": 0.5}
    out = tmp_path / "out"
    written = pipeline.transcribe(model, media["face"], out / "t.json", out / "t.txt", **settings)
    assert [p.name for p in written] == ["t.json", "t.txt"]
    result = json.loads(written[0].read_text())
    assert result["decoder"] == {"name": "beam", "beam_size": 2, "ctc_weight": 0.5}
    assert written[1].read_text() == result["text"] + "\n"


@pytest.mark.parametrize(
    "settings, key",
    [
        ({"decoder": "viterbi"}, "decoder"),
        ({"beam_size": 0}, "beam_size"),
        ({"beam_size": 65}, "beam_size"),
        ({"beam_size": True}, "beam_size"),
        ({"ctc_weight": 1.5}, "ctc_weight"),
        ({"ctc_weight": "high"}, "ctc_weight"),
    ],
)
def test_bad_decoding_settings_are_refused_naming_them(model, media, tmp_path, settings, key):
    out = tmp_path / "out"
    with pytest.raises(InvalidParamsError, match=f"'{key}'"):
        pipeline.transcribe(model, media["speech"], out / "t.json", out / "t.txt", **settings)
    assert not out.exists()


def _bounds(frames: int, size: int, energy) -> list[tuple[int, int]]:
    """The windows the reader cuts from a clip of `frames` frames with per-frame `energy`."""
    bounds, start = [], 0
    lookup = None if energy is None else lambda lo, hi: energy[lo:hi]
    while frames - start > size:
        stop = inference._cut(start, size, lookup)
        bounds.append((start, stop))
        start = stop
    return [*bounds, (start, frames)]


def test_long_clips_are_cut_at_the_quietest_frame_near_each_window_end():
    energy = np.ones(50)
    energy[17] = 0.0  # silence in the last quarter of the first 20-frame window
    energy[33] = 0.0  # ... and of the second one, which starts at frame 17
    assert _bounds(50, 20, energy) == [(0, 17), (17, 33), (33, 50)]
    assert _bounds(50, 20, None) == [(0, 20), (20, 40), (40, 50)]
    assert _bounds(50, 50, energy) == [(0, 50)]


def test_windows_are_transcribed_while_the_video_is_still_being_read(model, monkeypatch, tmp_path):
    """Streaming: a window is encoded once its frames are cropped, before the rest is decoded,
    and its crops are let go, so memory does not grow with the video's length."""
    frames, _ = moving_clip(80)  # the cropper looks 25 frames ahead, so longer than FACE_FRAMES
    with VideoWriter(tmp_path / "long.mp4", 320, 240) as writer:
        writer.write(frames)
    monkeypatch.setattr(inference, "WINDOW_FRAMES", 8)
    decoded, seen_at_encode = [0], []
    iter_frames = inference.media_io.iter_frames

    def small_chunks(path, **kwargs):
        for chunk in iter_frames(path, **{**kwargs, "chunk_frames": 2}):
            decoded[0] += len(chunk)
            yield chunk

    monkeypatch.setattr(inference.media_io, "iter_frames", small_chunks)
    encode = model.encode
    monkeypatch.setattr(
        model, "encode", lambda *args: seen_at_encode.append(decoded[0]) or encode(*args)
    )
    result = transcribe(model, tmp_path / "long.mp4")
    assert result.frames == 80 and len(seen_at_encode) >= 8
    assert seen_at_encode[0] <= 40  # the first window did not wait for the rest of the video
    assert seen_at_encode == sorted(seen_at_encode)


def test_a_clip_longer_than_a_window_is_transcribed_window_by_window(model, media, monkeypatch):
    monkeypatch.setattr(inference, "WINDOW_FRAMES", 12)
    calls = []
    encode = model.encode
    model.encode = lambda video, audio, lengths: (
        calls.append(lengths.item()) or encode(video, audio, lengths)
    )
    try:
        result = transcribe(model, media["face"], decoder="beam", beam_size=2)
    finally:
        del model.encode
    assert len(calls) == 3 and sum(calls) == FACE_FRAMES and max(calls) <= 12
    assert len(result.reliability["audio"]) == len(result.reliability["video"]) == FACE_FRAMES
    assert set(result.text) <= VOCAB_TEXT


def _runnable_backends() -> list[str]:
    runnable = {"mkl": torch.backends.mkl.is_available(), "aten": True}
    runnable["onednn"] = torch.backends.mkldnn.is_available()
    return [b for b in cpu_linear.BACKENDS if runnable[b] and (b == "aten" or onednn.x86())]


def test_the_optimised_copy_keeps_the_weights_and_leaves_the_model_alone(model):
    fast = optimize_for_inference(model)
    dense = [m for m in fast.modules() if isinstance(m, torch.nn.Linear)]
    assert dense and all(isinstance(m, cpu_linear.Linear) for m in dense)
    assert not any(isinstance(m, cpu_linear.Linear) for m in model.modules())
    assert fast.state_dict().keys() == model.state_dict().keys()
    for name, tensor in model.state_dict().items():
        assert torch.equal(fast.state_dict()[name], tensor), name
    assert not fast.training and not any(p.requires_grad for p in fast.parameters())
    with pytest.raises(TypeError, match="AV-RelScore"):
        optimize_for_inference(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("backend", _runnable_backends())
def test_the_optimised_copy_decodes_as_the_model(
    tiny_model, inputs, backend, one_thread, monkeypatch
):
    monkeypatch.setattr(cpu_linear, "backend", lambda: backend)
    fast = optimize_for_inference(tiny_model)
    lengths = inputs[2]
    with torch.inference_mode():
        encoded, fast_encoded = tiny_model.encode(*inputs), fast.encode(*inputs)
        torch.testing.assert_close(fast_encoded.hidden, encoded.hidden, rtol=1e-4, atol=1e-4)
        log_probs = tiny_model.ctc_log_probs(encoded)
        assert greedy_ctc(fast.ctc_log_probs(encoded), lengths) == greedy_ctc(log_probs, lengths)
    # 2 x 3 hypotheses: rows that the "mkl" backend packs the decoder's weights for
    expected = beam_search(tiny_model, encoded, beam=3, ctc_weight=0.3)
    got = beam_search(fast, encoded, beam=3, ctc_weight=0.3)
    assert [h.tokens for h in got] == [h.tokens for h in expected]
    assert [h.score for h in got] == pytest.approx([h.score for h in expected], abs=1e-4)
