"""Rows of the talking-face generators: each model, plus the `real` clips and a `static` baseline.

Each generator is driven through the generation pipeline that jobs use
(`modelzoo.pipelines.generate`, with `modelzoo.zoo.loading.load_for_inference`' inference copy)
from the clip's first frame as a photo and the clip's own audio; its output is scored against the
real clip (`modelzoo.metrics.clip`).
`real` is the corpus clip scored against itself (PSNR capped, SSIM 1, LMD 0: the ceiling of the
full-reference metrics and the judges' figures on real video); `static` repeats the first frame
with the real audio, the floor that a generator whose mouth never moves would reach.
On clips with phone timings, each system's lip shapes per phone are collected for the
co-articulation check (`modelzoo.metrics.coarticulation`).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import cv2
import numpy as np

from modelzoo.evaluation.corpus import CorpusClip
from modelzoo.media.faces import FaceTrack
from modelzoo.metrics import coarticulation
from modelzoo.metrics.clip import FACE_SIZE, ClipMedia, Judges, face_crops_of, score_clip
from modelzoo.metrics.image import mouth_box

STRIP_FRAMES = 6  # frames per system in the report's frame strip
PROTOCOL = {
    "input": "the clip's first frame as a photo + the clip's audio, "
    "through modelzoo.pipelines.generate",
    "real": "the corpus clip scored against itself",
    "static": "the first frame repeated with the clip's audio",
}


def static_clip(real: ClipMedia) -> ClipMedia:
    """The first frame repeated for the clip's length, with its audio and its face track."""
    frames = np.repeat(real.frames[:1], len(real.frames), axis=0)
    track = None
    if real.track is not None:
        first = real.track

        def tiled(a):
            return np.repeat(a[:1], len(frames), axis=0)

        track = FaceTrack(
            tiled(first.landmarks),
            tiled(first.raw),
            np.zeros(len(frames), bool),
            [],
            first.frame_size,
        )
    return ClipMedia(frames, real.audio, track)


def generated_clip(model, clip: CorpusClip, first_frame: Path, tmp: Path) -> ClipMedia:
    """The generator's output for the clip's first frame and audio, read back from its MP4."""
    from modelzoo.pipelines.generate import generate

    out = tmp / "generated.mp4"
    generate(model, first_frame, clip.video, out)
    return ClipMedia.read(out)


def strip(clip: ClipMedia, reference: ClipMedia) -> np.ndarray | None:
    """STRIP_FRAMES lower-face crops (96x96) spread over the clip, side by side, at the
    reference's mouth; None without a reference face."""
    if reference.track is None:
        return None
    points = reference.track.filled()
    count = min(len(clip.frames), len(points))
    tiles = []
    for i in np.linspace(0, count - 1, STRIP_FRAMES).round().astype(int):
        x1, y1, x2, y2 = mouth_box(points[i], reference.frame_size)
        cx, cy, half = (x1 + x2) // 2, (y1 + y2) // 2, max(x2 - x1, y2 - y1)
        h, w = reference.frame_size
        box = (max(0, cx - half), max(0, cy - half), min(w, cx + half), min(h, cy + half))
        tile = clip.frames[i][box[1] : box[3], box[0] : box[2]]
        tiles.append(cv2.resize(tile, (96, 96), interpolation=cv2.INTER_AREA))
    return np.concatenate(tiles, axis=1)


def save_face_crops(media: ClipMedia, reference: ClipMedia, folder: Path, clip_index: int):
    """Face crops of `media` at the reference's boxes, as PNGs for FID."""
    if reference.track is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for i, crop in enumerate(face_crops_of(media, reference.track, FACE_SIZE)):
        cv2.imwrite(str(folder / f"{clip_index:05d}-{i:05d}.png"), crop[:, :, ::-1])


def evaluate_generators(
    models: dict[str, object],
    clips: list[CorpusClip],
    judges: Judges,
    progress,
    strips: dict[str, np.ndarray],
    crops_dir: Path | None = None,
    tokens: dict[str, list[coarticulation.Token]] | None = None,
) -> dict[str, list[dict]]:
    """Per-clip scores of `real`, `static` and each generator: {system: [scores per clip]}.

    `strips` receives each system's frame strip of the first clip; with `crops_dir`, every
    system's face crops are written to `crops_dir/<system>/` for FID; `tokens` receives each
    system's phone tokens of the clips with phone timings.
    """
    scores: dict[str, list[dict]] = {"real": [], "static": [], **{m: [] for m in models}}
    for index, clip in enumerate(clips):
        progress(index, f"generation clip {index + 1}/{len(clips)}: {clip.name}")
        real = ClipMedia.read(clip.video)
        systems = {"real": real, "static": static_clip(real)}
        with tempfile.TemporaryDirectory(prefix="synclab-evaluate-") as tmp:
            first = Path(tmp) / "first.png"
            cv2.imwrite(str(first), cv2.cvtColor(real.frames[0], cv2.COLOR_RGB2BGR))
            for model_id, model in models.items():
                progress(index, f"generating clip {index + 1} with {model_id}")
                with contextlib.redirect_stdout(io.StringIO()):
                    systems[model_id] = generated_clip(model, clip, first, Path(tmp))
        for name, media in systems.items():
            result = score_clip(media, judges, reference=real, spoken=clip.text)
            scores[name].append({"clip": clip.name, **result})
            if crops_dir is not None:
                save_face_crops(media, real, crops_dir / name, index)
            if tokens is not None and clip.phones and media.track is not None:
                shapes = coarticulation.lip_shapes(media.track.raw)
                tokens.setdefault(name, []).extend(coarticulation.phone_tokens(clip.phones, shapes))
            if index == 0:
                tiles = strip(media, real)
                if tiles is not None:
                    strips[name] = tiles
    return scores
