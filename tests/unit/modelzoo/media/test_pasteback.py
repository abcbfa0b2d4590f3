"""Paste-back keeps the frame's resolution and changes only the lower face."""

from __future__ import annotations

import numpy as np
import pytest

from modelzoo.media.pasteback import lower_face_mask, paste_back

BOX = (400, 200, 656, 456)  # x1, y1, x2, y2: a 256x256 face in a 1280x720 frame


@pytest.fixture
def frame() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 200, (720, 1280, 3), dtype=np.uint8)


def test_paste_back_keeps_size_and_dtype(frame):
    out = paste_back(frame, np.full((128, 128, 3), 255, np.uint8), BOX)
    assert out.shape == frame.shape and out.dtype == frame.dtype


def test_paste_back_changes_only_the_lower_half_of_the_box(frame):
    out = paste_back(frame, np.full((128, 128, 3), 255, np.uint8), BOX)
    changed = np.argwhere((out != frame).any(axis=2))
    x1, y1, x2, y2 = BOX
    assert len(changed)
    assert changed[:, 0].min() >= y1 + (y2 - y1) // 2 and changed[:, 0].max() < y2
    assert changed[:, 1].min() >= x1 and changed[:, 1].max() < x2


def test_paste_back_shows_the_generated_face_in_the_lower_centre(frame):
    face = np.zeros((128, 128, 3), np.uint8)
    face[:, :, 1] = 250
    out = paste_back(frame, face, BOX)
    assert (out[200 + 190, 528] == [0, 250, 0]).all()


def test_mask_is_zero_above_the_middle_and_one_in_the_lower_centre():
    mask = lower_face_mask(100, 80)
    assert mask.shape == (100, 80) and (mask[:50] == 0).all()
    assert mask[75, 40] == 1.0
    assert 0 < mask[52, 40] < 1 and 0 < mask[75, 1] < 1  # feathered edges
    assert (np.diff(mask[50:75, 40]) >= 0).all()


def test_paste_back_refuses_a_box_outside_the_frame(frame):
    with pytest.raises(ValueError, match="not inside"):
        paste_back(frame, np.zeros((128, 128, 3), np.uint8), (1200, 0, 1300, 100))
