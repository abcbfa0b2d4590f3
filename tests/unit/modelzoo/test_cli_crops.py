"""`python -m modelzoo crops`: crops as MP4 and arrays plus per-frame landmarks in input pixels."""

import json

import numpy as np
import pytest

from modelzoo.__main__ import main
from modelzoo.media import faces
from modelzoo.media.io import iter_frames
from modelzoo.media.probe import probe
from tests.unit.modelzoo.media.face_media import (
    MOUTH_BOX,
    astronaut,
    encode,
    map_points,
    moving_clip,
)

from .synthetic_media import ffmpeg, speech, video

FRAMES = 40
GAP = slice(10, 30)  # 20 frames without a face: longer than the tracker's 12-frame max_gap


@pytest.fixture(scope="module")
def clip():
    frames, maps = moving_clip(FRAMES)
    return frames, maps


@pytest.fixture(scope="module")
def truth(clip):
    """(T, 68, 2) landmarks each frame should have: the photograph's, mapped by the frame's map."""
    reference = faces.detect_faces(astronaut())[0].landmarks
    return np.stack([map_points(reference, m) for m in clip[1]])


@pytest.fixture(scope="module")
def plain(clip, tmp_path_factory):
    return encode(tmp_path_factory.mktemp("crops") / "plain.mp4", clip[0])


def _run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _landmarks(out):
    return json.loads((out / "landmarks.json").read_text())


def _video_frames(path):
    return sum(len(chunk) for chunk in iter_frames(path))


def test_mouth_crops_are_96_pixel_grey_arrays_and_a_25_fps_video(plain, tmp_path, capsys):
    code, stdout, _ = _run(capsys, "crops", plain, "--kind", "mouth", "--out", tmp_path)
    assert code == 0
    assert json.loads(stdout)["frames"] == FRAMES
    arrays = np.load(tmp_path / "crops.npy")
    assert arrays.shape == (FRAMES, 96, 96) and arrays.dtype == np.uint8
    info = probe(tmp_path / "crops.mp4")
    assert (info.width, info.height, info.fps) == (96, 96, 25.0)
    assert _video_frames(tmp_path / "crops.mp4") == FRAMES


def test_face_crops_take_the_size_option_and_are_rgb(plain, tmp_path, capsys):
    code, _, _ = _run(capsys, "crops", plain, "--kind", "face", "--size", 96, "--out", tmp_path)
    assert code == 0
    arrays = np.load(tmp_path / "crops.npy")
    assert arrays.shape == (FRAMES, 96, 96, 3)
    # The face is in colour: the channels differ, unlike a grey mouth patch.
    assert np.abs(arrays[..., 0].astype(int) - arrays[..., 2]).mean() > 5
    assert _video_frames(tmp_path / "crops.mp4") == FRAMES


def test_landmarks_json_holds_each_frames_68_points_in_input_pixels(plain, truth, tmp_path, capsys):
    _run(capsys, "crops", plain, "--kind", "mouth", "--out", tmp_path)
    report = _landmarks(tmp_path)
    assert report["frame_size"] == [240, 320] and report["gaps"] == []
    points = np.array([frame["landmarks"] for frame in report["frames"]])
    assert points.shape == (FRAMES, 68, 2)
    assert np.linalg.norm(points - truth, axis=2).mean() < 4.0


def test_landmarks_of_a_sideways_phone_video_are_in_upright_pixels(clip, truth, tmp_path, capsys):
    sideways = encode(tmp_path / "phone.mp4", clip[0], sideways=True)
    code, _, _ = _run(capsys, "crops", sideways, "--kind", "face", "--out", tmp_path / "out")
    assert code == 0
    report = _landmarks(tmp_path / "out")
    assert report["frame_size"] == [240, 320]
    points = np.array([frame["landmarks"] for frame in report["frames"]])
    assert np.linalg.norm(points - truth, axis=2).mean() < 4.0


def test_frames_without_a_face_are_null_and_listed_as_a_gap(clip, tmp_path, capsys):
    frames = clip[0].copy()
    frames[GAP] = 127
    path = encode(tmp_path / "gap.mp4", frames)
    code, stdout, _ = _run(capsys, "crops", path, "--kind", "mouth", "--out", tmp_path / "out")
    assert code == 0
    report = _landmarks(tmp_path / "out")
    missing = [f["index"] for f in report["frames"] if f["landmarks"] is None]
    assert (
        set(range(GAP.start + 2, GAP.stop - 2))
        <= set(missing)
        <= set(range(GAP.start - 2, GAP.stop + 2))
    )
    assert all(not f["face"] for f in report["frames"] if f["landmarks"] is None)
    assert len(report["gaps"]) == 1 and json.loads(stdout)["gaps"] == report["gaps"]
    arrays = np.load(tmp_path / "out" / "crops.npy")
    assert len(arrays) == FRAMES and arrays[missing].max() == 0  # black patches in the gap


def test_crops_video_keeps_the_input_audio(tmp_path, clip, capsys):
    silent = encode(tmp_path / "v.mp4", clip[0])
    talking = tmp_path / "talking.mp4"
    ffmpeg("-i", str(silent), "-i", str(speech(tmp_path / "s.wav")), "-c:v", "copy", "-c:a", "aac",
           "-shortest", str(talking))  # fmt: skip
    code, _, _ = _run(capsys, "crops", talking, "--kind", "mouth", "--out", tmp_path / "out")
    assert code == 0
    assert probe(tmp_path / "out" / "crops.mp4").has_audio


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--size", "95"], "--size: 95 must be an even number"),
        (["--size", "8"], "--size: 8 must be"),
    ],
)
def test_a_bad_size_exits_2_with_one_line(plain, tmp_path, capsys, extra, words):
    code, _, stderr = _run(capsys, "crops", plain, "--kind", "face", "--out", tmp_path, *extra)
    assert code == 2 and words in stderr and len(stderr.strip().splitlines()) == 1


def test_mouth_crops_of_the_astronaut_still_clip_put_the_mouth_on_her_mouth(tmp_path, capsys):
    """The issue's clip: the photograph as an H.264 video, where dlib also boxes the mission patch
    (x 118-211, y 348-446), larger than her face."""
    still = encode(tmp_path / "astronaut.mp4", np.repeat(astronaut()[None], 25, axis=0))
    code, _, _ = _run(capsys, "crops", still, "--kind", "mouth", "--out", tmp_path / "out")
    frames = _landmarks(tmp_path / "out")["frames"]
    mouths = np.array([frame["landmarks"] for frame in frames])[:, 48:68]  # (25, 20, 2)
    x1, y1, x2, y2 = MOUTH_BOX
    assert code == 0 and len(frames) == 25
    assert ((mouths[..., 0] >= x1) & (mouths[..., 0] <= x2)).all()
    assert ((mouths[..., 1] >= y1) & (mouths[..., 1] <= y2)).all()


def test_a_video_without_a_face_exits_2_naming_the_file(tmp_path, capsys):
    path = video(tmp_path / "noface.mp4", size="160x120", seconds=0.4)
    code, _, stderr = _run(capsys, "crops", path, "--kind", "mouth", "--out", tmp_path / "out")
    assert code == 2 and "no face found" in stderr and "noface.mp4" in stderr


def test_a_missing_file_exits_2(tmp_path, capsys):
    code, _, stderr = _run(
        capsys, "crops", tmp_path / "nope.mp4", "--kind", "face", "--out", tmp_path
    )
    assert code == 2 and "nope.mp4: file not found" in stderr


def test_probe_json_lists_each_stream(tmp_path, capsys):
    path = video(tmp_path / "av.mp4", size="64x48", seconds=0.5, audio=speech(tmp_path / "s.wav"))
    code, stdout, _ = _run(capsys, "probe", path)
    assert code == 0
    streams = json.loads(stdout)["streams"]
    kinds = {s["type"]: s for s in streams}
    assert set(kinds) == {"video", "audio"}
    assert (kinds["video"]["width"], kinds["video"]["height"], kinds["video"]["fps"]) == (
        64,
        48,
        25,
    )
    assert kinds["audio"]["sample_rate"] > 0 and kinds["audio"]["codec"] == "aac"
