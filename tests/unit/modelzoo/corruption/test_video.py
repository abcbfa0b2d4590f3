"""Visual noise and blur: segment layout (papers' recipes, the public fraction), pixel effects."""

import numpy as np
import pytest

from modelzoo.corruption import video as V


def _covered(spans):
    return sorted(i for s in spans for i in s)


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.5, 0.99, 1.0])
@pytest.mark.parametrize("n_frames", [1, 7, 75, 250])
def test_fraction_spans_cover_the_requested_share_without_overlap(n_frames, fraction):
    for seed in range(10):
        spans = V.fraction_spans(n_frames, fraction, np.random.default_rng(seed))
        covered = _covered(spans)
        assert (
            len(covered) == len(set(covered)) == min(n_frames, max(1, round(fraction * n_frames)))
        )
        assert 1 <= len(spans) <= 3
        assert covered[0] >= 0 and covered[-1] < n_frames


def test_fraction_spans_use_one_to_three_segments_across_seeds():
    counts = {len(V.fraction_spans(100, 0.3, np.random.default_rng(s))) for s in range(40)}
    assert counts == {1, 2, 3}


@pytest.mark.parametrize("recipe, low", [("test", 0.3), ("train", 0.1)])
def test_recipe_single_segment_covers_its_share_of_the_clip(recipe, low):
    for seed in range(60):
        spans = V.recipe_spans(100, np.random.default_rng(seed), recipe)
        if len(spans) == 1:
            assert int(100 * low) <= len(spans[0]) <= 50
        for j, span in enumerate(spans if len(spans) > 1 else []):
            part = 100 // len(spans)
            assert part * j <= span.start and span.stop <= part * (j + 1)


def test_plan_draws_strengths_within_the_papers_ranges():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        for seg in V.plan_segments(50, "gaussian", 0.4, rng):
            assert 0.0 <= seg.strength <= 0.2
        for seg in V.plan_segments(50, "blur", 0.4, rng):
            assert 0.1 <= seg.strength <= 2.0


def _frames(n=6, h=48, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_only_frames_inside_segments_change():
    frames = _frames()
    clean = frames.copy()
    segs = [V.Segment(1, 3, "gaussian", 0.05), V.Segment(4, 5, "blur", 1.5)]
    V.apply_segments(frames, 0, segs, np.random.default_rng(0))
    changed = [not np.array_equal(a, b) for a, b in zip(frames, clean, strict=True)]
    assert changed == [False, True, True, False, True, False]


def test_result_does_not_depend_on_chunk_size():
    segs = [V.Segment(2, 7, "gaussian", 0.1)]
    whole = _frames(10)
    V.apply_segments(whole, 0, segs, np.random.default_rng(3))
    parts, rng = [], np.random.default_rng(3)
    for start in range(0, 10, 3):
        chunk = _frames(10)[start : start + 3].copy()
        parts.append(V.apply_segments(chunk, start, segs, rng))
    assert np.array_equal(whole, np.concatenate(parts))


def test_gaussian_noise_has_the_requested_variance_on_unit_pixels():
    frame = np.full((200, 200, 3), 128, np.uint8)
    noisy = V.gaussian_noise(frame, 0.01, np.random.default_rng(1))
    assert np.var(noisy / 255.0) == pytest.approx(0.01, rel=0.05)


def test_blur_removes_fine_detail_and_keeps_the_mean():
    frame = np.zeros((224, 224, 3), np.uint8)
    frame[::2] = 255  # one-pixel stripes
    blurred = V.gaussian_blur(frame, 2.0)
    assert blurred.std() < 0.1 * frame.std()
    assert blurred.mean() == pytest.approx(frame.mean(), rel=0.02)


def test_blur_scales_with_resolution():
    small = np.zeros((224, 224, 3), np.uint8)
    small[:, 112:] = 255
    big = np.repeat(np.repeat(small, 4, 0), 4, 1)
    edge_small = np.count_nonzero((V.gaussian_blur(small, 1.5)[112, :, 0] % 255) != 0)
    edge_big = np.count_nonzero((V.gaussian_blur(big, 1.5)[448, :, 0] % 255) != 0)
    assert edge_big >= 3 * edge_small
