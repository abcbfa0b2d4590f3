"""Full-reference image quality (PSNR, SSIM) over the face crop and the mouth region, and a
no-reference sharpness of the mouth.

Protocol. Regions come from the real clip's face track (`modelzoo.media.faces`) and are cut at the
same pixels from both videos, frame by frame: the face is the Wav2Lip face box
(`modelzoo.media.crops.face_boxes`) resized to 128x128, the mouth the box around landmarks 48-67
widened by MOUTH_MARGIN of its size on each side, at its pixel size in the frame. PSNR and SSIM
are scikit-image's (`peak_signal_noise_ratio`, `structural_similarity` with its defaults: 7x7
uniform window, RGB channels averaged, data range 255), averaged over frames; identical frames
give PSNR inf, which is capped at PSNR_CAP dB so that means stay finite.

Sharpness is the variance of the Laplacian (Pech-Pacheco et al., ICPR 2000) of the grey mouth
region resized to SHARPNESS_SIZE pixels square, averaged over frames: a no-reference focus
measure that falls as the mouth and teeth blur. It is cheaper and simpler than CPBD, and like CPBD
it is only comparable between videos of similar content and resolution.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from modelzoo.media.faces import MOUTH

MOUTH_MARGIN = 0.25
PSNR_CAP = 100.0
SHARPNESS_SIZE = 64
PROTOCOL = {
    "library": "scikit-image (SSIM: 7x7 uniform window, RGB, data range 255)",
    "face": "Wav2Lip face box of the real clip's track, 128x128",
    "mouth": f"box around landmarks 48-67 of the real clip, +{MOUTH_MARGIN:g} each side",
    "psnr_cap_db": PSNR_CAP,
    "sharpness": f"variance of the Laplacian, grey mouth region at {SHARPNESS_SIZE}px",
}


def mouth_box(landmarks: np.ndarray, frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) integer box around the mouth points of (68, 2) landmarks, clipped."""
    mouth = landmarks[MOUTH]
    lo, hi = mouth.min(axis=0), mouth.max(axis=0)
    pad = MOUTH_MARGIN * (hi - lo)
    height, width = frame_size
    x1, y1 = np.floor(lo - pad).astype(int)
    x2, y2 = np.ceil(hi + pad).astype(int)
    return max(0, x1), max(0, y1), min(width, x2), min(height, y2)


def psnr(real: np.ndarray, generated: np.ndarray) -> float:
    """PSNR in dB of two uint8 images, capped at PSNR_CAP."""
    if np.array_equal(real, generated):
        return PSNR_CAP
    value = peak_signal_noise_ratio(real, generated, data_range=255)
    return float(min(value, PSNR_CAP))


def ssim(real: np.ndarray, generated: np.ndarray) -> float:
    """SSIM of two uint8 RGB images (scikit-image's defaults); regions under 7 px give NaN."""
    if min(real.shape[:2]) < 7:
        return float("nan")
    return float(structural_similarity(real, generated, channel_axis=-1, data_range=255))


def sharpness(region: np.ndarray) -> float:
    """Variance of the Laplacian of an RGB region, grey and resized to SHARPNESS_SIZE."""
    grey = cv2.cvtColor(region, cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey.astype(np.float64), cv2.CV_64F).var())


class QualityAccumulator:
    """Per-frame PSNR/SSIM of face and mouth regions and the mouth's sharpness, averaged."""

    def __init__(self):
        self.values: dict[str, list[float]] = {
            "psnr": [], "ssim": [], "psnr_mouth": [], "ssim_mouth": [],
        }  # fmt: skip

    def add(self, real_face, generated_face, real_mouth, generated_mouth) -> None:
        self.values["psnr"].append(psnr(real_face, generated_face))
        self.values["ssim"].append(ssim(real_face, generated_face))
        self.values["psnr_mouth"].append(psnr(real_mouth, generated_mouth))
        self.values["ssim_mouth"].append(ssim(real_mouth, generated_mouth))

    def means(self) -> dict[str, float | None]:
        out = {}
        for name, values in self.values.items():
            finite = [v for v in values if np.isfinite(v)]
            out[name] = float(np.mean(finite)) if finite else None
        return out
