"""Blend a generated face crop back into its full-resolution frame over the lower face only.

Wav2Lip's `inference.py` resizes the generated crop to the face box and overwrites the whole box,
which leaves a visible seam at the box's edge, repaints the eyes and keeps any colour cast of the
generator. Here the generated pixels go in only inside the lower face as the 68 landmarks outline
it (the jaw line, points 2-14, closed under the nose, points 31-35), through a mask that ramps
smoothly from 0 on that outline to 1 a feather's width inside it; the mask is 0 on the box's own
edge, so the crop's border never shows. Before blending, the generated face's colours are matched
to the frame's: per Lab channel, the generated pixels are shifted and scaled so that, on the band
where the two are blended, their mean and spread equal the original's. That removes a colour cast
without flattening what the model drew inside the mouth (teeth, tongue), which is scaled by the
same per-channel map. Everything outside the mask keeps its original pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

# 0-based indices of the 68 landmarks: the jaw from below the right ear round the chin to below the
# left one, then the base of the nose from the left nostril wing back to the right (image order).
JAW = tuple(range(2, 15))
NOSE_BASE = (35, 34, 33, 32, 31)
LOWER_FACE = JAW + NOSE_BASE
MIN_BAND_PIXELS = 16  # fewer blended pixels than this: too few to estimate colours from
GAIN_LIMITS = (0.5, 2.0)  # a flat generated band must not blow up the original's texture


def lower_face_mask(
    landmarks: np.ndarray, box: tuple[int, int, int, int] | np.ndarray, feather: float = 0.1
) -> np.ndarray:
    """(box height, box width) float32 weights for the box (x1, y1, x2, y2) of a frame.

    1 inside the lower-face outline of the (68, 2) landmarks (frame pixels), falling with a
    smoothstep to 0 over `feather` of the jaw's width towards the outline and towards the box's
    edge; exactly 0 outside the outline and on the box's border.
    """
    x1, y1, x2, y2 = (int(v) for v in box)
    height, width = y2 - y1, x2 - x1
    outline = np.asarray(landmarks, np.float32)[list(LOWER_FACE)] - (x1 - 1, y1 - 1)
    inside = np.zeros((height + 2, width + 2), np.uint8)  # a ring of 0 around the box
    cv2.fillPoly(inside, [np.round(outline).astype(np.int32)], 1)
    inside[[0, -1], :] = 0
    inside[:, [0, -1]] = 0
    distance = cv2.distanceTransform(inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    jaw_width = np.ptp(outline[: len(JAW), 0])
    t = np.clip(distance / max(feather * jaw_width, 1.0), 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def match_colours(generated: np.ndarray, original: np.ndarray, where: np.ndarray) -> np.ndarray:
    """`generated` (H, W, 3) uint8 RGB with each Lab channel mapped by a gain and an offset so
    that its mean and standard deviation over the `where` pixels equal `original`'s there.

    The gain stays within GAIN_LIMITS; with fewer than MIN_BAND_PIXELS pixels, a copy unchanged.
    """
    if np.count_nonzero(where) < MIN_BAND_PIXELS:
        return generated.copy()
    generated_lab = cv2.cvtColor(generated.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    original_lab = cv2.cvtColor(original.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    ours, theirs = generated_lab[where], original_lab[where]  # (n, 3) each
    gain = theirs.std(axis=0) / np.maximum(ours.std(axis=0), 1e-3)
    gain = np.clip(gain, *GAIN_LIMITS)
    matched = (generated_lab - ours.mean(axis=0)) * gain + theirs.mean(axis=0)
    rgb = cv2.cvtColor(matched.astype(np.float32), cv2.COLOR_Lab2RGB) * 255
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def paste_back(
    frame: np.ndarray,
    face: np.ndarray,
    box: tuple[int, int, int, int] | np.ndarray,
    mask: np.ndarray,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The (H, W, 3) frame with `face` blended into box (x1, y1, x2, y2) by `mask`: written
    into `out` (which may be `frame` itself) or into a copy of the frame.

    `face` is the generated (S, S, 3) crop of that box (see `crops.face_crop`), resized to the
    box; `mask` is the box's blending weights (`lower_face_mask`). The frame keeps its size and
    dtype and every pixel where the mask is 0.
    """
    x1, y1, x2, y2 = (int(v) for v in box)
    height, width = frame.shape[:2]
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise ValueError(f"box {(x1, y1, x2, y2)} is not inside a {width}x{height} frame")
    if mask.shape != (y2 - y1, x2 - x1):
        raise ValueError(f"mask {mask.shape} does not fit the {x2 - x1}x{y2 - y1} box")
    region = frame[y1:y2, x1:x2]
    resized = cv2.resize(face, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)
    matched = match_colours(resized, region, (mask > 0) & (mask < 1))
    alpha = mask[:, :, None]
    blended = alpha * matched.astype(np.float32) + (1.0 - alpha) * region.astype(np.float32)
    if out is None:
        out = frame.copy()
    elif out is not frame:
        out[...] = frame
    out[y1:y2, x1:x2] = np.clip(np.rint(blended), 0, 255).astype(frame.dtype)
    return out
