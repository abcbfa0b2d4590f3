"""The evaluation pipeline: zoo models scored on a corpus folder; report.json, report.md and the
PNG plots out (see `modelzoo.evaluation`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from modelzoo.evaluation import evaluate as evaluate_models
from modelzoo.evaluation import load_quietly

Progress = Callable[[float, str], None]
REPORT_SUFFIXES = (".json", ".md", ".png")


def _no_progress(frac: float, msg: str) -> None:
    """The default progress callback: report nothing."""


def evaluate(
    model_ids: Sequence[str],
    corpus: Path,
    out_dir: Path,
    *,
    split: str,
    limit: int,
    seed: int,
    syncnet: str,
    progress: Progress = _no_progress,
    loader: Callable[[str], object] = load_quietly,
) -> list[Path]:
    """Score `model_ids` on the corpus's `split` (its first `limit` clips, corruptions drawn from
    `seed`, sync judged by `syncnet`); return the report's files in `out_dir`. `loader(model_id)`
    gives each model (default: load it now)."""
    out_dir = Path(out_dir)
    evaluate_models(
        list(model_ids),
        Path(corpus),
        out_dir,
        split=split,
        limit=limit,
        seed=seed,
        syncnet=syncnet,
        progress=progress,
        loader=loader,
    )
    return sorted(p for p in out_dir.iterdir() if p.suffix in REPORT_SUFFIXES)
