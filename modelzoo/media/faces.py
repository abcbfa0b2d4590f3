"""Face detection, 68-point iBUG landmarks and one smoothed face track per video.

Detection is dlib's HOG frontal-face detector and the landmarks are dlib's 68-point regression-tree
model (`shape_predictor_68_face_landmarks.dat`, shipped in the `face-recognition-models` wheel; dlib
from the `dlib-bin` wheel), so nothing is downloaded at run time. dlib is Boost-licensed; the
68-point model was trained on iBUG 300-W, whose terms exclude commercial use. The 68-point layout is
the one the three papers use (LMD in SyncTalkFace/CALS via ATVGnet's dlib code, AV-RelScore's mouth
crops via mpc001's landmarks).

Landmark indices in this package are 0-based (mouth = 48..67), as in the reference code.

Tracking: the full detector runs only to find a face; on later frames the landmarks are re-fitted in
a box derived from the previous frame's landmarks, and every `detect_every` frames a cheap detector
pass on the face's neighbourhood confirms the face is still there and re-anchors the box. Short gaps
are interpolated, long ones are reported, and a light moving average removes the predictor's
frame-to-frame jitter.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import dlib
import numpy as np

from modelzoo.errors import UserError
from modelzoo.media import io as media_io

N_LANDMARKS = 68
MOUTH = slice(48, 68)  # 0-based: iBUG points 49-68 in the 1-based numbering of the 300-W papers
LANDMARK_MODEL = "shape_predictor_68_face_landmarks.dat"


# Indices into the 68 landmarks, 0-based exactly as the reference code indexes its arrays: nose
# bridge and nose base (28, 33), eye corners (36, 39, 42, 45) and mouth corners (48, 54). In the
# 1-based numbering of the iBUG 300-W figures these are points 29, 34, 37, 40, 43, 46, 49 and 55.
STABLE_POINTS = (28, 33, 36, 39, 42, 45, 48, 54)
CANONICAL_SIZE = 256

# Our own canonical face in the 256x256 frame (x, y), 0-based landmark order. It was made from
# dlib's fit on skimage's astronaut photograph: levelled, mirrored and averaged for symmetry,
# scaled so the eye centres are 54.3 px apart, mouth narrowed to corners 45.0 px apart and
# flattened to a closed mouth, and moved so the mouth centre (mean of 48-67) is at (129.3, 157.8):
# the official mean face's geometry. The mouth crops are cut in this frame and the tracker checks
# faces in it.
CANONICAL_FACE = np.array(
    [
        [71.7, 108.2], [72.9, 123.3], [74.8, 137.1], [77.3, 152.1], [81.7, 165.9], [89.9, 178.5],
        [101.7, 188.5], [114.9, 196.6], [129.3, 198.5], [143.7, 196.6], [156.9, 188.5],
        [168.7, 178.5], [176.9, 165.9], [181.3, 152.1], [183.8, 137.1], [185.7, 123.3],
        [186.9, 108.2], [80.4, 95.1], [86.7, 88.3], [96.7, 86.4], [106.8, 87.6], [116.8, 91.4],
        [141.8, 91.4], [151.8, 87.6], [161.9, 86.4], [171.9, 88.3], [178.2, 95.1], [129.3, 103.3],
        [129.3, 114.6], [129.3, 124.6], [129.3, 134.6], [116.8, 140.2], [123.1, 142.1],
        [129.3, 143.4], [135.5, 142.1], [141.8, 140.2], [91.7, 103.9], [98.0, 100.2],
        [106.7, 100.2], [113.0, 106.4], [105.5, 107.1], [98.0, 107.1], [145.6, 106.4],
        [151.9, 100.2], [160.6, 100.2], [166.9, 103.9], [160.6, 107.1], [153.1, 107.1],
        [106.8, 153.7], [115.0, 153.3], [123.2, 153.2], [129.3, 154.4], [135.4, 153.2],
        [143.6, 153.3], [151.8, 153.7], [144.1, 161.6], [135.9, 164.9], [129.3, 165.7],
        [122.7, 164.9], [114.5, 161.6], [109.9, 154.8], [123.7, 155.9], [129.3, 156.7],
        [134.9, 155.9], [148.7, 154.8], [135.4, 161.2], [129.3, 161.9], [123.2, 161.2],
    ],
    dtype=np.float32,
)  # fmt: skip
CANONICAL_FACE.setflags(write=False)


def canonical_transform(landmarks: np.ndarray) -> np.ndarray:
    """(2, 3) similarity map from frame pixels to the canonical face, fitted on STABLE_POINTS."""
    source = np.asarray(landmarks, dtype=np.float32)[list(STABLE_POINTS)]
    target = CANONICAL_FACE[list(STABLE_POINTS)]
    matrix, _ = cv2.estimateAffinePartial2D(source, target, method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("could not fit the canonical face to these landmarks")
    return matrix


# Points whose layout speech hardly changes: jaw, brows, nose, eyes and the mouth corners.
RIGID_POINTS = (*range(48), 48, 54)
# Where dlib's detector boxes the canonical face in the 256x256 frame (x1, y1, x2, y2).
CANONICAL_BOX = np.array([77.0, 77.0, 181.0, 181.0])


def shape_error(landmarks: np.ndarray) -> float:
    """How far a 68-point fit is from a face's shape: RMS distance of the rigid points to the
    canonical face's after the best similarity alignment, as a share of the face's spread.

    Fits on faces (any size, turned, mirrored, talking) stay under about 0.1; the regression
    trees pressed onto a badge, a logo or a cat give 0.1-0.3.
    """
    points = np.asarray(landmarks, np.float64)[list(RIGID_POINTS)]
    target = CANONICAL_FACE[list(RIGID_POINTS)].astype(np.float64)
    points, target = points - points.mean(axis=0), target - target.mean(axis=0)
    points, target = points / np.linalg.norm(points), target / np.linalg.norm(target)
    u, _, vt = np.linalg.svd(points.T @ target)
    return float(np.linalg.norm(points @ (u @ vt) - target))


def frontal_score(frame: np.ndarray, landmarks: np.ndarray) -> float:
    """HOG detector score of the face re-seen frontalised: the frame warped so the landmarks lie
    on the canonical face, searched at the canonical face's place and size (-inf: not found).

    A face straightened this way scores about 0.8-1.4; a non-face that drew a face-like fit
    scores under 0.55, since the warp shows the detector what the fit claims is a face.
    """
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    frontal = cv2.warpAffine(gray, canonical_transform(landmarks), (CANONICAL_SIZE,) * 2,
                             flags=cv2.INTER_LINEAR)  # fmt: skip
    rects, scores, _ = _dlib_models()[0].run(frontal, 0, -1.0)
    best = -np.inf
    for rect, score in zip(rects, scores, strict=True):
        box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], np.float64)
        if np.abs(box - CANONICAL_BOX).max() < 0.25 * (CANONICAL_BOX[2] - CANONICAL_BOX[0]):
            best = max(best, float(score))
    return best


class NoFaceError(UserError):
    """No usable face in the input; the message names the frames that were searched."""


def landmark_model_path(name: str = LANDMARK_MODEL) -> Path:
    """Path of a dlib model in `face-recognition-models` (that package cannot be imported)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the face-recognition-models package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise RuntimeError(f"{name} is missing from face-recognition-models at {path.parent}")
    return path


@lru_cache(maxsize=1)
def _dlib_models() -> tuple[dlib.fhog_object_detector, dlib.shape_predictor]:
    """Loaded once per process: the predictor file is about 100 MB."""
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(landmark_model_path()))


@dataclass(frozen=True)
class TrackerConfig:
    """How hard to look for the face and how much to clean the track afterwards.

    `select` picks the face to follow when a track starts: "largest", "central", an int (the
    n-th face by size, 0 = largest) or an (x, y) point in the first frame with faces (the face
    containing it). It chooses among plausible faces only: detections whose 68-point fit has a
    face's shape (`shape_error` at most `max_shape_error`) and that the detector still calls a
    face once frontalised (`frontal_score` at least `min_frontal_score`). Photos and videos
    choose alike, and the tracker re-checks its face at every detector check.
    """

    detect_every: int = 5  # frames between detector checks while a face is being tracked
    detect_size: int = 640  # longer image side fed to the full-frame detector
    upsample: int = 0  # detector upsampling; 1 finds faces half the size, 4x slower
    min_score: float = 0.0  # HOG score to start a track: dlib's own default threshold
    verify_score: float = -0.3  # looser score when re-checking a face that is already tracked
    max_gap: int = 12  # missing frames (0.5 s) filled by interpolation; longer are reported
    smooth: int = 3  # centred moving-average length over landmarks (1 = off)
    select: str | int | tuple[float, float] = "largest"
    max_shape_error: float = 0.15
    min_frontal_score: float = 0.6


@dataclass(frozen=True)
class Face:
    """One detected face: box (x1, y1, x2, y2), detector score and (68, 2) landmarks (x, y)."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray


@dataclass
class FaceTrack:
    """One face followed through a video; arrays are indexed by frame.

    `landmarks` are smoothed and gap-filled (NaN inside long gaps), `raw` are the predictor's
    fits (NaN where no face was fitted), `interpolated` marks frames filled across a short gap,
    `gaps` lists the long gaps as half-open [start, stop) frame ranges. Coordinates are (x, y)
    pixels in the input frames.
    """

    landmarks: np.ndarray  # (T, 68, 2) float32
    raw: np.ndarray  # (T, 68, 2) float32
    interpolated: np.ndarray  # (T,) bool
    gaps: list[tuple[int, int]] = field(default_factory=list)
    frame_size: tuple[int, int] = (0, 0)  # (height, width)

    def __len__(self) -> int:
        return len(self.landmarks)

    @property
    def has_face(self) -> np.ndarray:
        """(T,) bool: frames with landmarks (fitted or interpolated)."""
        return ~np.isnan(self.landmarks[:, 0, 0])

    def filled(self) -> np.ndarray:
        """(T, 68, 2) landmarks with long gaps bridged too (linear, held at the ends)."""
        return _interpolate(self.landmarks, max_gap=len(self.landmarks))[0]

    def to_dict(self) -> dict:
        """JSON-ready: per-frame landmarks (null where no face), flags and long gaps."""
        frames = [
            {
                "index": i,
                "face": bool(ok),
                "interpolated": bool(self.interpolated[i]),
                "landmarks": np.round(self.landmarks[i], 2).tolist() if ok else None,
            }
            for i, ok in enumerate(self.has_face)
        ]
        return {
            "frame_size": list(self.frame_size),
            "gaps": [list(g) for g in self.gaps],
            "frames": frames,
        }


def split_frames(frames: np.ndarray | Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 RGB frames from an image, a (T, H, W, 3) array or an iterable."""
    if isinstance(frames, np.ndarray):
        frames = [frames]
    for item in frames:
        if item.ndim == 3:
            yield item
        elif item.ndim == 4:
            yield from item
        else:
            raise ValueError(f"expected (H, W, 3) frames or (T, H, W, 3) chunks, got {item.shape}")


def _check_frame(frame: np.ndarray) -> None:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")


def _gray_around(frame: np.ndarray, box: np.ndarray, margin: float):
    """Grey copy of the frame region around `box` widened by `margin` box widths, and its corner.

    Only the face's neighbourhood is converted: on HD video that is most of the per-frame cost.
    None when the region falls outside the frame.
    """
    pad = margin * (box[2] - box[0])
    height, width = frame.shape[:2]
    x1, y1 = int(max(0, box[0] - pad)), int(max(0, box[1] - pad))
    x2, y2 = int(min(width, box[2] + pad + 1)), int(min(height, box[3] + pad + 1))
    if x2 - x1 < 8 or y2 - y1 < 8:
        return None
    return cv2.cvtColor(frame[y1:y2, x1:x2], cv2.COLOR_RGB2GRAY), np.array([x1, y1], np.float32)


def _fit(frame: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """(68, 2) float32 landmarks fitted by the regression trees inside `box` (x1, y1, x2, y2)."""
    region = _gray_around(frame, box, 0.5)
    if region is None:
        return None
    gray, corner = region
    rect = dlib.rectangle(*(int(round(v)) for v in box - np.tile(corner, 2)))
    shape = _dlib_models()[1](gray, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32) + corner


def _detect(gray: np.ndarray, scale: float, upsample: int, threshold: float, offset=(0.0, 0.0)):
    """Detector boxes (N, 4) and scores on `gray` resized by `scale`, in `gray` + offset."""
    small = gray
    if scale != 1.0:
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=interpolation)
    rects, scores, _ = _dlib_models()[0].run(small, upsample, threshold)
    boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], dtype=np.float32)
    boxes = boxes.reshape(-1, 4) / scale + np.array([*offset, *offset], dtype=np.float32)
    return boxes, np.asarray(scores, dtype=np.float32)


def is_plausible(frame: np.ndarray, landmarks: np.ndarray | None, config: TrackerConfig) -> bool:
    """Whether a fit is a face's: a face's shape, and a face to the detector once frontalised."""
    return (
        landmarks is not None
        and shape_error(landmarks) <= config.max_shape_error
        and frontal_score(frame, landmarks) >= config.min_frontal_score
    )


def detect_faces(image: np.ndarray, config: TrackerConfig = TrackerConfig()) -> list[Face]:
    """The plausible faces in one RGB image with their landmarks, largest first."""
    _check_frame(image)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    scale = min(1.0, config.detect_size / max(gray.shape))
    boxes, scores = _detect(gray, scale, config.upsample, config.min_score)
    fits = [
        Face(box, float(score), _fit(image, box)) for box, score in zip(boxes, scores, strict=True)
    ]
    found = [face for face in fits if is_plausible(image, face.landmarks, config)]
    return sorted(found, key=lambda face: -_area(face.box[None])[0])


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    return inter / (_area(box[None])[0] + _area(boxes) - inter)


def _choose(boxes: np.ndarray, shape: tuple[int, int], select, last_box) -> int | None:
    """Index of the box to follow, or None when the selection names no face in this frame."""
    if not len(boxes):
        return None
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    if last_box is not None:
        # Re-acquiring after a gap: stay with the person seen last if one is near where they were.
        distance = np.linalg.norm(centres - (last_box[:2] + last_box[2:]) / 2, axis=1)
        near = int(np.argmin(distance))
        if distance[near] < last_box[2] - last_box[0]:
            return near
    if select == "largest":
        return int(np.argmax(_area(boxes)))
    if select == "central":
        return int(np.argmin(np.linalg.norm(centres - np.array(shape[::-1]) / 2, axis=1)))
    if isinstance(select, int):
        order = np.argsort(-_area(boxes), kind="stable")
        return int(order[select]) if select < len(order) else None
    x, y = select
    inside = (boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3])
    return int(np.argmin(np.where(inside, _area(boxes), np.inf))) if inside.any() else None


def _frame_of(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and RMS spread of a landmark set: a pose frame in which detector boxes are stored."""
    centre = landmarks.mean(axis=0)
    return centre, float(np.sqrt(((landmarks - centre) ** 2).sum(axis=1).mean()))


class FaceTracker:
    """Streaming tracker: call `update(frame)` for each RGB frame in order, then `result()`.

    Between detector checks the tracker keeps references to the frames it has followed, so that
    when a check finds the face gone it can look back and drop the frames where the face had
    already left: do not overwrite a frame's buffer for `detect_every` frames after passing it.
    """

    def __init__(self, config: TrackerConfig = TrackerConfig(), name: str = "the input"):
        self.config = config
        self.name = name
        self._raw: list[np.ndarray | None] = []
        self._landmarks: np.ndarray | None = None  # last fit, None while no face is tracked
        self._anchor: tuple[np.ndarray, np.ndarray] | None = None  # box offset, size / spread
        self._followed: list[tuple[int, np.ndarray, np.ndarray]] = []  # since the last check
        self._last_box: np.ndarray | None = None
        self._frame_size: tuple[int, int] | None = None

    def update(self, frame: np.ndarray) -> np.ndarray | None:
        """Landmarks (68, 2) of the tracked face in this frame, or None when it is not found.

        The answer is provisional for up to `detect_every` - 1 frames: `result()` is final.
        """
        _check_frame(frame)
        if self._frame_size is None:
            self._frame_size = frame.shape[:2]
        elif frame.shape[:2] != self._frame_size:
            size = self._frame_size
            raise ValueError(f"frame {len(self._raw)} is {frame.shape[:2]}, earlier ones {size}")
        landmarks = self._acquire(frame) if self._landmarks is None else self._follow(frame)
        self._landmarks = landmarks
        self._raw.append(landmarks)
        return landmarks

    def _acquire(self, frame: np.ndarray) -> np.ndarray | None:
        config = self.config
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, config.detect_size / max(gray.shape))
        boxes, _ = _detect(gray, scale, config.upsample, config.min_score)
        fits = [_fit(frame, box) for box in boxes]
        plausible = [i for i, fit in enumerate(fits) if is_plausible(frame, fit, config)]
        pick = _choose(boxes[plausible], gray.shape, config.select, self._last_box)
        if pick is None:
            return None
        index = plausible[pick]
        return self._anchor_on(boxes[index], fits[index])

    def _anchor_on(self, box: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        centre, spread = _frame_of(landmarks)
        self._anchor = (((box[:2] + box[2:]) / 2 - centre) / spread, (box[2:] - box[:2]) / spread)
        self._followed.clear()
        self._last_box = box
        return landmarks

    def _follow(self, frame: np.ndarray) -> np.ndarray | None:
        centre, spread = _frame_of(self._landmarks)
        offset, size = self._anchor
        middle, half = centre + offset * spread, size * spread / 2
        box = np.concatenate([middle - half, middle + half])
        self._last_box = box
        if len(self._followed) + 1 < self.config.detect_every:
            self._followed.append((len(self._raw), frame, box))
            return _fit(frame, box)
        found = self._confirm(frame, box)
        if found is not None:
            landmarks = _fit(frame, found)
            # The detector still fires here; a fit that is no face's means it has slid off the
            # face (onto a badge, say): treat the face as lost rather than follow that.
            if is_plausible(frame, landmarks, self.config):
                return self._anchor_on(found, landmarks)
        # The face left somewhere since the last check: drop the frames that fail the check too.
        for index, old_frame, old_box in reversed(self._followed):
            if self._confirm(old_frame, old_box) is not None:
                break
            self._raw[index] = None
        self._followed.clear()
        return None

    def _confirm(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """The detector box matching `box` in its neighbourhood, or None when the face is gone."""
        width = box[2] - box[0]
        region = _gray_around(frame, box, 0.5) if width >= 4 else None
        if region is None:
            return None
        # Scaled so the face is about 100 px: just above dlib's 80 px window, cheapest to scan.
        gray, corner = region
        boxes, _ = _detect(gray, 100.0 / width, 0, self.config.verify_score, tuple(corner))
        if not len(boxes):
            return None
        overlap = _iou(box, boxes)
        best = int(np.argmax(overlap))
        return boxes[best] if overlap[best] >= 0.3 else None

    def __len__(self) -> int:
        return len(self._raw)

    @property
    def settle_delay(self) -> int:
        """Frames after which a frame's cleaned landmarks no longer change (see `settled`)."""
        config = self.config
        return config.detect_every + config.max_gap + 1 + config.smooth // 2

    def settled(self, start: int, stop: int) -> np.ndarray:
        """Cleaned (smoothed, gap-filled) landmarks of frames [start, stop), as `result()` has them.

        Final once `len(self) >= stop + settle_delay` (or the stream has ended); computed from the
        raw fits near the range only, so a streaming consumer can use them before the clip ends.
        """
        context = self.settle_delay + self.config.smooth // 2
        low, high = max(0, start - context), min(len(self._raw), stop + context)
        filled, _, _ = _interpolate(self._raw_array(low, high), self.config.max_gap)
        return moving_average(filled, self.config.smooth)[start - low : stop - low]

    def _raw_array(self, start: int, stop: int) -> np.ndarray:
        raw = np.full((stop - start, N_LANDMARKS, 2), np.nan, dtype=np.float32)
        for i, landmarks in enumerate(self._raw[start:stop]):
            if landmarks is not None:
                raw[i] = landmarks
        return raw

    def result(self) -> FaceTrack:
        """The cleaned track; raises NoFaceError when no frame had a face."""
        count = len(self._raw)
        if count == 0:
            raise NoFaceError(f"no video frames in {self.name}")
        raw = self._raw_array(0, count)
        if np.isnan(raw[:, 0, 0]).all():
            raise NoFaceError(f"no face found in frames 0-{count - 1} of {self.name}")
        filled, interpolated, gaps = _interpolate(raw, self.config.max_gap)
        landmarks = moving_average(filled, self.config.smooth)
        return FaceTrack(landmarks, raw, interpolated, gaps, self._frame_size)


def track_faces(
    frames: np.ndarray | Iterable[np.ndarray],
    config: TrackerConfig = TrackerConfig(),
    name: str = "the input",
) -> FaceTrack:
    """Follow one face through RGB frames (an array or an iterable of frames or chunks, streamed).

    `name` (e.g. the file name) is used in the NoFaceError message.
    """
    tracker = FaceTracker(config, name)
    for frame in split_frames(frames):
        tracker.update(frame)
    return tracker.result()


def track_video(
    path: str | Path, config: TrackerConfig = TrackerConfig(), *, chunk_frames: int | None = None
) -> FaceTrack:
    """`track_faces` on a video or image file, decoded at 25 fps a chunk at a time."""
    path = Path(path)
    chunks = media_io.iter_frames(path, chunk_frames=chunk_frames)
    return track_faces(chunks, config, name=path.name)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) ranges where `mask` is True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)
    )


def _interpolate(landmarks: np.ndarray, max_gap: int):
    """Fill runs of missing frames up to `max_gap` long: linear between faces, held at either end.

    Returns the filled copy, a mask of the filled frames and the longer runs left as NaN.
    """
    out = landmarks.copy()
    missing = np.isnan(landmarks[:, 0, 0])
    filled = np.zeros(len(landmarks), dtype=bool)
    gaps = []
    if missing.all():
        return out, filled, _runs(missing)
    for start, stop in _runs(missing):
        if stop - start > max_gap:
            gaps.append((start, stop))
            continue
        if start == 0:
            out[:stop] = landmarks[stop]
        elif stop == len(landmarks):
            out[start:] = landmarks[start - 1]
        else:
            weight = (np.arange(1, stop - start + 1) / (stop - start + 1))[:, None, None]
            out[start:stop] = (1 - weight) * landmarks[start - 1] + weight * landmarks[stop]
        filled[start:stop] = True
    return out, filled, gaps


def moving_average(landmarks: np.ndarray, length: int) -> np.ndarray:
    """Centred moving average over `length` frames of (T, ...) landmarks, run by run.

    Frames without a face (NaN) stay NaN and split the runs; windows shrink symmetrically near the
    ends of a run, as mpc001's smoothing does at the ends of a clip.
    """
    out = landmarks.copy()
    half = length // 2
    if half == 0:
        return out
    for start, stop in _runs(~np.isnan(landmarks[:, 0, 0])):
        run = landmarks[start:stop].astype(np.float64)
        sums = np.concatenate([np.zeros((1, *run.shape[1:])), np.cumsum(run, axis=0)])
        index = np.arange(len(run))
        margin = np.minimum(half, np.minimum(index, len(run) - 1 - index))
        total = sums[index + margin + 1] - sums[index - margin]
        out[start:stop] = total / (2 * margin + 1)[:, None, None]
    return out
