"""LMD on hand-worked landmark sets."""

import numpy as np
import pytest

from modelzoo.metrics.landmarks import mouth_distance


def faces(frames=2, seed=0):
    return np.random.default_rng(seed).uniform(50, 150, (frames, 68, 2)).astype(np.float32)


def test_moving_the_whole_mouth_costs_nothing_after_centring():
    real = faces()
    moved = real.copy()
    moved[:, 48:68] += np.array([7.0, -3.0], np.float32)
    assert mouth_distance(real, moved) == (pytest.approx(0.0, abs=1e-5), 2)


def test_one_point_moved_by_five_pixels():
    # Point 60 moves by (3, 4): the mouth mean moves by (0.15, 0.2). After centring, point 60 is
    # off by (2.85, 3.8) = 4.75 px and each of the other 19 by (0.15, 0.2) = 0.25 px:
    # mean (4.75 + 19 * 0.25) / 20 = 0.475 per frame; the sum variant 9.5.
    real = faces(frames=1)
    moved = real.copy()
    moved[0, 60] += np.array([3.0, 4.0], np.float32)
    assert mouth_distance(real, moved)[0] == pytest.approx(0.475, abs=1e-4)
    assert mouth_distance(real, moved, reduce="sum")[0] == pytest.approx(9.5, abs=1e-3)


def test_points_outside_the_mouth_are_ignored():
    real = faces()
    moved = real.copy()
    moved[:, :48] += 20.0
    assert mouth_distance(real, moved)[0] == pytest.approx(0.0, abs=1e-5)


def test_frames_without_a_face_in_either_track_are_left_out():
    real, generated = faces(frames=3), faces(frames=3, seed=1)
    generated[1] = np.nan
    both, used = mouth_distance(real, generated)
    first_and_last = mouth_distance(real[[0, 2]], generated[[0, 2]])[0]
    assert used == 2 and both == pytest.approx(first_and_last)
    assert mouth_distance(real, np.full_like(real, np.nan)) == (None, 0)
