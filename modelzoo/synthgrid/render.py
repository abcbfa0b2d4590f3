"""Talking-face frames: real public-domain portraits, varied procedurally, with a mouth that follows
the phones in a talker's own articulation style.

Identities come from two public-domain photographs that installed packages carry: scikit-image's
astronaut (Eileen Collins, NASA) and matplotlib's Grace Hopper (US Navy official portrait). dlib's
landmarks (modelzoo.media.faces) of each are found once; a face is one photograph aligned to a
canonical frame by its eyes, its features blended with the other photograph's (both warped to a
common shape), its geometry reshaped (face and jaw width, chin, eye spacing, nose, mouth), its skin
tone and lighting changed, hair, glasses or a beard painted from its landmarks, and the whole turned
in depth (yaw, pitch), rolled, scaled, shifted or mirrored. dlib must still find the face, and find
its mouth where the landmarks say, or the face is drawn again.

Each phone has a viseme, a jaw opening and a lip rounding (negative: spreading); the per-frame
visemes are the phone targets smoothed as coarticulation blurs them. A talker's `Articulation`
scales the opening and rounding, sets the smoothing, jitters phone boundaries and targets and lags
the lips a little, so lips tell the phones only roughly. A frame is the still warped around the
mouth: the lower face below the lips drops with the jaw, the lips narrow or widen about the mouth
centre, and a dark mouth cavity (with the upper teeth once the jaw is well open) fills the gap. A
slow head sway moves the whole frame. Landmarks are carried through the same maps, so crops need
no tracking.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import scipy.interpolate
from skimage import data

from modelzoo.media.faces import TrackerConfig, detect_faces
from modelzoo.synthgrid.speech import Phone

FRAME_SIZE = 256
FPS = 25
EYE_DISTANCE = 52.0  # canonical distance between the eye centres: a face about 115 px wide
EYES_CENTRE = (FRAME_SIZE / 2, 106.0)
JAW_DROP = 0.42  # jaw travel at full opening, in mouth widths
ROUNDING = 0.3  # horizontal squeeze of the lips at full rounding
MAX_OPENING = 1.4  # a wide talker's widest jaw opening (1: the viseme table's widest)
CAVITY_RGB = np.array([70.0, 22.0, 28.0])
TEETH_RGB = np.array([214.0, 205.0, 192.0])
PHOTOS = ("astronaut", "hopper")
FACE_ATTEMPTS = 20  # draws of a face before giving up on dlib finding it
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


@dataclass(frozen=True)
class Articulation:
    """How a talker moves the lips: opening and rounding scales, coarticulation smoothing, how
    much phone boundaries (seconds, standard deviation) and targets wander, and a lip lag."""

    opening: float = 1.0
    rounding: float = 1.0
    smoothing_s: float = COARTICULATION_S
    boundary_jitter_s: float = 0.0
    target_jitter: float = 0.0
    lag_s: float = 0.0

    @classmethod
    def random(cls, rng: np.random.Generator) -> Articulation:
        return cls(
            opening=round(float(rng.uniform(0.65, 1.35)), 3),
            rounding=round(float(rng.uniform(0.4, 1.5)), 3),
            smoothing_s=round(float(rng.uniform(0.025, 0.06)), 4),
            boundary_jitter_s=round(float(rng.uniform(0.0, 0.025)), 4),
            target_jitter=round(float(rng.uniform(0.03, 0.15)), 3),
            lag_s=round(float(rng.uniform(-0.02, 0.02)), 4),
        )


def viseme_track(
    phones: tuple[Phone, ...],
    n_frames: int,
    offset: float = 0.0,
    style: Articulation = Articulation(),
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """(n_frames, 2) opening and rounding at each frame's centre; phones start at `offset` s.
    With `rng`, each phone's boundaries and targets wander by the style's jitter."""
    step = 0.005
    times = np.arange(0.0, n_frames / FPS, step)
    targets = np.zeros((len(times), 2))  # silence outside the phones
    scale = np.array([style.opening, style.rounding])
    for phone in phones:
        start, end, noise = phone.start, phone.end, np.zeros(2)
        if rng is not None:
            start += rng.normal(0.0, style.boundary_jitter_s)
            end += rng.normal(0.0, style.boundary_jitter_s)
            noise = rng.normal(0.0, style.target_jitter, 2)
        start, end = offset + style.lag_s + start, offset + style.lag_s + end
        inside = (times >= start) & (times < end)
        targets[inside] = np.array(viseme(phone.symbol)) * scale + noise
    targets[:, 0] = np.clip(targets[:, 0], 0.0, MAX_OPENING)
    targets[:, 1] = np.clip(targets[:, 1], -1.0, 1.0)
    radius = int(3 * style.smoothing_s / step)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) * step / style.smoothing_s) ** 2)
    kernel /= kernel.sum()
    smooth = np.stack([np.convolve(targets[:, k], kernel, mode="same") for k in range(2)], 1)
    centres = (np.arange(n_frames) + 0.5) / FPS
    return np.stack([np.interp(centres, times, smooth[:, k]) for k in range(2)], 1)


@lru_cache(maxsize=2)
def photo(name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB public-domain portrait."""
    if name == "astronaut":
        image = data.astronaut()
    elif name == "hopper":
        path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    else:
        raise ValueError(f"no photograph {name!r}: SynthGrid has {', '.join(PHOTOS)}")
    image.setflags(write=False)
    return image


@lru_cache(maxsize=2)
def aligned(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The photograph in the canonical 256x256 frame (eyes level, EYE_DISTANCE apart about
    EYES_CENTRE) and its (68, 2) dlib landmarks there."""
    image = photo(name)
    points = detect_faces(image, TrackerConfig())[0].landmarks.astype(np.float64)
    left, right = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
    across = right - left
    scale = EYE_DISTANCE / float(np.linalg.norm(across))
    angle = np.degrees(np.arctan2(across[1], across[0]))
    matrix = cv2.getRotationMatrix2D(tuple((left + right) / 2), angle, scale)
    matrix[:, 2] += np.array(EYES_CENTRE) - (left + right) / 2
    frame = cv2.warpAffine(image, matrix, (FRAME_SIZE, FRAME_SIZE), flags=cv2.INTER_AREA,
                           borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    return frame, points @ matrix[:, :2].T + matrix[:, 2]


def _warp_to(image: np.ndarray, points: np.ndarray, target: np.ndarray) -> np.ndarray:
    """`image` bent so that its `points` land on `target` (a thin-plate spline, the frame's
    border held still), evaluated on a coarse grid and interpolated."""
    edge = np.linspace(0, FRAME_SIZE - 1, 9)
    border = np.array([(x, y) for x in edge for y in edge if x in (edge[0], edge[-1]) or
                       y in (edge[0], edge[-1])])  # fmt: skip
    spline = scipy.interpolate.RBFInterpolator(
        np.vstack([target, border]), np.vstack([points, border]),
        kernel="thin_plate_spline", smoothing=1.0,
    )  # fmt: skip
    coarse = np.linspace(0, FRAME_SIZE - 1, 33)
    gx, gy = np.meshgrid(coarse, coarse)
    source = spline(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(33, 33, 2).astype(np.float32)
    maps = cv2.resize(source, (FRAME_SIZE, FRAME_SIZE), interpolation=cv2.INTER_CUBIC)
    return cv2.remap(image, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)  # fmt: skip


def _feathered(shape_points: np.ndarray, blur: float) -> np.ndarray:
    """(256, 256) 0..1 mask of a polygon with a soft edge."""
    mask = np.zeros((FRAME_SIZE, FRAME_SIZE), np.float32)
    cv2.fillPoly(mask, [np.round(shape_points).astype(np.int32)], 1.0, cv2.LINE_AA)
    return cv2.GaussianBlur(mask, (0, 0), blur)


def _face_outline(points: np.ndarray) -> np.ndarray:
    """The jaw line and, above the brows, an arc over the forehead."""
    brows = points[17:27]
    lift = 0.35 * (points[8, 1] - brows[:, 1].mean())
    return np.vstack([points[0:17], (brows - [0, lift])[::-1]])


def _hair_texture(rng: np.random.Generator, colour: np.ndarray, vertical: bool) -> np.ndarray:
    """(256, 256, 3) streaky hair-coloured texture."""
    noise = rng.normal(0.0, 1.0, (FRAME_SIZE, FRAME_SIZE)).astype(np.float32)
    sigma = (0.6, 5.0) if vertical else (2.5, 2.5)
    streaks = cv2.GaussianBlur(noise, (0, 0), sigmaX=sigma[0], sigmaY=sigma[1])
    streaks /= streaks.std() + 1e-6
    return np.clip(colour * (1.0 + 0.25 * streaks[..., None]), 0, 255)


@dataclass(frozen=True)
class FaceVariant:
    """One synthetic person: a photograph, how much of the other one's features it takes, its
    geometry, skin, lighting, hair, glasses, beard, pose and placement. `detail_seed` draws the
    textures of hair and beard."""

    photo: str = "astronaut"
    blend: float = 0.0  # share of the other photograph's features in the face
    face_width: float = 1.0
    jaw_width: float = 1.0
    chin: float = 1.0  # chin length
    eye_spacing: float = 1.0
    nose: float = 1.0  # nose length
    mouth_width: float = 1.0
    skin: tuple[float, float, float] = (1.0, 0.0, 0.0)  # Lab: lightness gain, a and b shifts
    light: tuple[float, float, float] = (0.0, 0.0, 1.0)  # direction (radians), slope, gamma
    hair: str = "none"  # none, short, long
    hair_rgb: tuple[float, float, float] = (60.0, 40.0, 25.0)
    glasses: str = "none"  # none, round, square
    glasses_rgb: tuple[float, float, float] = (30.0, 30.0, 30.0)
    beard: str = "none"  # none, stubble, moustache, goatee, full
    yaw: float = 0.0  # degrees
    pitch: float = 0.0
    roll: float = 0.0
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)  # pixels in the 256x256 frame
    mirror: bool = False
    detail_seed: int = 0

    @classmethod
    def random(cls, rng: np.random.Generator, held_out: bool = False) -> FaceVariant:
        """A random person; held-out people (the test split's) take 35-50% of the other
        photograph's features, training people at most 25%, so they are new faces."""
        u = rng.uniform
        return cls(
            photo=str(PHOTOS[int(rng.integers(len(PHOTOS)))]),
            blend=round(float(u(0.35, 0.5) if held_out else u(0.0, 0.25)), 3),
            face_width=round(float(u(0.9, 1.1)), 3),
            jaw_width=round(float(u(0.85, 1.15)), 3),
            chin=round(float(u(0.85, 1.2)), 3),
            eye_spacing=round(float(u(0.92, 1.08)), 3),
            nose=round(float(u(0.88, 1.15)), 3),
            mouth_width=round(float(u(0.88, 1.15)), 3),
            skin=(
                round(float(u(0.6, 1.15)), 3),
                round(float(u(-6, 10)), 2),
                round(float(u(-8, 14)), 2),
            ),  # fmt: skip
            light=(
                round(float(u(0, 2 * np.pi)), 3),
                round(float(u(0.0, 0.45)), 3),
                round(float(u(0.8, 1.25)), 3),
            ),  # fmt: skip
            hair=str(rng.choice(["none", "short", "long"], p=[0.4, 0.35, 0.25])),
            hair_rgb=tuple(round(float(c), 1) for c in _hair_colour(rng)),
            glasses=str(rng.choice(["none", "round", "square"], p=[0.6, 0.2, 0.2])),
            glasses_rgb=tuple(round(float(c), 1) for c in u(10, 200, 3)),
            beard=str(
                rng.choice(
                    ["none", "stubble", "moustache", "goatee", "full"],
                    p=[0.5, 0.15, 0.12, 0.1, 0.13],
                )
            ),  # fmt: skip
            yaw=round(float(u(-22, 22)), 2),
            pitch=round(float(u(-10, 10)), 2),
            roll=round(float(u(-8, 8)), 2),
            scale=round(float(u(0.88, 1.12)), 3),
            shift=(round(float(u(-12, 12)), 1), round(float(u(-8, 8)), 1)),
            mirror=bool(rng.integers(2)),
            detail_seed=int(rng.integers(2**31)),
        )

    def shape(self, points: np.ndarray) -> np.ndarray:
        """The (68, 2) landmarks reshaped by this face's geometry."""
        out = points.copy()
        centre_x = points[27:36, 0].mean()
        out[0:17, 0] = centre_x + (out[0:17, 0] - centre_x) * self.face_width
        jaw = np.r_[3:14]
        out[jaw, 0] = centre_x + (out[jaw, 0] - centre_x) * self.jaw_width
        mouth_y = points[48:68, 1].mean()
        chin = np.r_[4:13]
        out[chin, 1] = mouth_y + (out[chin, 1] - mouth_y) * self.chin
        for eye in (np.r_[36:42, 17:22], np.r_[42:48, 22:27]):
            eye_x = points[eye[:6], 0].mean()
            out[eye, 0] += (eye_x - centre_x) * (self.eye_spacing - 1.0)
        top = points[27, 1]
        out[28:36, 1] = top + (out[28:36, 1] - top) * self.nose
        lips = np.r_[48:68]
        mouth_x = points[lips, 0].mean()
        out[lips, 0] = mouth_x + (out[lips, 0] - mouth_x) * self.mouth_width
        shift = out[33, 1] - points[33, 1]  # the mouth follows the nose tip
        out[lips, 1] += shift * 0.7
        return out

    def pose(self) -> np.ndarray:
        """(3, 3) map from the canonical frame to the output frame: the face's plane turned in
        depth about its centre (seen from 2 frame widths off), rolled, scaled, shifted, mirrored."""
        focal = 2.0 * FRAME_SIZE
        cx, cy = FRAME_SIZE / 2, 128.0
        yaw, pitch = np.radians(self.yaw), np.radians(self.pitch)
        turn_y = np.array(
            [[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]]
        )
        turn_x = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)],
                           [0, np.sin(pitch), np.cos(pitch)]])  # fmt: skip
        turn = turn_x @ turn_y
        plane = np.array([[1.0, 0, -cx], [0, 1, -cy], [0, 0, 1]])  # frame to face-plane coordinates
        placed = np.column_stack([turn[:, 0], turn[:, 1], [0.0, 0.0, focal]])
        camera = np.array([[focal, 0, cx], [0, focal, cy], [0, 0, 1.0]])
        depth = camera @ placed @ plane
        roll = np.eye(3)
        roll[:2] = cv2.getRotationMatrix2D((cx, cy), self.roll, self.scale)
        roll[:2, 2] += self.shift
        flip = np.array([[-1.0, 0, FRAME_SIZE - 1], [0, 1, 0], [0, 0, 1]])
        return (flip if self.mirror else np.eye(3)) @ roll @ (depth / depth[2, 2])

    def still(self) -> tuple[np.ndarray, np.ndarray]:
        """(256, 256, 3) uint8 still of this person and its (68, 2) landmarks."""
        rng = np.random.default_rng(self.detail_seed)
        image, points = aligned(self.photo)
        other_image, other_points = aligned(PHOTOS[1 - PHOTOS.index(self.photo)])
        target = self.shape((1 - self.blend) * points + self.blend * other_points)
        frame = _warp_to(image, points, target).astype(np.float32)
        if self.blend > 0:
            other = _warp_to(other_image, other_points, target).astype(np.float32)
            inside = _feathered(_face_outline(target), 4.0)[..., None] * (self.blend / 0.5)
            frame = frame * (1 - 0.5 * inside) + other * 0.5 * inside
        frame = self._skin(frame, target)
        frame = self._beard(frame, target, rng)
        frame = self._hair(frame, target, rng)
        frame = self._light(frame, target)
        frame = self._glasses(frame, target)
        pose = self.pose()
        frame = cv2.warpPerspective(np.clip(frame, 0, 255).astype(np.uint8), pose,
                                    (FRAME_SIZE, FRAME_SIZE), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REFLECT)  # fmt: skip
        moved = cv2.perspectiveTransform(target[None].astype(np.float64), pose)[0]
        if self.mirror:
            moved = moved[MIRRORED_LANDMARKS]
        return frame, moved

    def _skin(self, frame: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Recolour what looks like the cheeks' skin near the face (neck and ears too)."""
        lab = cv2.cvtColor(frame / 255.0, cv2.COLOR_RGB2Lab)
        cheeks = _feathered(np.vstack([points[1:5], points[48:49], points[31:32]]), 0.5) + \
            _feathered(np.vstack([points[12:16], points[35:36], points[54:55]]), 0.5)  # fmt: skip
        reference = (lab * cheeks[..., None]).sum((0, 1)) / max(float(cheeks.sum()), 1.0)
        distance = np.sqrt(((lab[..., 1:] - reference[1:]) ** 2).sum(-1)) / 12.0
        lightness = np.abs(lab[..., 0] - reference[0]) / 35.0
        like_skin = np.exp(-(distance**2) - lightness**2)
        near = _feathered(_face_outline(points) * [1.0, 1.0], 1.0)
        near = cv2.dilate(near, np.ones((41, 41), np.uint8))
        mask = cv2.GaussianBlur(like_skin * near, (0, 0), 2.0)[..., None]
        gain, shift_a, shift_b = self.skin
        toned = lab * [gain, 1.0, 1.0] + [0.0, shift_a, shift_b]
        lab = lab * (1 - mask) + toned * mask
        return cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB) * 255.0

    def _beard(self, frame, points, rng) -> np.ndarray:
        if self.beard == "none":
            return frame
        lips = _feathered(points[48:60], 1.0)
        nose_base = points[31:36] + [0, 2.0]
        regions = {
            "stubble": np.vstack([points[2:15], nose_base[::-1]]),
            "full": np.vstack([points[1:16], nose_base[::-1]]),
            "moustache": np.vstack([points[48], nose_base, points[54], points[53:49:-1]]),
            "goatee": np.vstack([points[57:60], points[48], points[7:10] + [0, 2], points[54:56]]),
        }
        mask = _feathered(regions[self.beard], 2.0) * (1 - np.clip(lips * 1.5, 0, 1))
        strength = 0.35 if self.beard == "stubble" else 0.9
        dots = rng.random((FRAME_SIZE, FRAME_SIZE)) < (0.35 if self.beard == "stubble" else 1.0)
        alpha = (mask * strength * dots)[..., None]
        texture = _hair_texture(rng, np.array(self.hair_rgb), vertical=True)
        return frame * (1 - alpha) + texture * alpha

    def _hair(self, frame, points, rng) -> np.ndarray:
        if self.hair == "none":
            return frame
        outline = _face_outline(points)
        left, right = points[0], points[16]
        width = float(right[0] - left[0])
        centre = ((left + right) / 2 - [0, 0.25 * width]).astype(int)
        axes = (int(0.62 * width), int(0.62 * width))
        mask = np.zeros((FRAME_SIZE, FRAME_SIZE), np.float32)
        cv2.ellipse(mask, tuple(int(c) for c in centre), axes, 0, 180, 360, 1.0, -1, cv2.LINE_AA)
        if self.hair == "long":
            top = int(centre[1])
            bottom = int(points[8, 1] + 0.15 * width)
            side = int(0.2 * width)
            for x in (int(left[0]) - side, int(right[0])):
                cv2.rectangle(mask, (x, top), (x + side, bottom), 1.0, -1)
        face = _feathered(outline, 1.0)
        hairline = outline.copy()
        hairline[17:, 1] += 0.06 * width  # the hair sits on the forehead's top
        mask = np.clip(mask - _feathered(hairline, 1.0) * 2.0, 0, 1)
        mask = cv2.GaussianBlur(mask, (0, 0), 2.0) * (1 - 0.5 * face)
        texture = _hair_texture(rng, np.array(self.hair_rgb), vertical=True)
        return frame * (1 - mask[..., None]) + texture * mask[..., None]

    def _light(self, frame, points) -> np.ndarray:
        direction, slope, gamma = self.light
        ys, xs = np.mgrid[0:FRAME_SIZE, 0:FRAME_SIZE].astype(np.float32)
        centre = points.mean(axis=0)
        along = ((xs - centre[0]) * np.cos(direction) + (ys - centre[1]) * np.sin(direction)) / 128
        shade = np.clip(1.0 + slope * along, 0.4, 1.6)[..., None]
        return 255.0 * np.clip(frame * shade / 255.0, 0, 1) ** gamma

    def _glasses(self, frame, points) -> np.ndarray:
        if self.glasses == "none":
            return frame
        layer = frame.copy()
        colour = tuple(float(c) for c in self.glasses_rgb)
        eye_width = float(np.linalg.norm(points[39] - points[36]))
        thickness = max(1, int(round(eye_width / 14)))
        lens = np.zeros((FRAME_SIZE, FRAME_SIZE), np.float32)
        rims = []
        for eye in (points[36:42], points[42:48]):
            centre = eye.mean(axis=0)
            half = np.array([0.85 * eye_width, 0.6 * eye_width])
            if self.glasses == "round":
                box = cv2.ellipse2Poly(tuple(int(c) for c in centre), tuple(int(h) for h in half),
                                       0, 0, 360, 10)  # fmt: skip
            else:
                box = np.array([centre + half * s for s in ((-1, -1), (1, -1), (1, 1), (-1, 1))])
            box = np.round(box).astype(np.int32)
            rims.append(box)
            cv2.fillPoly(lens, [box], 1.0, cv2.LINE_AA)
        frame = frame * (1 - 0.15 * lens[..., None]) + 0.15 * lens[..., None] * np.array(colour)
        for box in rims:
            cv2.polylines(layer, [box], True, colour, thickness, cv2.LINE_AA)
        bridge = (
            (rims[0][:, 0].max(), int(points[27, 1])),
            (rims[1][:, 0].min(), int(points[27, 1])),
        )
        cv2.line(layer, *[tuple(int(c) for c in p) for p in bridge], colour, thickness, cv2.LINE_AA)
        drawn = np.any(np.abs(layer - frame) > 0, axis=-1, keepdims=True)
        return np.where(drawn, layer, frame)


# iBUG 68-point indices seen in a mirror: the left jaw becomes the right, and so on.
MIRRORED_LANDMARKS = np.array(
    [*range(16, -1, -1), *range(26, 16, -1), *range(27, 31), *range(35, 30, -1),
     45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
     54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65]
)  # fmt: skip


def _hair_colour(rng: np.random.Generator) -> np.ndarray:
    """Black, browns, auburn, blond or grey."""
    palette = np.array([[25, 20, 18], [60, 40, 25], [105, 70, 40], [140, 70, 35],
                        [190, 160, 100], [165, 160, 155]], np.float64)  # fmt: skip
    return palette[int(rng.integers(len(palette)))] * rng.uniform(0.85, 1.15)


def draw_face(rng: np.random.Generator, held_out: bool = False) -> FaceVariant:
    """A random person whom dlib still finds, with its mouth where the landmarks put it."""
    for _ in range(FACE_ATTEMPTS):
        variant = FaceVariant.random(rng, held_out)
        still, points = variant.still()
        found = detect_faces(still, TrackerConfig())
        mouth = points[48:68].mean(axis=0)
        width = float(np.linalg.norm(points[54] - points[48]))
        if any(
            np.linalg.norm(f.landmarks[48:68].mean(axis=0) - mouth) < 0.3 * width for f in found
        ):
            return variant
    raise RuntimeError(f"dlib found none of {FACE_ATTEMPTS} random faces")


def _smoothstep(x: np.ndarray, low: float, high: float) -> np.ndarray:
    t = np.clip((x - low) / (high - low), 0.0, 1.0)
    return t * t * (3 - 2 * t)


class FaceRig:
    """A variant's still and landmarks, and the mouth warp that animates it."""

    def __init__(self, variant: FaceVariant):
        self.variant = variant
        self.still, self.landmarks = variant.still()  # (256, 256, 3), (68, 2)
        self.tone = float(variant.skin[0])  # the cavity darkens with the skin
        points = self.landmarks
        self.centre = points[60:68].mean(axis=0)  # inner lips
        across = points[54] - points[48]
        self.width = float(np.linalg.norm(across))
        self.eu = across / self.width  # along the mouth, left to right in the image
        self.ev = np.array([-self.eu[1], self.eu[0]])  # down the face
        self.chin = float((points[8] - self.centre) @ self.ev)
        self.jaw_half_width = 0.5 * abs(float((points[12] - points[4]) @ self.eu))
        ys, xs = np.mgrid[0:FRAME_SIZE, 0:FRAME_SIZE].astype(np.float64)
        u, v = self._local(np.stack([xs, ys], -1))
        jaw, lips = self._jaw_weight(u, v), self._lip_weight(u, v)
        # Only pixels that the widest opening or strongest rounding moves by 0.2 px or more are
        # re-rendered: a smaller shift changes a pixel by a grey level or two.
        reach = np.maximum(JAW_DROP * self.width * MAX_OPENING * jaw, ROUNDING * np.abs(u) * lips)
        moving = reach > 0.2
        rows, cols = np.nonzero(moving)
        self.box = np.s_[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        self.u, self.v, self.jaw, self.lips = (
            u[self.box],
            v[self.box],
            jaw[self.box],
            lips[self.box],
        )

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
        region = cv2.remap(self.still, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT).astype(np.float64)  # fmt: skip
        if drop > 0.5:
            region = self._paint_cavity(region, drop, rounding)
        frame = self.still.copy()
        frame[self.box] = np.clip(region, 0, 255).astype(np.uint8)
        return frame, self._moved_landmarks(drop, rounding)

    def _paint_cavity(self, region: np.ndarray, drop: float, rounding: float) -> np.ndarray:
        """The mouth's inside (and upper teeth) drawn into the re-rendered `region`."""
        half_width = 0.38 * self.width * (1.0 - 0.3 * rounding)
        half_height = drop / 2
        inside = 1.0 - (self.u / half_width) ** 2 - ((self.v - half_height) / half_height) ** 2
        cavity = np.clip(inside * 4.0, 0.0, 1.0)[..., None]  # soft edge
        teeth_shown = np.clip((drop - 0.1 * self.width) / (0.1 * self.width), 0.0, 1.0)
        teeth = cavity * teeth_shown * _smoothstep(-self.v, -0.3 * drop, -0.2 * drop)[..., None]
        region = region * (1 - cavity) + CAVITY_RGB * self.tone * cavity
        return region * (1 - teeth) + TEETH_RGB * min(self.tone, 1.0) * teeth

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
