"""AV-RelScore's training corruption of a sample's mouth crops and waveform, off unless asked for.

Recipe: papers.md §4.5, after ms-dot-k/AVSR@2a287f5 `src/data/dataset.py`, `visual_corruption.py`
and `transforms.py::AddNoise` (CC BY-NC 4.0; this is an independent implementation on top of
`modelzoo.corruption`). A training clip stays visually clean with p 0.2; otherwise it gets object
occlusion (`occlude_training_crops`) and then 1-3 segments (`recipe_spans(..., "train")`) of which
each is Gaussian noise with p 0.3, Gaussian blur with p 0.3 or left alone. Every training clip gets
babble at an SNR drawn from {-5, 0, 5, 10, 15} dB and, with p 0.5, four dropouts of the mixture
(`add_training_noise`); `p_clean_audio` can leave a share of clips' audio clean, which the recipe
does not. The occluders default to `default_occluders()` and the noise to the bundled
espeak-ng babble; a folder of occluders or a noise recording of one's own replaces them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from modelzoo.corruption.audio import TRAIN_SNRS_DB, add_training_noise
from modelzoo.corruption.babble import babble_recording, load_noise_file
from modelzoo.corruption.occlusion import (
    MOUTH_POINTS,
    Occluder,
    default_occluders,
    load_occluders,
    occlude_training_crops,
)
from modelzoo.corruption.video import gaussian_noise, recipe_spans, sample_strength

SAMPLE_RATE = 16000
# The reference blurs the 96x96 crops with torchvision's fixed 7x7 kernel; `video.gaussian_blur`
# scales its kernel to a raw frame's size instead, which would shrink it to 3x3 on a crop.
CROP_BLUR_KERNEL = (7, 7)


@dataclass(frozen=True)
class TrainingCorruption:
    """The training recipe's corruption; pass one to a training dataset to switch it on."""

    occluders: Path | None = None  # a folder for `load_occluders`; None: `default_occluders()`
    noise_file: Path | None = None  # any audio or video file; None: the espeak-ng babble
    p_clean_video: float = 0.2
    p_noise: float = 0.3  # per visual segment
    p_blur: float = 0.3  # per visual segment
    snrs_db: tuple[float, ...] = TRAIN_SNRS_DB
    p_audio_dropout: float = 0.5
    p_clean_audio: float = 0.0  # the recipe's: every clip noisy

    def __post_init__(self):
        # load both now, so that a wrong path stops the run before its first step
        self.occluder_set()
        self.noise_bank()

    def occluder_set(self) -> tuple[Occluder, ...]:
        return _occluder_set(self.occluders)

    def noise_bank(self) -> np.ndarray:
        return _noise_bank(self.noise_file)

    def corrupt_video(
        self, crops: np.ndarray, landmarks: np.ndarray | None, rng: np.random.Generator
    ) -> np.ndarray:
        """A corrupted copy of (T, 96, 96) uint8 mouth crops (or `crops` itself when the draw
        leaves the clip clean). `landmarks` (T, 68, 2) in crop pixels, NaN for frames without a
        face, place the occluders; without them the clip gets noise and blur only."""
        if len(crops) == 0 or rng.random() < self.p_clean_video:
            return crops
        crops = crops.copy()
        if landmarks is not None:
            occlude_training_crops(
                crops, _fill_faceless(landmarks), rng, self.occluder_set(), p_clean=0.0
            )
        for span in recipe_spans(len(crops), rng, "train"):
            draw = rng.random()
            if draw < self.p_noise:
                var = sample_strength("gaussian", rng)
                for index in span:
                    crops[index] = gaussian_noise(crops[index], var, rng)
            elif draw < self.p_noise + self.p_blur:
                sigma = sample_strength("blur", rng)
                crops[span.start : span.stop] = [
                    cv2.GaussianBlur(crop, CROP_BLUR_KERNEL, sigma)
                    for crop in crops[span.start : span.stop]
                ]
        return crops

    def corrupt_audio(self, wav: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Mono 16 kHz `wav` with bank noise at one of `snrs_db` (dropouts with p_audio_dropout),
        or `wav` itself with p_clean_audio; a silent clip is returned as it is, since no SNR can be
        set on silence."""
        if not np.any(wav) or (self.p_clean_audio and rng.random() < self.p_clean_audio):
            return wav
        return add_training_noise(
            wav, self.noise_bank(), rng, snrs_db=self.snrs_db, dropout_p=self.p_audio_dropout
        )


@dataclass(frozen=True)
class ModalityDropout:
    """Shares of training clips that lose a whole stream, which the paper's recipe does not do.

    A demo visitor brings a still photo (one mouth crop held for the whole clip), a video whose
    face is lost (blank crops), a muted clip or one of pure noise. Without such clips a model
    trained on speech whose mouth is a clean function of the phones reads lips only and never
    learns to listen; with them it has to learn which stream carries the words. At most one
    stream is dropped per clip, after the training corruption.
    """

    # a still photo is what demo visitors bring most; at 0.15 a model still read a photo at 0.95 WER
    p_static_video: float = 0.25
    p_blank_video: float = 0.05
    p_silent_audio: float = 0.1
    p_noise_audio: float = 0.05

    def __post_init__(self):
        shares = (self.p_static_video, self.p_blank_video, self.p_silent_audio, self.p_noise_audio)
        if min(shares) < 0 or sum(shares) > 1:
            raise ValueError("modality dropout shares must be >= 0 and sum to at most 1")

    def apply(
        self, crops: np.ndarray, wav: np.ndarray, noise_bank: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """(crops, wav) with at most one stream replaced; the inputs are not modified."""
        draw = rng.random()
        if (draw := draw - self.p_static_video) < 0:
            held = crops[int(rng.integers(len(crops)))]
            return np.broadcast_to(held, crops.shape).copy(), wav
        if (draw := draw - self.p_blank_video) < 0:
            return np.zeros_like(crops), wav
        if (draw := draw - self.p_silent_audio) < 0:
            return crops, np.zeros_like(wav)
        if draw - self.p_noise_audio < 0:
            start = int(rng.integers(max(1, len(noise_bank) - len(wav))))
            noise = noise_bank[start : start + len(wav)]
            return crops, np.pad(noise, (0, len(wav) - len(noise))).astype(wav.dtype)
        return crops, wav


@functools.lru_cache(maxsize=4)
def _occluder_set(folder: Path | None) -> tuple[Occluder, ...]:
    return tuple(load_occluders(folder)) if folder is not None else default_occluders()


@functools.lru_cache(maxsize=4)
def _noise_bank(noise_file: Path | None) -> np.ndarray:
    if noise_file is None:
        return babble_recording(SAMPLE_RATE)
    return load_noise_file(noise_file, SAMPLE_RATE)


def _fill_faceless(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks with frames without a face set to the clip's mean mouth-centred shape: those
    frames are blanked later anyway, and the occluder needs a point to anchor on."""
    missing = np.isnan(landmarks[:, MOUTH_POINTS[0], 0])
    if not missing.any():
        return landmarks
    filled = landmarks.copy()
    filled[missing] = np.nanmean(landmarks, axis=0)
    return filled
