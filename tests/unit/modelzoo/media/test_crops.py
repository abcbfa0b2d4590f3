"""Mouth ROI geometry (AV-RelScore) and talking-face crops (Wav2Lip) from landmarks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from modelzoo.media import crops, faces
from modelzoo.media.pasteback import lower_face_mask, paste_back
from tests.unit.modelzoo.media.face_media import astronaut, encode, map_points, moving_clip


def similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    angle = np.deg2rad(angle_deg)
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, shift[0]], [s, c, shift[1]]])


def test_canonical_face_has_the_official_geometry():
    face = crops.CANONICAL_FACE
    eyes = np.linalg.norm(face[42:48].mean(axis=0) - face[36:42].mean(axis=0))
    corners = np.linalg.norm(face[54] - face[48])
    assert eyes == pytest.approx(54.3, abs=0.1)
    assert corners == pytest.approx(45.0, abs=0.1)
    assert face[crops.MOUTH].mean(axis=0) == pytest.approx([129.3, 157.8], abs=0.1)


def test_stable_points_are_zero_based_eye_and_mouth_corners():
    landmarks = faces.detect_faces(astronaut())[0].landmarks
    mouth = landmarks[faces.MOUTH]
    # 0-based 48 and 54 are the mouth's outermost points, 36 and 45 the eyes' outer corners.
    assert landmarks[48, 0] == mouth[:, 0].min() and landmarks[54, 0] == mouth[:, 0].max()
    assert landmarks[36, 0] == landmarks[36:48, 0].min()
    assert landmarks[45, 0] == landmarks[36:48, 0].max()
    assert set(crops.STABLE_POINTS) == {28, 33, 36, 39, 42, 45, 48, 54}


def test_mouth_crop_maps_stable_points_onto_the_canonical_face():
    frame_from_canonical = similarity(12.0, 1.7, (40.0, -90.0))
    landmarks = map_points(crops.CANONICAL_FACE.astype(np.float64), frame_from_canonical)
    frame = np.zeros((480, 640, 3), dtype=np.uint8)
    centre = landmarks[crops.MOUTH].mean(axis=0)
    cv2.circle(frame, tuple(int(round(v)) for v in centre), 3, (255, 255, 255), -1)
    crop = crops.mouth_crop(frame, landmarks)
    corner = np.round(np.array([129.3, 157.8]) - 48)
    stable = list(crops.STABLE_POINTS)
    assert crop.image.shape == (96, 96) and crop.image.dtype == np.uint8
    assert crop.landmarks[stable] == pytest.approx(crops.CANONICAL_FACE[stable] - corner, abs=0.05)
    bright = np.argwhere(crop.image > 128).mean(axis=0)  # (row, col) of the dot
    assert bright == pytest.approx([48, 48], abs=1.0)


def test_mouth_crop_of_the_photograph_holds_the_whole_mouth_in_the_model_window():
    landmarks = faces.detect_faces(astronaut())[0].landmarks
    crop = crops.mouth_crop(astronaut(), landmarks)
    mouth = crop.landmarks[crops.MOUTH]
    assert (mouth > 4).all() and (mouth < 92).all()
    assert mouth.mean(axis=0) == pytest.approx([48, 48], abs=0.6)
    # The patch really is the mouth: lips are darker than the skin around them.
    assert crop.image[40:56, 30:66].mean() != pytest.approx(crop.image.mean(), abs=1)


def test_mouth_crops_stream_one_patch_per_frame():
    landmarks = faces.detect_faces(astronaut())[0].landmarks
    frames = np.stack([astronaut()] * 4)
    patches = list(crops.mouth_crops(iter([frames[:3], frames[3:]]), np.stack([landmarks] * 4)))
    assert len(patches) == 4 and all(p.image.shape == (96, 96) for p in patches)


def test_mouth_crops_refuse_a_frame_count_that_differs_from_the_landmarks():
    landmarks = np.stack([crops.CANONICAL_FACE] * 3)
    with pytest.raises(ValueError, match="2 frames for 3"):
        list(crops.mouth_crops(np.zeros((2, 256, 256, 3), np.uint8), landmarks))


def test_center_crop_takes_the_middle_88_pixels():
    images = np.arange(2 * 96 * 96).reshape(2, 96, 96)
    middle = crops.center_crop(images)
    assert middle.shape == (2, 88, 88) and middle[0, 0, 0] == images[0, 4, 4]


def test_mouth_smoothing_keeps_each_frames_position_and_steadies_its_shape():
    rng = np.random.default_rng(0)
    base = crops.CANONICAL_FACE.astype(np.float64)
    shifts = np.cumsum(rng.normal(0, 3, (30, 1, 2)), axis=0)
    jitter = rng.normal(0, 1.0, (30, 68, 2))
    landmarks = base + shifts + jitter
    smoothed = crops.smooth_for_mouth(landmarks)

    def shape_error(points):
        return np.abs(points - points.mean(axis=1, keepdims=True) - (base - base.mean(0))).mean()

    assert smoothed.mean(axis=1) == pytest.approx(landmarks.mean(axis=1), abs=1e-3)
    assert shape_error(smoothed) < 0.5 * shape_error(landmarks)


def test_face_box_is_padded_ten_pixels_down_and_clipped():
    landmarks = faces.detect_faces(astronaut())[0].landmarks
    x1, y1, x2, y2 = crops.face_box(landmarks)
    box = crops.face_boxes(landmarks[None], (512, 512), smooth=1)[0]
    assert tuple(box) == (int(x1), int(y1), int(x2), int(y2 + 10))
    clipped = crops.face_boxes(landmarks[None] + [0, 330], (512, 512), smooth=1)[0]
    assert clipped[3] == 512


def test_face_boxes_average_each_box_with_the_next_four():
    landmarks = np.stack([crops.CANONICAL_FACE + [10 * t, 0] for t in range(8)])
    raw = crops.face_boxes(landmarks, (1000, 1000), smooth=1)
    smooth = crops.face_boxes(landmarks, (1000, 1000), smooth=5)
    assert np.array_equal(smooth[0], np.mean(raw[0:5], axis=0).astype(int))
    assert np.array_equal(smooth[2], np.mean(raw[2:7], axis=0).astype(int))
    assert smooth[7, 0] < raw[7, 0]  # the tail averages over the last five boxes


@pytest.mark.parametrize("size", [128, 96])
def test_face_crops_are_square_and_the_mask_blanks_the_lower_half(size):
    landmarks = faces.detect_faces(astronaut())[0].landmarks
    boxes = crops.face_boxes(landmarks[None], (512, 512))
    face = next(crops.face_crops(astronaut(), boxes, size=size))
    masked = crops.mask_lower_half(face[None])[0]
    assert face.shape == (size, size, 3)
    assert (masked[size // 2 :] == 0).all()
    assert np.array_equal(masked[: size // 2], face[: size // 2])


def test_mouth_crops_video_covers_every_frame_across_a_stretch_without_a_face(tmp_path):
    frames, _ = moving_clip(n=30)
    frames[10:25] = 128
    patches, track = crops.mouth_crops_video(encode(tmp_path / "gap.mp4", frames))
    assert patches.shape == (30, 96, 96) and patches.dtype == np.uint8
    assert track.gaps == [(10, 25)]
    assert track.has_face.sum() == 15
    assert (patches[10:25] == 0).all() and patches[:10].std(axis=(1, 2)).min() > 5


def test_one_pass_cropper_gives_the_same_patches_as_track_then_crop():
    frames, _ = moving_clip(n=60)
    frames[20:23] = 128  # a short gap, interpolated
    frames[35:52] = 128  # a long gap, reported
    cropper = crops.MouthCropper()
    streamed, held = [], 0
    for frame in frames:
        streamed += cropper.push(frame)
        held = max(held, len(cropper._waiting))
    rest, track = cropper.finish()
    streamed += rest
    whole = list(crops.mouth_crops(frames, track.landmarks))
    assert track.gaps == [(35, 52)] and len(streamed) == 60
    assert held <= 26
    for one, two in zip(streamed, whole, strict=True):
        assert np.abs(one.image.astype(int) - two.image).max() <= 1
        assert np.allclose(one.landmarks, two.landmarks, atol=1e-3, equal_nan=True)


def test_mouth_smoothing_does_not_reach_across_frames_without_a_face():
    landmarks = np.stack([crops.CANONICAL_FACE + [5 * t, 0] for t in range(10)]).astype(float)
    landmarks[4] = np.nan
    smoothed = crops.smooth_for_mouth(landmarks)
    assert np.isnan(smoothed[4]).all()
    assert smoothed[3] == pytest.approx(landmarks[3], abs=1e-4)  # last of its run: no neighbours


def test_face_crops_video_streams_frames_boxes_and_crops_that_paste_back(tmp_path):
    frames, _ = moving_clip(n=12)
    path = encode(tmp_path / "talk.mp4", frames)
    track = faces.track_video(path)
    items = list(crops.face_crops_video(path, track, size=96))
    assert len(items) == 12
    frame, box, crop = items[5]
    assert frame.shape == (240, 320, 3) and crop.shape == (96, 96, 3)
    restored = paste_back(frame, crop, box, lower_face_mask(track.landmarks[5], box))
    assert restored.shape == frame.shape
    assert np.abs(restored.astype(int) - frame).mean() < 2  # its own face goes back in place
