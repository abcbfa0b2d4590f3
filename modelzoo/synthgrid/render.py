"""Talking-face frames: scikit-image's astronaut photograph with a mouth that follows the phones.

The photograph (Eileen Collins, NASA, public domain) is placed in a 256x256 frame under a random
variant (mirror, scale, small rotation and shift, colour tint); dlib's landmarks (modelzoo.media.
faces) of that still give the mouth. Each phone has a viseme, a jaw opening and a lip rounding
(negative: spreading); the per-frame visemes are the phone targets smoothed over about 35 ms on
either side, as coarticulation blurs them. A frame is the still warped around the mouth: the lower
face below the lips drops with the jaw, the lips narrow or widen about the mouth centre, and a dark
mouth cavity (with the upper teeth once the jaw is well open) fills the gap. A slow head sway moves
the whole frame. Landmarks are carried through the same maps, so crops need no tracking.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from skimage import data

from modelzoo.media.faces import NoFaceError, TrackerConfig, detect_faces
from modelzoo.synthgrid.speech import Phone

FRAME_SIZE = 256
FPS = 25
PHOTO_FACE_CENTRE = (220.0, 123.0)  # centre of the astronaut's face in the 512x512 photograph
PHOTO_TO_FRAME_SCALE = 1.25  # a 91 px face becomes about 115 px, above dlib's 80 px window
JAW_DROP = 0.42  # jaw travel at full opening, in mouth widths
ROUNDING = 0.3  # horizontal squeeze of the lips at full rounding
CAVITY_RGB = np.array([70.0, 22.0, 28.0])
TEETH_RGB = np.array([214.0, 205.0, 192.0])

# (jaw opening 0..1, rounding -1..1) of espeak-ng's English phoneme mnemonics; unlisted symbols
# fall back by their first letter (vowel or consonant).
VISEMES = {
    "_": (0.0, 0.0), "_:": (0.0, 0.0), "_!": (0.0, 0.0), "_|": (0.0, 0.0), "_^_": (0.0, 0.0),
    "p": (0.0, 0.1), "b": (0.0, 0.1), "m": (0.0, 0.1),
    "f": (0.08, -0.1), "v": (0.08, -0.1), "T": (0.15, -0.1), "D": (0.15, -0.1),
    "t": (0.18, 0.0), "d": (0.18, 0.0), "n": (0.18, 0.0), "l": (0.22, 0.0), "s": (0.12, -0.2),
    "z": (0.12, -0.2), "r": (0.2, 0.35), "S": (0.18, 0.5), "Z": (0.18, 0.5), "tS": (0.18, 0.5),
    "dZ": (0.18, 0.5), "k": (0.25, 0.0), "g": (0.25, 0.0), "N": (0.22, 0.0), "h": (0.35, 0.0),
    "j": (0.15, -0.4), "w": (0.1, 0.9),
    "a": (1.0, 0.0), "aa": (1.0, 0.0), "A:": (0.95, 0.1), "A@": (0.9, 0.1), "aI": (0.9, -0.1),
    "aU": (0.9, 0.2), "V": (0.6, 0.0), "@": (0.45, 0.0), "3:": (0.45, 0.1), "@L": (0.4, 0.0),
    "E": (0.65, -0.2), "e": (0.6, -0.2), "e@": (0.6, -0.1), "eI": (0.55, -0.35),
    "I": (0.35, -0.5), "i": (0.3, -0.55), "i:": (0.3, -0.6), "i@": (0.35, -0.4),
    "0": (0.75, 0.55), "O:": (0.7, 0.7), "O@": (0.7, 0.6), "OI": (0.7, 0.5),
    "oU": (0.6, 0.7), "o@": (0.6, 0.6), "U": (0.3, 0.9), "u:": (0.3, 1.0), "U@": (0.35, 0.8),
}  # fmt: skip
VOWEL_LETTERS = set("aAeEiIoOuUV03@")
COARTICULATION_S = 0.035


def viseme(symbol: str) -> tuple[float, float]:
    """(opening, rounding) of one phone; stress and allophone marks ("#", ";") are ignored."""
    for key in (symbol, symbol.rstrip("#;")):
        if key in VISEMES:
            return VISEMES[key]
    if symbol.startswith("_"):
        return 0.0, 0.0
    return (0.5, 0.0) if symbol[:1] in VOWEL_LETTERS else (0.2, 0.0)


def viseme_track(phones: tuple[Phone, ...], n_frames: int, offset: float = 0.0) -> np.ndarray:
    """(n_frames, 2) opening and rounding at each frame's centre; phones start at `offset` s."""
    step = 0.005
    times = np.arange(0.0, n_frames / FPS, step)
    targets = np.zeros((len(times), 2))  # silence outside the phones
    for phone in phones:
        inside = (times >= offset + phone.start) & (times < offset + phone.end)
        targets[inside] = viseme(phone.symbol)
    radius = int(3 * COARTICULATION_S / step)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) * step / COARTICULATION_S) ** 2)
    kernel /= kernel.sum()
    smooth = np.stack([np.convolve(targets[:, k], kernel, mode="same") for k in range(2)], 1)
    centres = (np.arange(n_frames) + 0.5) / FPS
    return np.stack([np.interp(centres, times, smooth[:, k]) for k in range(2)], 1)


@lru_cache(maxsize=1)
def astronaut() -> np.ndarray:
    image = data.astronaut()
    image.setflags(write=False)
    return image


@dataclass(frozen=True)
class FaceVariant:
    """How the photograph is placed and coloured: one per synthetic speaker."""

    mirror: bool = False
    scale: float = 1.0
    angle: float = 0.0  # degrees, counter-clockwise
    shift: tuple[float, float] = (0.0, 0.0)  # pixels in the 256x256 frame
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)  # RGB gains

    @classmethod
    def random(cls, rng: np.random.Generator) -> FaceVariant:
        return cls(
            mirror=bool(rng.integers(2)),
            scale=float(rng.uniform(0.9, 1.12)),
            angle=float(rng.uniform(-8, 8)),
            shift=(float(rng.uniform(-12, 12)), float(rng.uniform(-10, 10))),
            tint=tuple(float(g) for g in rng.uniform(0.82, 1.15, 3)),
        )

    def matrix(self) -> np.ndarray:
        """(2, 3) map from photograph pixels to frame pixels."""
        cx, cy = PHOTO_FACE_CENTRE
        flip = np.array([[-1.0 if self.mirror else 1.0, 0, 0], [0, 1, 0], [0, 0, 1]])
        to_origin = np.array([[1.0, 0, -cx], [0, 1, -cy], [0, 0, 1]])
        turn = cv2.getRotationMatrix2D((0, 0), self.angle, PHOTO_TO_FRAME_SCALE * self.scale)
        place = np.eye(3)
        place[:2] = turn
        place[:2, 2] = (FRAME_SIZE / 2 + self.shift[0], FRAME_SIZE / 2 + 4 + self.shift[1])
        return (place @ flip @ to_origin)[:2]

    def still(self) -> np.ndarray:
        """(256, 256, 3) uint8: the placed, tinted photograph."""
        placed = cv2.warpAffine(astronaut(), self.matrix(), (FRAME_SIZE, FRAME_SIZE),
                                flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)  # fmt: skip
        return np.clip(placed * np.array(self.tint), 0, 255).astype(np.uint8)


def _smoothstep(x: np.ndarray, low: float, high: float) -> np.ndarray:
    t = np.clip((x - low) / (high - low), 0.0, 1.0)
    return t * t * (3 - 2 * t)


class FaceRig:
    """A variant's still and landmarks, and the mouth warp that animates it."""

    def __init__(self, variant: FaceVariant):
        self.variant = variant
        self.still = variant.still()
        faces = detect_faces(self.still, TrackerConfig())
        if not faces:
            raise NoFaceError(f"dlib finds no face in face variant {variant}")
        self.landmarks = faces[0].landmarks.astype(np.float64)  # (68, 2)
        points = self.landmarks
        self.centre = points[60:68].mean(axis=0)  # inner lips
        across = points[54] - points[48]
        self.width = float(np.linalg.norm(across))
        self.eu = across / self.width  # along the mouth, left to right in the image
        self.ev = np.array([-self.eu[1], self.eu[0]])  # down the face
        self.chin = float((points[8] - self.centre) @ self.ev)
        self.jaw_half_width = 0.5 * abs(float((points[12] - points[4]) @ self.eu))
        ys, xs = np.mgrid[0:FRAME_SIZE, 0:FRAME_SIZE].astype(np.float64)
        self.u, self.v = self._local(np.stack([xs, ys], -1))
        self.jaw = self._jaw_weight(self.u, self.v)
        self.lips = self._lip_weight(self.u, self.v)

    def _local(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        offset = points - self.centre
        return offset @ self.eu, offset @ self.ev

    def _jaw_weight(self, u, v):
        """1 on the lower face below the lips, fading above them, below the chin and sideways."""
        w = self.width
        below_lips = _smoothstep(v, -0.08 * w, 0.12 * w)
        above_neck = 1.0 - _smoothstep(v, self.chin + 0.1 * w, self.chin + 0.9 * w)
        return below_lips * above_neck * np.exp(-0.5 * (u / self.jaw_half_width) ** 4)

    def _lip_weight(self, u, v):
        return np.exp(-0.5 * ((u / (0.75 * self.width)) ** 2 + (v / (0.6 * self.width)) ** 2))

    def _source(self, u, v, drop: float, rounding: float):
        """Local coordinates in the still that output point (u, v) shows."""
        squeeze = 1.0 + ROUNDING * rounding * self._lip_weight(u, v)
        return u * squeeze, v - drop * self._jaw_weight(u, v)

    def _to_image(self, u, v) -> np.ndarray:
        return self.centre + u[..., None] * self.eu + v[..., None] * self.ev

    def render(self, opening: float, rounding: float) -> tuple[np.ndarray, np.ndarray]:
        """(256, 256, 3) uint8 frame and its (68, 2) landmarks for one viseme."""
        drop = JAW_DROP * self.width * opening
        squeeze = 1.0 + ROUNDING * rounding * self.lips
        maps = self._to_image(self.u * squeeze, self.v - drop * self.jaw).astype(np.float32)
        frame = cv2.remap(self.still, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT).astype(np.float64)  # fmt: skip
        if drop > 0.5:
            frame = self._paint_cavity(frame, drop, rounding)
        return np.clip(frame, 0, 255).astype(np.uint8), self._moved_landmarks(drop, rounding)

    def _paint_cavity(self, frame: np.ndarray, drop: float, rounding: float) -> np.ndarray:
        half_width = 0.38 * self.width * (1.0 - 0.3 * rounding)
        half_height = drop / 2
        inside = 1.0 - (self.u / half_width) ** 2 - ((self.v - half_height) / half_height) ** 2
        cavity = np.clip(inside * 4.0, 0.0, 1.0)[..., None]  # soft edge
        teeth_shown = np.clip((drop - 0.1 * self.width) / (0.1 * self.width), 0.0, 1.0)
        teeth = cavity * teeth_shown * _smoothstep(-self.v, -0.3 * drop, -0.2 * drop)[..., None]
        frame = frame * (1 - cavity) + CAVITY_RGB * np.array(self.variant.tint) * cavity
        return frame * (1 - teeth) + TEETH_RGB * np.array(self.variant.tint) * teeth

    def _moved_landmarks(self, drop: float, rounding: float) -> np.ndarray:
        """Where each still landmark lands: the warp's inverse, by fixed-point iteration."""
        target_u, target_v = self._local(self.landmarks)
        u, v = target_u.copy(), target_v.copy()
        for _ in range(10):
            source_u, source_v = self._source(u, v, drop, rounding)
            u, v = u + target_u - source_u, v + target_v - source_v
        return self._to_image(u, v)


def sway(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(n_frames, 2, 3) small, slow head motions: a few pixels of shift, a degree of roll."""
    t = np.arange(n_frames) / FPS
    phase = rng.uniform(0, 2 * np.pi, 4)
    period = rng.uniform(1.5, 4.0, 4)
    dx, dy = (a * np.sin(2 * np.pi * t / period[k] + phase[k]) for k, a in enumerate((3.0, 2.0)))
    angle = 1.2 * np.sin(2 * np.pi * t / period[2] + phase[2])
    scale = 1.0 + 0.015 * np.sin(2 * np.pi * t / period[3] + phase[3])
    centre = (FRAME_SIZE / 2, FRAME_SIZE / 2)
    maps = np.stack(
        [cv2.getRotationMatrix2D(centre, a, s) for a, s in zip(angle, scale, strict=True)]
    )
    maps[:, 0, 2] += dx
    maps[:, 1, 2] += dy
    return maps


def render_clip(
    rig: FaceRig, visemes: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(T, 256, 256, 3) uint8 frames and (T, 68, 2) float32 landmarks for (T, 2) visemes."""
    motions = sway(len(visemes), rng)
    frames = np.empty((len(visemes), FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
    landmarks = np.empty((len(visemes), 68, 2), np.float32)
    for i, ((opening, rounding), motion) in enumerate(zip(visemes, motions, strict=True)):
        frame, points = rig.render(float(opening), float(rounding))
        size = (FRAME_SIZE, FRAME_SIZE)
        frames[i] = cv2.warpAffine(frame, motion, size, borderMode=cv2.BORDER_REFLECT)
        landmarks[i] = points @ motion[:, :2].T + motion[:, 2]
    return frames, landmarks
