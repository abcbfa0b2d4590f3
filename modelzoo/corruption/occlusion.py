"""Lip occlusion by object patches anchored on a mouth landmark, after AV-RelScore (2303.08536).

Recipe: papers.md §4.5 (a), read in joannahong/AV-RelScore@17b9f02 `Visual_perturb.py` (test) and
ms-dot-k/AVSR@2a287f5 `src/data/visual_corruption.py` (training); both CC BY-NC 4.0, this is an
independent implementation. A patch (an object image ANDed with its mask, augmented with blur, JPEG,
affine and brightness/contrast like the albumentations chain there, resized with Lanczos) is
alpha-blended with its top-left corner at a random mouth landmark (0-based 48..67) minus an offset,
for each frame of 1-3 segments.

Departures, on purpose: (1) each frame uses its own landmarks, not the reference code's i-th frame
of the clip; (2) the training recipe takes (x, y) in that order, where the reference code swaps
them; (3) the test recipe's patch (42 px) and offset (15 px) on LRS3's 224-px frames are scaled
here by the face's eye-centre distance (taken as 47.5 px in those frames, 224 x 54.3 / 256 from the
canonical face), so that the patch covers the same part of any face at any resolution.

The papers' occluders (NatOcc COCO objects) cannot be downloaded here; `default_occluders()` cuts
objects out of images that scikit-image bundles, and `load_occluders(folder)` reads a user's set.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from modelzoo.corruption.video import fraction_spans, recipe_spans
from modelzoo.errors import UserError

MOUTH_POINTS = (48, 68)  # 0-based iBUG mouth landmarks, [48, 68)
REFERENCE_EYE_DISTANCE = 224 * 54.3 / 256  # px, in LRS3's 224-px frames
TEST_SIZE_PER_EYE_DISTANCE = 42 / REFERENCE_EYE_DISTANCE
TEST_OFFSET_PER_EYE_DISTANCE = 15 / REFERENCE_EYE_DISTANCE
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class Occluder:
    """An object patch: RGB uint8 image (h, w, 3), already ANDed with its mask (h, w) in [0, 1]."""

    name: str
    image: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class OcclusionSegment:
    """Frames [start, stop) get `patch` at landmark `point` minus `offset` px on both axes."""

    start: int
    stop: int
    patch: Occluder
    point: int
    offset: float


def make_occluder(name: str, image: np.ndarray, mask: np.ndarray) -> Occluder:
    """Occluder from RGB(A)/gray uint8 `image` and a mask of any size (resized with Lanczos)."""
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = np.ascontiguousarray(image[:, :, :3])
    if mask.ndim == 3:
        mask = mask[:, :, -1] if mask.shape[2] in (2, 4) else mask[:, :, 0]
    if mask.shape != image.shape[:2]:
        size = (image.shape[1], image.shape[0])
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_LANCZOS4)
    alpha = np.clip(mask.astype(np.float32) / (255.0 if mask.dtype == np.uint8 else 1.0), 0, 1)
    image = np.where(alpha[:, :, None] > 0, image, 0).astype(np.uint8)  # the recipe's bitwise AND
    return Occluder(name, image, alpha)


def load_occluders(folder: str | Path) -> list[Occluder]:
    """A user's occluder set: `NAME.jpg|png` with `NAME_mask.png`, RGBA PNGs (alpha is the mask),
    or NatOcc's layout (`object_image_sr/NAME.jpeg` with `object_mask_x4/NAME.png`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"occluders: {folder} is not a folder")
    images, masks = folder, folder
    if (folder / "object_image_sr").is_dir() and (folder / "object_mask_x4").is_dir():
        images, masks = folder / "object_image_sr", folder / "object_mask_x4"
    occluders = []
    for path in sorted(images.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.stem.endswith("_mask"):
            continue
        image = _read_image(path)
        mask_path = next(
            (
                p
                for p in (masks / f"{path.stem}_mask.png", masks / f"{path.stem}.png")
                if p.is_file() and p != path
            ),
            None,
        )
        if mask_path is not None:
            occluders.append(make_occluder(path.stem, image, _read_image(mask_path)))
        elif image.ndim == 3 and image.shape[2] == 4:
            occluders.append(make_occluder(path.stem, image, image[:, :, 3]))
    if not occluders:
        raise UserError(
            f"occluders: no image + mask pairs in {folder.name} "
            "(expected NAME.jpg with NAME_mask.png, or RGBA PNGs)"
        )
    return occluders


@functools.lru_cache(maxsize=1)
def default_occluders() -> tuple[Occluder, ...]:
    """Objects cut from scikit-image's bundled pictures, with masks made here (see _CUTS)."""
    from skimage import data

    pictures = {
        "coffee": data.coffee,
        "motorcycle": lambda: data.stereo_motorcycle()[0],
        "astronaut": data.astronaut,
        "logo": lambda: data.logo()[:, :, :3],
        "horse": lambda: _silhouette(~data.horse(), (74, 52, 38)),
        "colorwheel": data.colorwheel,
        "coins": data.coins,
    }
    out = []
    for name, picture, cut in _CUTS:
        out.extend(cut(name, pictures[picture]()))
    return tuple(out)


def augment(occ: Occluder, rng: np.random.Generator) -> Occluder:
    """The test recipe's patch augmentation: blur (p 0.5), JPEG 70-100 (p 0.5), affine with
    scale 0.8-1.2, rotation +-15 deg and shear +-8 deg, grown to fit (p 0.7), brightness and
    contrast +-0.1 (p 0.5). The blur is an anisotropic Gaussian (albumentations' AdvancedBlur
    also varies the kernel's shape)."""
    image, mask = occ.image.astype(np.float32), occ.mask
    if rng.random() < 0.5:
        image = _anisotropic_blur(image, rng)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(
            ".jpg", _u8(image), [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 101))]
        )
        image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32)
    if rng.random() < 0.7:
        image, mask = _affine(image, mask, rng)
    if rng.random() < 0.5:
        contrast, brightness = 1 + rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1)
        image = image * contrast + brightness * image.mean()
    return Occluder(occ.name, _u8(image * (mask[:, :, None] > 0)), mask)


def resized(occ: Occluder, size: int) -> Occluder:
    """The patch and its mask resized to size x size with Lanczos, as the recipe does."""
    size = max(2, int(size))
    image = cv2.resize(occ.image, (size, size), interpolation=cv2.INTER_LANCZOS4)
    mask = cv2.resize(occ.mask, (size, size), interpolation=cv2.INTER_LANCZOS4)
    return Occluder(occ.name, image, np.clip(mask, 0, 1))


def eye_distance(landmarks: np.ndarray) -> float:
    """Distance between the eye centres (points 36-41 and 42-47) of (68, 2) landmarks."""
    return float(np.linalg.norm(landmarks[42:48].mean(0) - landmarks[36:42].mean(0)))


def plan_occlusion(
    landmarks: np.ndarray,
    fraction: float,
    rng: np.random.Generator,
    occluders: list[Occluder] | tuple[Occluder, ...],
) -> list[OcclusionSegment]:
    """Test-recipe occlusion of round(fraction x T) frames of a clip with (T, 68, 2) landmarks
    (NaN where there is no face): 1-3 segments, each with its own patch and mouth point."""
    spans = fraction_spans(len(landmarks), fraction, rng)
    segments = []
    for span in spans:
        face = landmarks[span.start : span.stop]
        face = face[~np.isnan(face[:, 0, 0])]
        occ = occluders[int(rng.integers(len(occluders)))]
        point = int(rng.integers(*MOUTH_POINTS))
        patch = augment(occ, rng)
        if len(face) == 0:
            continue  # no face in this stretch: nothing to anchor on
        scale = float(np.median([eye_distance(f) for f in face]))
        size = round(TEST_SIZE_PER_EYE_DISTANCE * scale)
        offset = TEST_OFFSET_PER_EYE_DISTANCE * scale
        segments.append(
            OcclusionSegment(span.start, span.stop, resized(patch, size), point, offset)
        )
    return segments


def apply_occlusion(
    frames: np.ndarray, first_index: int, segments: list[OcclusionSegment], landmarks: np.ndarray
) -> np.ndarray:
    """Blend the planned patches, in place, into a chunk of frames (T, H, W, 3); `first_index` is
    the clip index of frames[0] and `landmarks` the clip's (N, 68, 2) track."""
    for offset in range(frames.shape[0]):
        index = first_index + offset
        for seg in segments:
            if seg.start <= index < min(seg.stop, len(landmarks)) and not np.isnan(
                landmarks[index, 0, 0]
            ):
                x, y = landmarks[index, seg.point] - seg.offset
                overlay(frames[offset], seg.patch, int(x), int(y))
    return frames


def overlay(frame: np.ndarray, occ: Occluder, x: int, y: int) -> np.ndarray:
    """Alpha-blend `occ` into `frame` (H, W, C) or (H, W) in place, top-left at (x, y), clipped."""
    h, w = frame.shape[:2]
    ph, pw = occ.mask.shape
    x1, y1, x2, y2 = max(0, x), max(0, y), min(w, x + pw), min(h, y + ph)
    if x1 >= x2 or y1 >= y2:
        return frame
    patch = occ.image[y1 - y : y2 - y, x1 - x : x2 - x].astype(np.float32)
    alpha = occ.mask[y1 - y : y2 - y, x1 - x : x2 - x, None]
    if frame.ndim == 2:
        patch = patch @ np.float32([0.299, 0.587, 0.114])
        alpha = alpha[:, :, 0]
    region = frame[y1:y2, x1:x2].astype(np.float32)
    frame[y1:y2, x1:x2] = np.clip(alpha * patch + (1 - alpha) * region, 0, 255).round()
    return frame


def occlude_training_crops(
    crops: np.ndarray,
    landmarks: np.ndarray,
    rng: np.random.Generator,
    occluders: list[Occluder] | tuple[Occluder, ...],
    *,
    p_clean: float = 0.2,
) -> np.ndarray:
    """Training recipe on mouth crops (T, 96, 96[, C]) uint8 with (T, 68, 2) landmarks in crop
    pixels: with p 0.8, 1-3 segments (10-50% for one, 30-50% each for more) get a 20-45 px
    patch at a mouth point minus a 20-60 px offset (20-40 px with several segments)."""
    if rng.random() < p_clean:
        return crops
    spans = recipe_spans(len(crops), rng, "train")
    max_offset = 60 if len(spans) == 1 else 40
    for span in spans:
        patch = resized(
            augment(occluders[int(rng.integers(len(occluders)))], rng), rng.integers(20, 46)
        )
        point, offset = int(rng.integers(*MOUTH_POINTS)), int(rng.integers(20, max_offset + 1))
        for index in span:
            x, y = landmarks[index, point] - offset
            overlay(crops[index], patch, int(x), int(y))
    return crops


def _read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise UserError(f"occluders: {path.name} is not a readable image")
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
        image = cv2.cvtColor(image, code)
    return image


def _u8(image: np.ndarray) -> np.ndarray:
    return np.clip(image, 0, 255).round().astype(np.uint8)


def _anisotropic_blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sx, sy = rng.uniform(0.2, 1.0, size=2)
    angle = rng.uniform(-np.pi / 2, np.pi / 2)
    half = int(rng.choice([1, 2, 3]))  # kernel 3, 5 or 7
    grid = np.arange(-half, half + 1, dtype=np.float32)
    xx, yy = np.meshgrid(grid, grid)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    kernel = np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    return cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def _affine(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator):
    """Random scale/rotation/shear about the centre, output grown to hold the whole patch."""
    h, w = mask.shape
    scale = rng.uniform(0.8, 1.2)
    rot, shear = np.deg2rad(rng.uniform(-15, 15)), np.deg2rad(rng.uniform(-8, 8))
    linear = (
        scale
        * np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
        @ np.array([[1, np.tan(shear)], [0, 1]])
    )
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) @ linear.T
    lo, hi = corners.min(0), corners.max(0)
    matrix = np.hstack([linear, -lo[:, None]]).astype(np.float32)
    size = (max(1, int(np.ceil(hi[0] - lo[0]))), max(1, int(np.ceil(hi[1] - lo[1]))))
    image = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0)
    mask = cv2.warpAffine(mask, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0)
    return image, mask


def _ellipse_cut(box: tuple[int, int, int, int]):
    """A cut: the ellipse inscribed in `box` (x1, y1, x2, y2) of the picture."""

    def cut(name: str, picture: np.ndarray) -> list[Occluder]:
        x1, y1, x2, y2 = box
        crop = picture[y1:y2, x1:x2]
        mask = np.zeros(crop.shape[:2], np.uint8)
        centre, axes = ((x2 - x1) // 2, (y2 - y1) // 2), ((x2 - x1) // 2 - 1, (y2 - y1) // 2 - 1)
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, -1)
        return [make_occluder(name, crop, cv2.GaussianBlur(mask, (5, 5), 0))]

    return cut


def _alpha_cut(name: str, picture: np.ndarray) -> list[Occluder]:
    """A cut: the picture's own alpha channel is the mask."""
    return [make_occluder(name, picture, picture[:, :, 3])]


def _silhouette(shape: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """An RGBA picture of a boolean `shape` filled with `colour` and a little shading."""
    h, w = shape.shape
    shade = np.linspace(0.8, 1.2, h, dtype=np.float32)[:, None, None]
    rgb = _u8(np.broadcast_to(np.float32(colour), (h, w, 3)) * shade)
    return np.dstack([rgb, shape.astype(np.uint8) * 255])


def _bright_objects_cut(count: int):
    """A cut: the `count` largest bright blobs on a dark background (Otsu threshold, holes
    filled, blobs touching the border left out), each with its own mask."""

    def cut(name: str, picture: np.ndarray) -> list[Occluder]:
        gray = picture if picture.ndim == 2 else cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
        blurred = cv2.GaussianBlur(gray, (5, 5), 0)
        _, binary = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
        contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        h, w = gray.shape
        inner = [c for c in contours if _inside(cv2.boundingRect(c), w, h)]
        out = []
        for k, contour in enumerate(sorted(inner, key=cv2.contourArea, reverse=True)[:count]):
            x, y, cw, ch = cv2.boundingRect(contour)
            mask = np.zeros((ch, cw), np.uint8)
            cv2.drawContours(mask, [contour - [x, y]], -1, 255, -1)
            out.append(make_occluder(f"{name}-{k}", picture[y : y + ch, x : x + cw], mask))
        return out

    return cut


def _inside(rect: tuple[int, int, int, int], width: int, height: int) -> bool:
    x, y, w, h = rect
    return x > 0 and y > 0 and x + w < width and y + h < height


# (name, picture, cut): objects that could plausibly cover a mouth.
_CUTS = (
    ("coffee-cup", "coffee", _ellipse_cut((60, 40, 500, 370))),
    ("tyre", "motorcycle", _ellipse_cut((505, 215, 700, 455))),
    ("mission-patch", "astronaut", _ellipse_cut((137, 352, 203, 418))),
    ("helmet", "astronaut", _ellipse_cut((280, 340, 512, 512))),
    ("logo", "logo", _ellipse_cut((12, 12, 488, 488))),
    ("horse", "horse", _alpha_cut),
    ("colour-wheel", "colorwheel", _ellipse_cut((2, 2, 369, 368))),
    ("coin", "coins", _bright_objects_cut(4)),
)
