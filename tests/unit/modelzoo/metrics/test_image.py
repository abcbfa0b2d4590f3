"""PSNR and SSIM over the face and mouth regions against scikit-image; mouth sharpness."""

import cv2
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from modelzoo.media.crops import face_boxes, face_crop
from modelzoo.media.faces import FaceTrack
from modelzoo.metrics import image
from modelzoo.metrics.clip import ClipMedia, reference_metrics

FRAMES, SIZE = 3, 160


def canonical_track(frames: int) -> FaceTrack:
    from modelzoo.media.crops import CANONICAL_FACE

    points = np.repeat(CANONICAL_FACE[None] * (SIZE / 256), frames, axis=0).astype(np.float32)
    return FaceTrack(points, points.copy(), np.zeros(frames, bool), [], (SIZE, SIZE))


def textured(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (FRAMES, SIZE // 8, SIZE // 8, 3), dtype=np.uint8)
    return np.stack([cv2.resize(f, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC) for f in base])


def test_psnr_and_ssim_equal_scikit_image_on_a_pair_of_images():
    real, noisy = textured(0)[0], textured(0)[0].copy()
    noisy[::3] = 255 - noisy[::3]
    assert image.psnr(real, noisy) == pytest.approx(
        peak_signal_noise_ratio(real, noisy, data_range=255)
    )
    assert image.ssim(real, noisy) == pytest.approx(
        structural_similarity(real, noisy, channel_axis=-1, data_range=255)
    )


def test_region_scores_average_scikit_image_over_the_reference_face_and_mouth():
    real_frames = textured(1)
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 12, real_frames.shape)
    fake_frames = np.clip(real_frames + noise, 0, 255).astype(np.uint8)
    track = canonical_track(FRAMES)
    real = ClipMedia(real_frames, None, track)
    fake = ClipMedia(fake_frames, None, None)
    scores = reference_metrics(fake, real)

    boxes = face_boxes(track.filled(), (SIZE, SIZE))
    faces = [(face_crop(r, b, 128), face_crop(f, b, 128)) for r, f, b in
             zip(real_frames, fake_frames, boxes, strict=True)]  # fmt: skip
    x1, y1, x2, y2 = image.mouth_box(track.landmarks[0], (SIZE, SIZE))
    mouths = [
        (r[y1:y2, x1:x2], f[y1:y2, x1:x2]) for r, f in zip(real_frames, fake_frames, strict=True)
    ]

    def psnr(pairs):
        return np.mean([peak_signal_noise_ratio(a, b, data_range=255) for a, b in pairs])

    def ssim(pairs):
        return np.mean(
            [structural_similarity(a, b, channel_axis=-1, data_range=255) for a, b in pairs]
        )

    assert scores["psnr"] == pytest.approx(psnr(faces))
    assert scores["ssim"] == pytest.approx(ssim(faces))
    assert scores["psnr_mouth"] == pytest.approx(psnr(mouths))
    assert scores["ssim_mouth"] == pytest.approx(ssim(mouths))
    assert scores["lmd"] is None  # the noisy copy has no track of its own


def test_identical_video_scores_the_ceiling():
    frames = textured(3)
    clip = ClipMedia(frames, None, canonical_track(FRAMES))
    scores = reference_metrics(clip, clip)
    assert scores["psnr"] == image.PSNR_CAP and scores["ssim"] == pytest.approx(1.0)
    assert scores["lmd"] == 0.0 and scores["lmd_frames"] == FRAMES


def test_mouth_box_surrounds_the_mouth_points():
    points = canonical_track(1).landmarks[0]
    x1, y1, x2, y2 = image.mouth_box(points, (SIZE, SIZE))
    mouth = points[48:68]
    assert x1 < mouth[:, 0].min() and mouth[:, 0].max() < x2
    assert y1 < mouth[:, 1].min() and mouth[:, 1].max() < y2


def test_blurring_the_mouth_lowers_its_sharpness():
    sharp = textured(4)[0, 40:100, 40:100]
    blurred = cv2.GaussianBlur(sharp, (0, 0), 2.0)
    assert image.sharpness(blurred) < 0.5 * image.sharpness(sharp)
