"""Paste-back follows the lower face's landmarks, matches colours and leaves no seam."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from modelzoo.media.crops import face_boxes, face_crop
from modelzoo.media.faces import MOUTH, track_faces
from modelzoo.media.pasteback import lower_face_mask, match_colours, paste_back

from .face_media import astronaut


@pytest.fixture(scope="module")
def face():
    """The astronaut photograph, its 68 landmarks and its generation box."""
    photo = astronaut().copy()
    landmarks = track_faces(photo).landmarks[0]
    box = face_boxes(landmarks[None], photo.shape[:2])[0]
    return photo, landmarks, box


def generated_crop(photo, box, landmarks, *, cast=True):
    """What a generator makes of the box: the face with a colour cast and a mouth opened onto
    dark inside and white teeth, at 128 px."""
    crop = face_crop(photo, box).astype(np.float32)
    if cast:
        crop = crop * [1.12, 0.9, 0.95] + [6, 0, 14]
    x1, y1, x2, y2 = box
    scale = np.array([128 / (x2 - x1), 128 / (y2 - y1)])
    mouth = (landmarks[MOUTH].mean(axis=0) - (x1, y1)) * scale
    centre = tuple(int(v) for v in mouth)
    cv2.ellipse(crop, centre, (14, 8), 0, 0, 360, (40, 10, 15), -1)
    cv2.rectangle(crop, (centre[0] - 8, centre[1] - 7), (centre[0] + 8, centre[1] - 3),
                  (235, 235, 230), -1)  # fmt: skip
    return np.clip(crop, 0, 255).astype(np.uint8), (landmarks[MOUTH].mean(axis=0))


def gradient_across(image, mask):
    """Mean |image gradient| along the mask's normal over the band where it blends (0 < m < 1)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    mx, my = cv2.Sobel(mask, cv2.CV_32F, 1, 0), cv2.Sobel(mask, cv2.CV_32F, 0, 1)
    norm = np.hypot(mx, my)
    band = (mask > 0.02) & (mask < 0.98) & (norm > 1e-6)
    across = np.abs(gx * mx + gy * my) / np.maximum(norm, 1e-6)
    return float(across[band].mean())


def box_region(image, box):
    x1, y1, x2, y2 = (int(v) for v in box)
    return image[y1:y2, x1:x2]


def test_mask_follows_the_lower_face_and_is_zero_on_the_box_edge(face):
    photo, landmarks, box = face
    mask = lower_face_mask(landmarks, box)
    x1, y1, x2, y2 = box
    assert mask.shape == (y2 - y1, x2 - x1) and mask.dtype == np.float32
    assert 0 <= mask.min() and mask.max() <= 1
    assert (
        not mask[0].any() and not mask[-1].any() and not mask[:, 0].any() and not mask[:, -1].any()
    )
    outline_top = landmarks[[2, 14, 31, 32, 33, 34, 35], 1].min() - y1
    assert not mask[: int(outline_top)].any()  # eyes and nose keep their pixels
    mx, my = (landmarks[MOUTH].mean(axis=0) - (x1, y1)).astype(int)
    assert mask[my, mx] == 1.0
    chin = landmarks[8] - (x1, y1)
    assert mask[int(chin[1]) + 2, int(chin[0])] == 0  # below the jaw line: the original
    assert mask[int(chin[1]) - 25, int(chin[0])] == 1.0  # well inside it: the generated face
    ramp = mask[int(chin[1]) - 25 : int(chin[1]) + 1, int(chin[0])]
    assert (np.diff(ramp) <= 1e-6).all() and 0 < ramp[-8] < 1  # a smooth, monotone feather


def test_no_seam_the_gradient_across_the_boundary_stays_within_20_percent(face):
    photo, landmarks, box = face
    generated, _ = generated_crop(photo, box, landmarks)
    mask = lower_face_mask(landmarks, box)
    out = paste_back(photo, generated, box, mask)
    before = gradient_across(box_region(photo, box), mask)
    after = gradient_across(box_region(out, box), mask)
    assert after == pytest.approx(before, rel=0.2)


def test_the_crop_edge_and_everything_outside_the_mask_keep_their_pixels(face):
    photo, landmarks, box = face
    generated, _ = generated_crop(photo, box, landmarks)
    mask = lower_face_mask(landmarks, box)
    out = paste_back(photo, generated, box, mask)
    x1, y1, x2, y2 = box
    outside = np.ones(photo.shape[:2], bool)
    outside[y1:y2, x1:x2] = mask == 0
    assert (out[outside] == photo[outside]).all()
    assert (out[y1:y2, x1:x2][mask == 1] != photo[y1:y2, x1:x2][mask == 1]).any()


def test_the_mouth_interior_the_model_draws_is_kept(face):
    photo, landmarks, box = face
    generated, mouth = generated_crop(photo, box, landmarks)
    out = paste_back(photo, generated, box, lower_face_mask(landmarks, box))
    x, y = mouth.astype(int)
    grey = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(int)
    original = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(int)
    assert grey[y + 3, x] < original[y + 3, x] - 40  # the dark inside of the open mouth
    teeth = grey[y - 6 : y - 3, x - 3 : x + 3].mean()
    assert teeth > grey[y + 3, x] + 100  # white teeth above it


def test_colour_matching_removes_a_cast_and_keeps_a_flat_face_flat():
    rng = np.random.default_rng(0)
    original = rng.integers(90, 170, (40, 40, 3), dtype=np.uint8)
    cast = np.clip(original * [1.2, 0.8, 1.0] + [0, 0, 25], 0, 255).astype(np.uint8)
    everywhere = np.ones((40, 40), bool)
    matched = match_colours(cast, original, everywhere).astype(int)
    cast_error = np.abs(cast.astype(int) - original).mean()
    assert np.abs(matched - original).mean() < 0.3 * cast_error
    flat = np.full((40, 40, 3), 120, np.uint8)
    assert np.ptp(match_colours(flat, original, everywhere), axis=(0, 1)).max() <= 1


def test_paste_back_writes_in_place_when_asked_and_checks_its_inputs(face):
    photo, landmarks, box = face
    generated, _ = generated_crop(photo, box, landmarks)
    mask = lower_face_mask(landmarks, box)
    frame = photo.copy()
    result = paste_back(frame, generated, box, mask, out=frame)
    assert result is frame and (frame == paste_back(photo, generated, box, mask)).all()
    with pytest.raises(ValueError, match="not inside"):
        paste_back(photo, generated, (400, 0, 600, 100), mask)
    with pytest.raises(ValueError, match="does not fit"):
        paste_back(photo, generated, box, mask[1:])
