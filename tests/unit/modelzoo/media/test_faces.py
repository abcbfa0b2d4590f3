"""Face detection, landmarks and tracking on the astronaut photograph and clips made from it."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from modelzoo.errors import UserError
from modelzoo.media import faces
from tests.unit.modelzoo.media.face_media import (
    FACE_BOX,
    astronaut,
    encode,
    map_points,
    moving_clip,
)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return faces.detect_faces(astronaut())[0].landmarks


def blank(frames: np.ndarray, start: int, stop: int) -> np.ndarray:
    out = frames.copy()
    out[start:stop] = 128
    return out


def test_landmark_model_ships_in_face_recognition_models():
    assert faces.landmark_model_path().stat().st_size > 50_000_000


def test_astronaut_face_is_found_with_mouth_landmarks_in_the_lower_face(reference):
    found = faces.detect_faces(astronaut())
    x1, y1, x2, y2 = FACE_BOX
    assert len(found) == 1 and found[0].landmarks.shape == (68, 2)
    assert np.allclose(found[0].box, FACE_BOX, atol=15)
    mouth = reference[faces.MOUTH]
    assert (mouth[:, 0] > x1).all() and (mouth[:, 0] < x2).all()
    assert (mouth[:, 1] > (y1 + y2) / 2).all() and (mouth[:, 1] < y2 + 10).all()
    eyes = reference[36:48]
    assert eyes[:, 1].max() < mouth[:, 1].min()


def test_tracking_follows_a_moving_face_to_about_a_pixel(reference):
    frames, maps = moving_clip()
    track = faces.track_faces(frames)
    truth = np.stack([map_points(reference, m) for m in maps])
    error = np.linalg.norm(track.landmarks - truth, axis=2).mean(axis=1)
    assert track.has_face.all() and not track.gaps
    assert error.mean() < 1.5 and error.max() < 3.0


def test_full_frame_detector_runs_only_to_start_the_track(monkeypatch):
    frames, _ = moving_clip(n=40)
    sizes = []
    detect = faces._detect

    def counting(gray, *args, **kwargs):
        sizes.append(gray.shape)
        return detect(gray, *args, **kwargs)

    monkeypatch.setattr(faces, "_detect", counting)
    faces.track_faces(frames, faces.TrackerConfig(detect_every=5))
    assert sizes.count(frames.shape[1:3]) == 1
    assert len(sizes) <= 1 + 40 // 5


def test_short_gap_without_a_face_is_interpolated():
    frames, _ = moving_clip(n=30)
    track = faces.track_faces(blank(frames, 12, 16))
    assert np.isnan(track.raw[12:16]).all() and not np.isnan(track.raw[11]).any()
    assert track.interpolated[12:16].all() and track.interpolated.sum() == 4
    assert track.has_face.all() and track.gaps == []


def test_long_gap_is_reported_and_left_empty():
    frames, _ = moving_clip(n=40)
    track = faces.track_faces(blank(frames, 12, 32), faces.TrackerConfig(max_gap=5))
    assert track.gaps == [(12, 32)]
    assert not track.has_face[12:32].any()
    assert track.has_face[:12].all() and track.has_face[32:].all()
    assert not np.isnan(track.filled()).any()


def test_frames_where_the_face_left_between_checks_are_dropped():
    frames, _ = moving_clip(n=30)
    # The face leaves at frame 7, between the checks at frames 5 and 10.
    track = faces.track_faces(blank(frames, 7, 30), faces.TrackerConfig(detect_every=5))
    assert track.has_face[:7].all()
    assert not track.has_face[7:].any()


def test_no_face_raises_a_user_error_naming_the_frames():
    grey = np.full((5, 120, 160, 3), 128, dtype=np.uint8)
    with pytest.raises(faces.NoFaceError, match="frames 0-4 of clip.mp4") as caught:
        faces.track_faces(grey, name="clip.mp4")
    assert isinstance(caught.value, UserError)


def two_faces() -> np.ndarray:
    """A 320x560 picture with the astronaut's face large on the left and small on the right."""
    face = astronaut()[40:240, 120:320]
    canvas = np.full((320, 560, 3), 90, dtype=np.uint8)
    canvas[10:310, 0:300] = cv2.resize(face, (300, 300))
    canvas[60:260, 340:540] = face
    return canvas


@pytest.mark.parametrize(
    ("select", "left"),
    [("largest", True), (0, True), (1, False), ((440, 160), False), ((150, 160), True)],
)
def test_select_chooses_which_face_to_follow(select, left):
    track = faces.track_faces(two_faces(), faces.TrackerConfig(select=select))
    assert (track.landmarks[0, :, 0].mean() < 300) == left


def test_central_selection_follows_the_face_nearest_the_middle():
    widened = np.pad(two_faces(), ((0, 0), (0, 400), (0, 0)))  # the small face is now central
    track = faces.track_faces(widened, faces.TrackerConfig(select="central"))
    assert track.landmarks[0, :, 0].mean() > 300


def test_track_accepts_a_stream_of_chunks(reference):
    frames, _ = moving_clip(n=12)
    whole = faces.track_faces(frames)
    streamed = faces.track_faces(iter([frames[:5], frames[5:9], frames[9:]]))
    assert np.array_equal(whole.landmarks, streamed.landmarks)


def test_track_dict_marks_frames_without_a_face():
    frames, _ = moving_clip(n=30)
    track = faces.track_faces(blank(frames, 10, 25), faces.TrackerConfig(max_gap=3))
    data = json.loads(json.dumps(track.to_dict()))
    assert data["frame_size"] == [240, 320] and data["gaps"] == [[10, 25]]
    assert data["frames"][12] == {"index": 12, "face": False, "interpolated": False,
                                  "landmarks": None}  # fmt: skip
    assert len(data["frames"][0]["landmarks"]) == 68


def test_track_video_finds_the_face_in_a_sideways_phone_video(tmp_path, reference):
    frames, maps = moving_clip(n=20)
    track = faces.track_video(encode(tmp_path / "phone.mp4", frames, sideways=True))
    truth = np.stack([map_points(reference, m) for m in maps])
    assert len(track) == 20 and track.frame_size == (240, 320)
    assert np.linalg.norm(track.landmarks - truth, axis=2).mean() < 3.0
