"""Model inputs cut from tracked faces: AV-RelScore mouth ROIs and Wav2Lip-style talking-face crops.

Mouth ROIs follow ms-dot-k/AVSR `src/data/landmark_transform.py` (after mpc001's VSR preprocessing,
Apache-2.0): landmarks averaged over +-6 frames and re-centred on the frame's own landmarks, a
similarity transform (`cv2.estimateAffinePartial2D`, LMEDS) of the stable points onto a canonical
face in a 256x256 frame, then a 96x96 grey patch centred on the mouth; the models read the 88x88
centre. The reference cuts the patch out of the warped 256x256 image and so loses pixels near its
border; here the patch is warped directly, with black outside the frame, so every crop is 96x96.
The reference interpolates over every missing frame; here only short gaps are (see
`faces.TrackerConfig.max_gap`) and frames in a long gap without a face get a black patch.

Talking-face crops follow Wav2Lip's `inference.py` (Rudrabha/Wav2Lip), which SyncTalkFace keeps: a
face box padded by [0, 10, 0, 0] pixels (top, bottom, left, right), clipped to the frame, averaged
over the next 5 boxes, resized to 128x128 (SyncTalkFace, CALS) or 96x96 (Wav2Lip); the generator
sees the lower half masked. Wav2Lip takes the box from S3FD; here it comes from the 68 landmarks
(see `face_box`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from modelzoo.media import io as media_io
from modelzoo.media.faces import (  # noqa: F401 (the canonical face is part of this API too)
    CANONICAL_FACE,
    CANONICAL_SIZE,
    MOUTH,
    STABLE_POINTS,
    FaceTrack,
    FaceTracker,
    TrackerConfig,
    canonical_transform,
    moving_average,
    split_frames,
)

MOUTH_SIZE = 96
MODEL_SIZE = 88
FACE_PADS = (0, 10, 0, 0)  # top, bottom, left, right, in pixels of the input frame


@dataclass(frozen=True)
class MouthCrop:
    """A grey mouth patch, the 68 landmarks in its pixels and the (2, 3) frame-to-patch map."""

    image: np.ndarray
    landmarks: np.ndarray
    matrix: np.ndarray


def smooth_for_mouth(landmarks: np.ndarray, window_margin: int = 12) -> np.ndarray:
    """AV-RelScore's smoothing: mean over +-window_margin/2 frames, moved to the frame's centre.

    The window shrinks symmetrically near the ends. Re-centring keeps the frame's own position,
    so the average steadies the face's scale, rotation and shape without lagging its motion.
    Frames without a face (NaN) stay NaN and the average does not reach across them.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    smoothed = moving_average(landmarks, window_margin + 1)
    smoothed += landmarks.mean(axis=1, keepdims=True) - smoothed.mean(axis=1, keepdims=True)
    return smoothed.astype(np.float32)


def mouth_crop(frame: np.ndarray, landmarks: np.ndarray, size: int = MOUTH_SIZE) -> MouthCrop:
    """Grey size x size patch of an RGB (or grey) frame, centred on the canonical face's mouth.

    NaN landmarks (no face in the frame) give a black patch with NaN landmarks and map.
    """
    if np.isnan(landmarks).any():
        nothing = np.full((2, 3), np.nan)
        return MouthCrop(np.zeros((size, size), np.uint8), np.full_like(landmarks, np.nan), nothing)
    to_canonical = canonical_transform(landmarks)
    canonical = np.asarray(landmarks, np.float64) @ to_canonical[:, :2].T + to_canonical[:, 2]
    # The reference rounds the patch corner to whole pixels of the 256x256 image; so does this.
    corner = np.round(canonical[MOUTH].mean(axis=0) - size // 2)
    matrix = to_canonical.copy()
    matrix[:, 2] -= corner
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    image = cv2.warpAffine(gray, matrix, (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip
    return MouthCrop(image, (canonical - corner).astype(np.float32), matrix)


def mouth_crops(
    frames: np.ndarray | Iterable[np.ndarray],
    landmarks: np.ndarray,
    size: int = MOUTH_SIZE,
    window_margin: int = 12,
) -> Iterator[MouthCrop]:
    """Mouth patches for RGB frames and their (T, 68, 2) landmarks (NaN: no face), in order."""
    smoothed = smooth_for_mouth(landmarks, window_margin)
    index = -1
    for index, frame in enumerate(split_frames(frames)):
        if index >= len(smoothed):
            raise ValueError(f"more frames than landmarks ({len(smoothed)})")
        yield mouth_crop(frame, smoothed[index], size)
    if index + 1 != len(smoothed):
        raise ValueError(f"{index + 1} frames for {len(smoothed)} landmark sets")


class MouthCropper:
    """Tracking and mouth cropping in one pass over a stream, with a bounded look-ahead.

    `push(frame)` returns the patches that have become final (in frame order) and `finish()` the
    rest with the face track. The patches equal `mouth_crops(frames, track.landmarks)`; only about
    `settle_delay + window_margin / 2` (25 by default) grey frames are held meanwhile, so a long
    video is decoded once and never held whole. Frames in a long gap get black patches.
    """

    def __init__(
        self,
        config: TrackerConfig | None = None,
        *,
        size: int = MOUTH_SIZE,
        window_margin: int = 12,
        name: str = "the input",
    ):
        self.tracker = FaceTracker(config or TrackerConfig(), name)
        self.size, self.window_margin = size, window_margin
        self._waiting: deque[np.ndarray] = deque()  # grey frames not cropped yet, oldest first
        self._cropped = 0

    def push(self, frame: np.ndarray) -> list[MouthCrop]:
        self.tracker.update(frame)
        self._waiting.append(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
        half = self.window_margin // 2
        return self._crop_until(len(self.tracker) - self.tracker.settle_delay - half)

    def finish(self) -> tuple[list[MouthCrop], FaceTrack]:
        """The remaining patches and the whole track; NoFaceError when no frame had a face."""
        return self.flush(), self.tracker.result()

    def flush(self) -> list[MouthCrop]:
        """The remaining patches at the end of the stream, without building the whole track
        (whose arrays grow with the video's length), black where there was no face."""
        return self._crop_until(len(self.tracker))

    def _crop_until(self, stop: int) -> list[MouthCrop]:
        start = self._cropped
        if stop <= start:
            return []
        half = self.window_margin // 2
        low = max(0, start - half)
        landmarks = self.tracker.settled(low, min(len(self.tracker), stop + half))
        smoothed = smooth_for_mouth(landmarks, self.window_margin)[start - low : stop - low]
        self._cropped = stop
        return [mouth_crop(self._waiting.popleft(), points, self.size) for points in smoothed]


def mouth_crops_video(
    path: str | Path, config: TrackerConfig | None = None, *, chunk_frames: int | None = None
) -> tuple[np.ndarray, FaceTrack]:
    """(T, 96, 96) uint8 mouth patches of a video file at 25 fps, and the face track.

    One streamed decode (see `MouthCropper`); frames inside a long gap without a face get black
    patches, and the track's `has_face` and `gaps` say which frames those are.
    """
    path = Path(path)
    cropper = MouthCropper(config, name=path.name)
    patches = []
    for chunk in media_io.iter_frames(path, chunk_frames=chunk_frames):
        for frame in chunk:
            patches += [crop.image for crop in cropper.push(frame)]
    rest, track = cropper.finish()
    patches += [crop.image for crop in rest]
    return np.stack(patches), track


def center_crop(images: np.ndarray, size: int = MODEL_SIZE) -> np.ndarray:
    """The size x size centre of (..., H, W) images: what AV-RelScore reads at test time."""
    height, width = images.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return images[..., top : top + size, left : left + size]


def face_box(landmarks: np.ndarray) -> np.ndarray:
    """An S3FD-like face box (x1, y1, x2, y2) from 68 landmarks.

    S3FD boxes, which Wav2Lip was trained on, span the jaw and reach from the forehead to about
    the chin; the landmarks stop at the brows, so the box is raised by a quarter of the
    brow-to-chin height.
    """
    x1, x2 = landmarks[:, 0].min(), landmarks[:, 0].max()
    brow, chin = landmarks[17:27, 1].min(), landmarks[:, 1].max()
    return np.array([x1, brow - 0.25 * (chin - brow), x2, chin], dtype=np.float32)


def face_boxes(
    landmarks: np.ndarray,
    frame_size: tuple[int, int],
    pads: tuple[int, int, int, int] = FACE_PADS,
    smooth: int = 5,
) -> np.ndarray:
    """(T, 4) int boxes (x1, y1, x2, y2): padded, clipped to the (height, width) frame, smoothed.

    Smoothing copies Wav2Lip's `get_smoothened_boxes`: each box becomes the mean of itself and the
    next smooth - 1 boxes (the last `smooth` boxes near the end), truncated to ints, updated in
    place.
    """
    if np.isnan(landmarks).any():
        raise ValueError("landmarks contain NaN: fill gaps first (FaceTrack.filled())")
    height, width = frame_size
    top, bottom, left, right = pads
    boxes = np.empty((len(landmarks), 4), dtype=np.int64)
    for i, points in enumerate(landmarks):
        x1, y1, x2, y2 = face_box(points)
        boxes[i] = (
            max(0, x1 - left),
            max(0, y1 - top),
            min(width, x2 + right),
            min(height, y2 + bottom),
        )
    if smooth > 1:
        for i in range(len(boxes)):
            window = (
                boxes[len(boxes) - smooth :] if i + smooth > len(boxes) else boxes[i : i + smooth]
            )
            boxes[i] = np.mean(window, axis=0)
    return boxes


def face_crop(frame: np.ndarray, box: np.ndarray, size: int = 128) -> np.ndarray:
    """(size, size, 3) RGB crop of box (x1, y1, x2, y2), resized (bilinear) as Wav2Lip does."""
    x1, y1, x2, y2 = (int(v) for v in box)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"empty face box {(x1, y1, x2, y2)}")
    return cv2.resize(frame[y1:y2, x1:x2], (size, size), interpolation=cv2.INTER_LINEAR)


def face_crops(
    frames: np.ndarray | Iterable[np.ndarray], boxes: np.ndarray, size: int = 128
) -> Iterator[np.ndarray]:
    """Face crops of a stream of RGB frames, one per frame and box."""
    for frame, box in zip(split_frames(frames), boxes, strict=True):
        yield face_crop(frame, box, size)


def face_crops_video(
    path: str | Path,
    track: FaceTrack,
    size: int = 128,
    *,
    pads: tuple[int, int, int, int] = FACE_PADS,
    chunk_frames: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(frame, box, crop) for each frame of a video file, streamed, for generation and paste-back.

    `track` comes from `faces.track_video(path)`; boxes are Wav2Lip's padded, smoothed boxes of its
    gap-bridged landmarks (`track.has_face` says where there was no face to redraw).
    """
    boxes = face_boxes(track.filled(), track.frame_size, pads)
    frames = split_frames(media_io.iter_frames(path, chunk_frames=chunk_frames))
    for frame, box in zip(frames, boxes, strict=True):
        yield frame, box, face_crop(frame, box, size)


def mask_lower_half(crops: np.ndarray) -> np.ndarray:
    """A copy of (..., H, W, C) crops with the lower half black: the generator's masked input."""
    masked = crops.copy()
    masked[..., crops.shape[-3] // 2 :, :, :] = 0
    return masked
