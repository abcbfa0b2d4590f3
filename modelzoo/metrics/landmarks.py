"""Landmark distance (LMD) on the mouth, as SyncTalkFace and CALS report it.

Protocol (after ATVGnet's dlib-based LMD, which both papers cite): the 20 mouth landmarks 48-67
(0-based iBUG) of each frame, fitted by the project's tracker (`modelzoo.media.faces`: dlib HOG
+ 68-point regression trees, the raw per-frame fits without the track's smoothing) on the real and
the generated frame; each set is centred on its own mean, which removes head position; LMD is the
Euclidean distance between corresponding points averaged over points and frames (`reduce="sum"`
sums over the 20 points instead, the other variant in the literature). Units are pixels of the
video frames. Frames where either video has no fitted face are left out and counted.
"""

from __future__ import annotations

import numpy as np

from modelzoo.media.faces import MOUTH

PROTOCOL = {
    "points": "mouth 48-67 (0-based iBUG)",
    "tracker": "dlib HOG + 68-point landmarks, raw per-frame fits (modelzoo.media.faces)",
    "centring": "per frame, each set on its own mean",
    "units": "pixels of the video frames",
}


def mouth_distance(
    real: np.ndarray, generated: np.ndarray, reduce: str = "mean"
) -> tuple[float | None, int]:
    """(LMD, frames used) of (T, 68, 2) landmark tracks (NaN where no face); None when no frame
    has a face in both. The tracks are compared over their common length."""
    if reduce not in ("mean", "sum"):
        raise ValueError(f"reduce must be 'mean' or 'sum', not {reduce!r}")
    count = min(len(real), len(generated))
    a = real[:count, MOUTH].astype(np.float64)  # (T, 20, 2)
    b = generated[:count, MOUTH].astype(np.float64)
    both = ~(np.isnan(a).any(axis=(1, 2)) | np.isnan(b).any(axis=(1, 2)))
    if not both.any():
        return None, 0
    a, b = a[both], b[both]
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    per_point = np.linalg.norm(a - b, axis=-1)  # (T, 20)
    per_frame = per_point.mean(axis=1) if reduce == "mean" else per_point.sum(axis=1)
    return float(per_frame.mean()), int(both.sum())
