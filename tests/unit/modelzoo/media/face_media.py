"""Face test media made on the fly from scikit-image's astronaut photograph (public domain, NASA).

The clip moves and scales the photograph with known affine maps, so the true landmarks of every
frame are the photograph's landmarks mapped through that frame's map.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from modelzoo.media.io import VideoWriter, iter_frames

FACE_BOX = (175, 76, 266, 170)  # where the astronaut's face is in the 512x512 photograph


@lru_cache(maxsize=1)
def astronaut() -> np.ndarray:
    image = data.astronaut()
    image.setflags(write=False)
    return image


def moving_clip(n: int = 40, size: tuple[int, int] = (240, 320)) -> tuple[np.ndarray, np.ndarray]:
    """(n, H, W, 3) frames of the photograph panning and zooming, and their (n, 2, 3) maps."""
    height, width = size
    frames = np.empty((n, height, width, 3), dtype=np.uint8)
    maps = np.empty((n, 2, 3), dtype=np.float64)
    for t in range(n):
        scale = 0.75 + 0.08 * np.sin(t / 6)
        shift_x, shift_y = 30 * np.sin(t / 5), 15 * np.cos(t / 7)
        maps[t] = [
            [scale, 0, width / 2 - scale * 222 + shift_x],
            [0, scale, height / 2 - scale * 125 + shift_y],
        ]
        frames[t] = cv2.warpAffine(astronaut(), maps[t], (width, height),
                                   borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    return frames, maps


def map_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def encode(path: Path, frames: np.ndarray, *, sideways: bool = False) -> Path:
    """H.264 MP4 of `frames` at 25 fps; `sideways` stores them turned, with rotation metadata.

    The frames are turned a quarter counter-clockwise and tagged `rotate=270`, as a phone held
    sideways records them, so a correct decoder gives back the upright frames.
    """
    stored = np.ascontiguousarray(np.rot90(frames, 1, axes=(1, 2))) if sideways else frames
    plain = path.with_name(path.stem + "-plain.mp4") if sideways else path
    with VideoWriter(plain, stored.shape[2], stored.shape[1]) as writer:
        writer.write(stored)
    if sideways:
        command = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(plain), "-c", "copy"]
        subprocess.run([*command, "-metadata:s:v:0", "rotate=270", str(path)], check=True)
    return path


# Her lips in the 512x512 photograph (x1, y1, x2, y2): dlib's mouth points span x 200-246,
# y 139-156; the box leaves a few pixels for the tracker's smoothing and a talking mouth.
MOUTH_BOX = (194, 132, 252, 164)


@dataclass(frozen=True)
class SelectionCase:
    """Frames in which one face is the one a person means, and where its mouth is.

    `mouth_boxes` (T, 4) are the true mouth boxes per frame; None when no frame has a face.
    `maps` (T, 2, 3) take the source picture's pixels to each frame's.
    """

    name: str
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    mouth_boxes: np.ndarray | None
    maps: np.ndarray | None = None


# The second face: her head (x 160-285, y 55-190) at 75 %, pasted with its corner at (380, 20).
SMALL_FACE = np.array([[0.75, 0, 380 - 0.75 * 160], [0, 0.75, 20 - 0.75 * 55]])


def _with_small_face(photo: np.ndarray) -> np.ndarray:
    """The photograph with a second, smaller copy of her face on the wall to her left."""
    small = cv2.resize(photo[55:190, 160:285], None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)
    out = photo.copy()
    out[20 : 20 + small.shape[0], 380 : 380 + small.shape[1]] = small
    return out


def _panning(photo: np.ndarray, count: int, size: tuple[int, int], scale: float, mirror: bool):
    """(count, H, W, 3) frames of `photo` slowly panning at `scale`, and their (count, 2, 3) maps;
    `mirror` flips the photograph left to right first."""
    height, width = size
    frames = np.empty((count, height, width, 3), dtype=np.uint8)
    maps = np.empty((count, 2, 3))
    flip = -1.0 if mirror else 1.0
    for t in range(count):
        x = width / 2 - flip * scale * 222 + 0.03 * width * np.sin(t / 4)  # her face centred
        y = height / 2 - scale * 125 + 0.02 * height * np.cos(t / 5)
        maps[t] = [[flip * scale, 0, x], [0, scale, y]]
        # A plain grey border: a reflected one would add copies of her face as large as hers.
        frames[t] = cv2.warpAffine(photo, maps[t], (width, height), flags=cv2.INTER_AREA,
                                   borderValue=(110, 110, 110))  # fmt: skip
    return frames, maps


def mapped_box(box: tuple[float, float, float, float], matrix: np.ndarray) -> np.ndarray:
    corners = map_points(np.array([[box[0], box[1]], [box[2], box[3]]], np.float64), matrix)
    return np.concatenate([corners.min(axis=0), corners.max(axis=0)])


def _decoded(folder: Path, name: str, frames: np.ndarray) -> np.ndarray:
    """The frames after an H.264 round trip, as an uploaded video reaches the tracker."""
    path = encode(folder / f"{name}.mp4", frames)
    return np.concatenate(list(iter_frames(path)))


def selection_cases(folder: Path, count: int = 15) -> list[SelectionCase]:
    """Real-photograph tracking cases with distractors: the photograph itself, H.264 clips of it
    at several scales (her face 80-260 px, beside the larger round mission patch), mirrored,
    in 720p, with a second smaller face pasted in; and clips with no face at all (the suit and
    its badges alone, scikit-image's cat, its coffee cup)."""
    photo = astronaut()
    box = mapped_box(MOUTH_BOX, np.eye(3)[:2])
    still = _decoded(folder, "still", np.repeat(photo[None], count, axis=0))  # the clip
    cases = [SelectionCase("photo", photo[None], box[None]),
             SelectionCase("still-video", still, np.repeat(box[None], count, axis=0))]  # fmt: skip
    settings = [
        ("video-x0.9", photo, (360, 480), 0.9, False),
        ("video-x1.6", photo, (480, 640), 1.6, False),
        ("video-x3.0", photo, (480, 640), 3.0, False),
        ("mirrored-x1.2", photo, (360, 480), 1.2, True),
        ("720p-x2.2", photo, (720, 1280), 2.2, False),
        ("second-face-x1.0", _with_small_face(photo), (400, 560), 1.0, False),
        ("second-face-mirrored-x1.4", _with_small_face(photo), (480, 640), 1.4, True),
    ]
    for name, source, size, scale, mirror in settings:
        frames, maps = _panning(source, count, size, scale, mirror)
        boxes = np.stack([mapped_box(MOUTH_BOX, m) for m in maps])
        cases.append(SelectionCase(name, _decoded(folder, name, frames), boxes, maps))
    suit = np.ascontiguousarray(photo[250:512, 60:400])
    for name, source in [("no-face-suit", suit), ("no-face-cat", data.chelsea()),
                         ("no-face-coffee", data.coffee())]:  # fmt: skip
        frames, _ = _panning(source, count, (360, 480), 1.0, False)
        cases.append(SelectionCase(name, _decoded(folder, name, frames), None))
    return cases


def mouth_hits(landmarks: np.ndarray, mouth_boxes: np.ndarray) -> np.ndarray:
    """(T,) bool: frames whose 20 mouth landmarks all lie inside that frame's true mouth box
    (False where the tracker has no face)."""
    mouth = landmarks[:, 48:68]  # (T, 20, 2), NaN without a face
    low, high = mouth_boxes[:, None, :2], mouth_boxes[:, None, 2:]
    with np.errstate(invalid="ignore"):
        return ((mouth >= low) & (mouth <= high)).all(axis=(1, 2))
