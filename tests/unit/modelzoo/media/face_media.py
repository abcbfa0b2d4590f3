"""Face test media made on the fly from scikit-image's astronaut photograph (public domain, NASA).

The clip moves and scales the photograph with known affine maps, so the true landmarks of every
frame are the photograph's landmarks mapped through that frame's map.
"""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from modelzoo.media.io import VideoWriter

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
