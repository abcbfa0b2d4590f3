"""Visual corruption over frame segments: Gaussian pixel noise and Gaussian blur, as in AV-RelScore.

Recipe after AV-RelScore (arXiv 2303.08536, papers.md §4.5 (b)): segments and strengths of the
test script joannahong/AV-RelScore@17b9f02 `Visual_perturb.py::occlude_sequence_noise` and of the
training code ms-dot-k/AVSR@2a287f5 `src/data/visual_corruption.py` (both CC BY-NC 4.0; this is
an independent implementation). Noise is skimage-style `random_noise(mode="gaussian")` on [0, 1]
pixels with variance U(0, 0.2); blur is a Gaussian with sigma U(0.1, 2.0) and a 7-tap kernel on
the papers' 224-px frames, scaled here with the frame's shorter side so that it looks the same at
any resolution. Frames arrive in chunks (first index + array), so no clip is held whole in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage

REFERENCE_SIDE = 224  # LRS3's raw frame size, where the papers' blur kernel was set
MAX_NOISE_VAR = 0.2
BLUR_SIGMA_RANGE = (0.1, 2.0)
BLUR_RADIUS = 3  # the papers' 7x7 kernel


@dataclass(frozen=True)
class Segment:
    """Frames [start, stop) get `kind` ("gaussian" or "blur") at `strength` (variance or sigma)."""

    start: int
    stop: int
    kind: str
    strength: float


def recipe_spans(n_frames: int, rng: np.random.Generator, recipe: str = "test") -> list[range]:
    """The papers' segment layout: 1-3 segments; one covers 10-50% (train) or 30-50% (test) of
    the clip; with 2-3, the clip is cut in parts and each part gets 30-50% of the whole clip's
    length, or half a part when that does not fit (the reference code's fallback)."""
    freq = int(rng.integers(1, 4))
    if freq == 1:
        low = 0.1 if recipe == "train" else 0.3
        length = int(rng.integers(int(n_frames * low), int(n_frames * 0.5) + 1))
        start = int(rng.integers(0, n_frames - length + 1))
        return [range(start, start + length)]
    part = n_frames // freq
    spans = []
    for j in range(freq):
        length = int(rng.integers(int(n_frames * 0.3), int(n_frames * 0.5) + 1))
        if length > part:
            spans.append(range(part * j, part * j + part // 2))
            continue
        start = int(rng.integers(part * j, part * j + part - length + 1))
        spans.append(range(start, start + length))
    return spans


def fraction_spans(n_frames: int, fraction: float, rng: np.random.Generator) -> list[range]:
    """Segments covering round(fraction * n_frames) frames (at least 1), laid out like the papers:
    1-3 segments, each inside its own equal part of the clip."""
    total = min(n_frames, max(1, round(fraction * n_frames)))
    freq = int(rng.integers(1, 4))
    part = n_frames // freq
    if total >= n_frames or freq == 1 or -(-total // freq) > part:
        start = int(rng.integers(0, n_frames - total + 1))
        return [range(start, start + total)]
    spans = []
    for j in range(freq):
        length = total // freq + (1 if j < total % freq else 0)
        start = int(rng.integers(part * j, part * j + part - length + 1))
        spans.append(range(start, start + length))
    return spans


def sample_strength(kind: str, rng: np.random.Generator) -> float:
    """Per-segment strength as in the papers: noise variance U(0, 0.2), blur sigma U(0.1, 2.0)."""
    if kind == "gaussian":
        return float(rng.uniform(0.0, MAX_NOISE_VAR))
    if kind == "blur":
        return float(rng.uniform(*BLUR_SIGMA_RANGE))
    raise ValueError(f"unknown visual corruption {kind!r}")


def plan_segments(
    n_frames: int, kind: str, fraction: float, rng: np.random.Generator
) -> list[Segment]:
    """The corrupted segments of a clip of `n_frames` for the public params (kind, fraction)."""
    if n_frames <= 0:
        return []
    spans = fraction_spans(n_frames, fraction, rng)
    return [Segment(s.start, s.stop, kind, sample_strength(kind, rng)) for s in spans]


def gaussian_noise(frame: np.ndarray, var: float, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise of variance `var` on [0, 1] pixels, clipped; uint8 in and out."""
    noise = rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(np.sqrt(var) * 255.0)
    return np.clip(frame.astype(np.float32) + noise, 0, 255).round().astype(np.uint8)


def gaussian_blur(frame: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur over height and width, sigma and kernel scaled from the 224-px reference."""
    scale = min(frame.shape[0], frame.shape[1]) / REFERENCE_SIDE
    sigma_px = sigma * scale
    radius = max(1, round(BLUR_RADIUS * scale))
    sigmas = (sigma_px, sigma_px) + (0,) * (frame.ndim - 2)
    out = scipy.ndimage.gaussian_filter(
        frame.astype(np.float32), sigmas, mode="reflect", truncate=radius / sigma_px
    )
    return np.clip(out, 0, 255).round().astype(np.uint8)


def apply_segments(
    frames: np.ndarray, first_index: int, segments: list[Segment], rng: np.random.Generator
) -> np.ndarray:
    """Corrupt, in place, the frames of a chunk (T, H, W, C) that fall in `segments`.

    `first_index` is the clip index of frames[0]. Noise is drawn frame by frame in clip order,
    so the result does not depend on the chunk size.
    """
    for offset in range(frames.shape[0]):
        index = first_index + offset
        for seg in segments:
            if seg.start <= index < seg.stop:
                if seg.kind == "gaussian":
                    frames[offset] = gaussian_noise(frames[offset], seg.strength, rng)
                else:
                    frames[offset] = gaussian_blur(frames[offset], seg.strength)
                break
    return frames
