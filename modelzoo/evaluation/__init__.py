"""`python -m modelzoo evaluate`: zoo models scored on a corpus with the papers' metrics.

Generators (alm, cals) get a row each beside `real` and `static` (see `generators`), speech
recognisers (avrelscore) a row per condition and a reliability object (see `avsr`), SyncNet judges
a row on real and delayed clips (see `judges`). `evaluate()` writes report.json, report.md and
PNG plots into the output folder (see `report`) and returns the report; it reports progress as
`progress(fraction, message)` as the pipelines do; the CLI prints the messages on stderr.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from modelzoo.errors import UserError
from modelzoo.evaluation import avsr, corpus, generators, judges, report
from modelzoo.evaluation.corpus import DEFAULT_LIMIT
from modelzoo.metrics import coarticulation, fid, lipreading
from modelzoo.metrics.clip import Judges

ROLES = {"alm": "generator", "cals": "generator", "avrelscore": "recogniser", "syncnet": "judge"}
REPORT_VERSION = "synclab-evaluate-1"


Progress = Callable[[float, str], None]
Loader = Callable[[str], object]


def load_quietly(model_id: str):
    """A zoo model as jobs run it (`modelzoo.zoo.loading.load_for_inference`), on the CPU."""
    from modelzoo.zoo.loading import load_for_inference

    with contextlib.redirect_stdout(io.StringIO()):  # the Hub mixin prints while loading
        return load_for_inference(model_id)


def _load(model_id: str, loader: Loader):
    """(role, loaded model, revision, architecture) of a zoo id with weights here."""
    from modelzoo.zoo.loading import weights_available
    from modelzoo.zoo.registry import entry, pinned_revision

    e = entry(model_id)
    if not weights_available(e):
        raise UserError(f"--model: the weights of {model_id} are not here; {e.where_to_get}")
    return ROLES[e.architecture], loader(model_id), pinned_revision(e), e.architecture


def _stage(progress: Progress, stage: int, stages: int, clips: int):
    """The progress callback of one stage: (clip index, message) -> overall fraction."""
    return lambda index, message: progress((stage + index / clips) / stages, message)


def _generation(models, clips, scorers, progress, strips, unavailable) -> list[dict]:
    """Generator rows; FID beside them when it can run here, else its reason in `unavailable`,
    and the co-articulation check on corpora with phone timings."""
    tokens: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="synclab-fid-") as tmp:
        crops = Path(tmp)
        try:
            fid.check_available()
        except fid.FIDUnavailable as err:
            unavailable["fid"], crops = str(err), None
        scores = generators.evaluate_generators(
            models, clips, scorers, progress, strips, crops, tokens
        )
        rows = report.generation_rows(scores, clips)
        for row in rows:
            if crops is not None and row["model"] != "real":
                progress(len(clips) - 1, f"FID of {row['model']}")
                row["metrics"]["fid"] = fid.fid(crops / "real", crops / row["model"])
    _coarticulation(rows, tokens, unavailable)
    return rows


def _coarticulation(rows: list[dict], tokens: dict[str, list], unavailable: dict) -> None:
    """Each generation row's coart_spread and coart_corr (against `real`), or the reason why not
    in `unavailable`."""
    if "real" not in tokens:
        unavailable["coarticulation"] = (
            "needs phone timings (SynthGrid's <clip>.json) and a face in the real clips"
        )
        return
    found = coarticulation.compare(tokens, reference="real")
    empty = {"coart_spread": None, "coart_corr": None, "coart_cells": 0}
    for row in rows:
        row["metrics"].update(found.get(row["model"], empty))


def evaluate(
    model_ids: list[str],
    corpus_dir: Path,
    out_dir: Path,
    *,
    split: str = "test",
    limit: int | None = DEFAULT_LIMIT,
    seed: int = 0,
    syncnet: str = "syncnet-demo",
    progress: Progress = lambda fraction, message: None,
    loader: Loader = load_quietly,
) -> dict:
    """Score `model_ids` on the first `limit` clips of the corpus's `split`; write the report.

    `loader(model_id)` gives each model (the worker passes its model cache)."""
    if not model_ids:
        raise UserError("--model: name at least one zoo model to evaluate")
    started, cpu_started = time.perf_counter(), time.process_time()
    clips = corpus.read_clips(Path(corpus_dir), split, limit)
    progress(0.0, f"corpus: {len(clips)} {split} clips of {corpus_dir}")
    loaded = {"generator": {}, "recogniser": {}, "judge": {}}
    models = []
    for model_id in dict.fromkeys(model_ids):
        role, model, revision, architecture = _load(model_id, loader)
        loaded[role][model_id] = model
        models.append(
            {"id": model_id, "revision": revision, "architecture": architecture, "role": role}
        )
    in_memory = {**loaded["recogniser"], **loaded["judge"]}
    if syncnet and syncnet not in in_memory:
        in_memory[syncnet] = loader(syncnet)
    reader = lipreading.lip_reader_id() if loaded["generator"] else None
    if reader and reader not in in_memory:
        in_memory[reader] = loader(reader)
    scorers = Judges.load(syncnet, reader, in_memory)
    stages = [role for role in ("generator", "recogniser", "judge") if loaded[role]]
    rows, reliability, traces, strips, unavailable = [], {}, {}, {}, {}
    by_engine = {}
    protocol = {"version": REPORT_VERSION, "seed": seed, **scorers.protocol()}
    if loaded["generator"]:
        tick = _stage(progress, stages.index("generator"), len(stages), len(clips))
        rows += _generation(loaded["generator"], clips, scorers, tick, strips, unavailable)
        protocol["generation"] = generators.PROTOCOL
        if "coarticulation" not in unavailable:
            protocol["coarticulation"] = coarticulation.PROTOCOL
        if "fid" not in unavailable:
            protocol["fid"] = fid.PROTOCOL
    if loaded["recogniser"]:
        tick = _stage(progress, stages.index("recogniser"), len(stages), len(clips))
        tallies = avsr.evaluate_recognisers(loaded["recogniser"], clips, seed, tick)
        for model_id, tally in tallies.items():
            rows += tally.rows(model_id)
            reliability[model_id] = tally.reliability()
            traces[model_id] = tally.traces
            if engines := tally.by_engine():
                by_engine[model_id] = engines
        protocol["recognition"] = avsr.PROTOCOL
    if loaded["judge"]:
        tick = _stage(progress, stages.index("judge"), len(stages), len(clips))
        rows += judges.evaluate_judges(loaded["judge"], clips, tick)
        protocol["judges"] = {"shift_frames": judges.SHIFT_FRAMES}
    result = {
        "protocol": protocol,
        "corpus": corpus.fingerprint(Path(corpus_dir), split, clips),
        "models": models,
        "rows": rows,
        "reliability": reliability,
        "recognition_by_engine": by_engine,
        "traces": traces,
        "unavailable": unavailable,
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),  # this process, all threads
    }
    progress(0.99, "writing the report")
    report.write(result, strips, Path(out_dir))
    return result
