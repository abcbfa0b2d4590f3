"""Blend a generated face crop back into its full-resolution frame over the lower face only.

Wav2Lip's `inference.py` resizes the generated crop to the face box and overwrites the whole box,
which leaves a visible seam and repaints the eyes. The generators only redraw the lower half (their
input has it masked), so here only the lower part of the box changes, through a mask whose edges
ramp smoothly from 0 to 1; everything else in the frame keeps its original pixels.
"""

from __future__ import annotations

import cv2
import numpy as np


def lower_face_mask(
    height: int, width: int, start: float = 0.5, feather: float = 0.1
) -> np.ndarray:
    """(height, width) float32 weights: 0 above `start` of the height, rising to 1 below it.

    The top, left, right and bottom edges ramp over `feather` of the box's size with a smoothstep,
    so the generated mouth fades into the original jaw and cheeks. Rows above `start * height` are
    exactly 0.
    """

    def ramp(distance: np.ndarray, length: float) -> np.ndarray:
        t = np.clip(distance / max(length, 1e-6), 0.0, 1.0)
        return t * t * (3 - 2 * t)

    rows = np.arange(height, dtype=np.float32) + 0.5
    cols = np.arange(width, dtype=np.float32) + 0.5
    top = start * height
    vertical = ramp(rows - top, feather * height) * ramp(height - rows, feather * height)
    horizontal = ramp(cols, feather * width) * ramp(width - cols, feather * width)
    return (vertical[:, None] * horizontal[None, :]).astype(np.float32)


def paste_back(
    frame: np.ndarray,
    face: np.ndarray,
    box: tuple[int, int, int, int] | np.ndarray,
    *,
    start: float = 0.5,
    feather: float = 0.1,
) -> np.ndarray:
    """A copy of the (H, W, 3) frame with `face` blended into box (x1, y1, x2, y2), lower face only.

    `face` is the generated (S, S, 3) crop of that box (see `crops.face_crops`), resized to the
    box, and the frame keeps its size and dtype.
    """
    x1, y1, x2, y2 = (int(v) for v in box)
    height, width = frame.shape[:2]
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise ValueError(f"box {(x1, y1, x2, y2)} is not inside a {width}x{height} frame")
    resized = cv2.resize(face, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)
    alpha = lower_face_mask(y2 - y1, x2 - x1, start, feather)[:, :, None]
    out = frame.copy()
    region = frame[y1:y2, x1:x2].astype(np.float32)
    blended = alpha * resized.astype(np.float32) + (1.0 - alpha) * region
    out[y1:y2, x1:x2] = np.clip(np.rint(blended), 0, 255).astype(frame.dtype)
    return out
