"""Rows of the SyncNet judges: how they score the corpus's real clips in sync and with the audio
delayed by SHIFT_FRAMES.

A judge that works finds the real clips in sync (offset within one frame of 0) and gives the
shifted clips a larger LSE-D and an offset near -SHIFT_FRAMES (syncnet_python's sign).
"""

from __future__ import annotations

import numpy as np

from modelzoo.evaluation.corpus import CorpusClip
from modelzoo.media.mel import SAMPLES_PER_FRAME, melspectrogram
from modelzoo.metrics import sync
from modelzoo.metrics.clip import ClipMedia, face_crops_of

SHIFT_FRAMES = 5


def delayed(audio: np.ndarray, frames: int) -> np.ndarray:
    """The audio delayed by `frames` video frames (silence first), at its own length."""
    return np.concatenate([np.zeros(frames * SAMPLES_PER_FRAME, audio.dtype), audio])[: len(audio)]


def evaluate_judges(models: dict[str, object], clips: list[CorpusClip], progress) -> list[dict]:
    """One row per SyncNet: mean LSE-C/LSE-D of real and shifted clips and offset accuracy."""
    values = {m: {"real": [], "shifted": [], "offset_ok": [], "shift_found": []} for m in models}
    for index, clip in enumerate(clips):
        progress(index, f"sync judge clip {index + 1}/{len(clips)}: {clip.name}")
        real = ClipMedia.read(clip.video)
        if real.track is None or real.audio is None:
            continue
        for model_id, syncnet in models.items():
            crops = face_crops_of(real, real.track, syncnet.config.img_size)
            for key, audio in (
                ("real", real.audio),
                ("shifted", delayed(real.audio, SHIFT_FRAMES)),
            ):
                score = sync.sync_score(*sync.embeddings(syncnet, crops, melspectrogram(audio)))
                if score is None:
                    continue
                values[model_id][key].append(score)
                if key == "real":
                    values[model_id]["offset_ok"].append(abs(score.offset) <= 1)
                else:
                    values[model_id]["shift_found"].append(abs(score.offset + SHIFT_FRAMES) <= 1)
    rows = []
    for model_id, found in values.items():
        metrics = {}
        for key in ("real", "shifted"):
            metrics[f"lse_c_{key}"] = _mean([s.lse_c for s in found[key]])
            metrics[f"lse_d_{key}"] = _mean([s.lse_d for s in found[key]])
        metrics["offset_accuracy"] = _mean(found["offset_ok"])
        metrics["shift_accuracy"] = _mean(found["shift_found"])
        metrics["clips"] = len(found["real"])
        rows.append(
            {"model": model_id, "condition": f"real_vs_delayed_{SHIFT_FRAMES}", "metrics": metrics}
        )
    return rows


def _mean(values) -> float | None:
    return float(np.mean(values)) if len(values) else None
