"""Lip occlusion: occluder sets, patch placement at the mouth, segment plans, training recipe."""

import cv2
import numpy as np
import pytest

from modelzoo.corruption import occlusion as O
from modelzoo.errors import UserError


def _face(n=40, eye_distance=50.0, centre=(160.0, 120.0)):
    """(n, 68, 2) landmarks: eyes `eye_distance` apart, mouth points around a centre below."""
    marks = np.zeros((n, 68, 2), np.float32)
    cx, cy = centre
    marks[:, 36:42] = (cx - eye_distance / 2, cy - 40)
    marks[:, 42:48] = (cx + eye_distance / 2, cy - 40)
    angles = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    marks[:, 48:68, 0] = cx + 20 * np.cos(angles)
    marks[:, 48:68, 1] = cy + 30 + 8 * np.sin(angles)
    return marks


def test_default_occluders_are_masked_objects():
    occluders = O.default_occluders()
    assert len(occluders) >= 8 and len({o.name for o in occluders}) == len(occluders)
    for occ in occluders:
        assert occ.image.dtype == np.uint8 and occ.image.shape[:2] == occ.mask.shape
        assert 0.0 <= occ.mask.min() and occ.mask.max() <= 1.0
        assert 0.1 < occ.mask.mean() < 0.99  # an object, not a rectangle or nothing
        assert not occ.image[occ.mask == 0].any()  # ANDed with the mask


def test_user_folder_of_image_and_mask_pairs_loads(tmp_path):
    cv2.imwrite(str(tmp_path / "cup.jpg"), np.full((30, 40, 3), 200, np.uint8))
    cv2.imwrite(str(tmp_path / "cup_mask.png"), np.full((15, 20), 255, np.uint8))
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[5:15, 5:15] = 255
    cv2.imwrite(str(tmp_path / "square.png"), rgba)
    occluders = {o.name: o for o in O.load_occluders(tmp_path)}
    assert set(occluders) == {"cup", "square"}
    assert occluders["cup"].mask.shape == (30, 40)  # mask resized to its image
    assert occluders["square"].mask.sum() == pytest.approx(100, abs=1)


def test_natocc_layout_pairs_images_and_masks_by_name(tmp_path):
    (tmp_path / "object_image_sr").mkdir()
    (tmp_path / "object_mask_x4").mkdir()
    cv2.imwrite(str(tmp_path / "object_image_sr" / "a.jpeg"), np.full((8, 8, 3), 90, np.uint8))
    cv2.imwrite(str(tmp_path / "object_mask_x4" / "a.png"), np.full((32, 32), 255, np.uint8))
    (occ,) = O.load_occluders(tmp_path)
    assert occ.name == "a" and occ.mask.shape == (8, 8)


def test_folder_without_pairs_is_a_user_error(tmp_path):
    cv2.imwrite(str(tmp_path / "lonely.jpg"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(UserError, match="no image \\+ mask pairs"):
        O.load_occluders(tmp_path)


def test_overlay_blends_by_alpha_and_clips_at_the_border():
    frame = np.full((10, 10, 3), 100, np.uint8)
    mask = np.full((4, 4), 0.5, np.float32)
    occ = O.Occluder("grey", np.full((4, 4, 3), 200, np.uint8), mask)
    O.overlay(frame, occ, 8, -2)
    assert (frame[0:2, 8:10] == 150).all()
    assert (frame[2:, :] == 100).all() and (frame[:, :8] == 100).all()


def test_augmented_patch_keeps_mask_in_range_and_image_inside_mask():
    rng = np.random.default_rng(0)
    for occ in O.default_occluders()[:4]:
        out = O.augment(occ, rng)
        assert out.image.shape[:2] == out.mask.shape
        assert 0.0 <= out.mask.min() and out.mask.max() <= 1.0
        assert not out.image[out.mask == 0].any()


@pytest.mark.parametrize("eye_distance", [30.0, 60.0, 120.0])
def test_patches_land_in_the_mouth_neighbourhood_scaled_to_the_face(eye_distance):
    marks = _face(eye_distance=eye_distance, centre=(200.0, 150.0))
    rng = np.random.default_rng(1)
    segments = O.plan_occlusion(marks, 1.0, rng, O.default_occluders())
    frames = np.zeros((40, 360, 400, 3), np.uint8)
    O.apply_occlusion(frames, 0, segments, marks)
    ys, xs = np.nonzero(frames.any(axis=(0, 3)))
    mouth = marks[0, 48:68]
    size = O.TEST_SIZE_PER_EYE_DISTANCE * eye_distance
    offset = O.TEST_OFFSET_PER_EYE_DISTANCE * eye_distance
    assert (
        xs.min() >= mouth[:, 0].min() - offset - 1 and xs.max() <= mouth[:, 0].max() - offset + size
    )
    assert (
        ys.min() >= mouth[:, 1].min() - offset - 1 and ys.max() <= mouth[:, 1].max() - offset + size
    )
    assert all(48 <= s.point < 68 for s in segments)
    assert max(s.patch.mask.shape[0] for s in segments) == round(size)


def test_occluded_frames_match_the_fraction_and_skip_frames_without_a_face():
    marks = _face(n=50)
    marks[45:] = np.nan
    segments = O.plan_occlusion(marks, 1.0, np.random.default_rng(2), O.default_occluders())
    frames = np.zeros((50, 240, 320, 3), np.uint8)
    O.apply_occlusion(frames, 0, segments, marks)
    occluded = frames.any(axis=(1, 2, 3))
    assert occluded[:45].all() and not occluded[45:].any()


def test_same_seed_gives_the_same_occlusion():
    def run(seed):
        frames = np.zeros((20, 240, 320, 3), np.uint8)
        marks = _face(n=20)
        segs = O.plan_occlusion(marks, 0.5, np.random.default_rng(seed), O.default_occluders())
        return O.apply_occlusion(frames, 0, segs, marks)

    assert np.array_equal(run(5), run(5)) and not np.array_equal(run(5), run(6))


def test_training_recipe_leaves_about_a_fifth_of_clips_clean_and_patches_the_mouth():
    clean = 0
    for seed in range(40):
        crops = np.zeros((30, 96, 96), np.uint8)
        marks = _face(n=30, eye_distance=40, centre=(48.0, 30.0))
        out = O.occlude_training_crops(
            crops, marks, np.random.default_rng(seed), O.default_occluders()
        )
        clean += not out.any()
        if out.any():
            ys, xs = np.nonzero(out.any(axis=0))
            assert xs.max() <= marks[0, 48:68, 0].max() - 20 + 45  # offset >= 20, size <= 45
            assert ys.max() <= marks[0, 48:68, 1].max() - 20 + 45
    assert 2 <= clean <= 16
