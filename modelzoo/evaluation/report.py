"""The evaluation report: rows aggregated over clips, report.json, report.md and PNG plots.

Plots (matplotlib, Agg): `wer_vs_snr.png` (each recogniser's WER against babble SNR, its clean
WER dashed), `reliability.png` (per-frame reliability of a few clips under the `both` condition,
the corrupted video frames shaded) and `frame_strip.png` (the lower face of the first clip at six
moments, one line per system, the real clip on top).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from modelzoo.evaluation.corpus import CorpusClip
from modelzoo.metrics import text

GENERATION_COLUMNS = (
    "psnr", "ssim", "psnr_mouth", "ssim_mouth", "lmd", "lse_c", "lse_d", "offset",
    "sharpness", "lip_wer", "face_frames", "fid", "coart_spread", "coart_corr",
)  # fmt: skip
RECOGNITION_COLUMNS = ("wer", "cer", "clips")
JUDGE_COLUMNS = (
    "lse_c_real", "lse_d_real", "lse_c_shifted", "lse_d_shifted", "offset_accuracy",
    "shift_accuracy", "clips",
)  # fmt: skip


def _mean(values) -> float | None:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else None


def generation_rows(scores: dict[str, list[dict]], clips: list[CorpusClip]) -> list[dict]:
    """One row per system: per-clip metrics averaged, `lip_wer` pooled over the clips' words,
    `offset` the mean absolute offset, `in_sync` the share of clips within one frame of 0 and
    `face_frames` the mean share of frames where the tracker found a face."""
    spoken = {clip.name: clip.text for clip in clips}
    rows = []
    for system, per_clip in scores.items():
        metrics = {}
        for name in ("psnr", "ssim", "psnr_mouth", "ssim_mouth", "lmd", "lse_c", "lse_d"):
            metrics[name] = _mean([c.get(name) for c in per_clip])
        offsets = [abs(c["offset"]) for c in per_clip if c.get("offset") is not None]
        metrics["offset"] = _mean(offsets)
        metrics["in_sync"] = _mean([o <= 1 for o in offsets])
        metrics["sharpness"] = _mean([c.get("sharpness") for c in per_clip])
        read = [
            (spoken[c["clip"]], c["lip_text"]) for c in per_clip if c.get("lip_text") is not None
        ]
        metrics["lip_wer"] = text.corpus_wer(*zip(*read, strict=True)) if read else None
        metrics["face_frames"] = _mean([c["face_frames"] / max(c["frames"], 1) for c in per_clip])
        metrics["fid"] = None
        metrics["clips"] = len(per_clip)
        condition = "reference" if system in ("real", "static") else "first frame + audio"
        rows.append(
            {"model": system, "condition": condition, "metrics": metrics, "clips": per_clip}
        )
    return rows


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def _table(rows: list[dict], columns: tuple[str, ...], with_condition: bool) -> list[str]:
    head = ["model", *(["condition"] if with_condition else []), *columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["model"], *([row["condition"]] if with_condition else [])]
        cells += [_cell(row["metrics"].get(c)) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _engine_table(by_engine: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """One row per model and speech engine, one column per condition."""
    conditions = list(dict.fromkeys(c for e in by_engine.values() for w in e.values() for c in w))
    lines = ["| model | engine | " + " | ".join(conditions) + " |"]
    lines.append("|" + "---|" * (len(conditions) + 2))
    for model_id, engines in by_engine.items():
        for engine, wer in sorted(engines.items()):
            cells = [_cell(wer.get(c)) for c in conditions]
            lines.append(f"| {model_id} | {engine} | " + " | ".join(cells) + " |")
    return lines


def markdown(result: dict, plots: list[str]) -> str:
    rows = result["rows"]
    roles = {m["id"]: m["role"] for m in result["models"]}
    generation = [r for r in rows if roles.get(r["model"], "generator") == "generator"]
    recognition = [r for r in rows if roles.get(r["model"]) == "recogniser"]
    judged = [r for r in rows if roles.get(r["model"]) == "judge"]
    corpus = result["corpus"]
    lines = [
        "# SyncLab evaluation report",
        "",
        f"Corpus `{corpus['path']}`, split `{corpus['split']}`, {corpus['clips']} clips, "
        f"sha256 `{corpus['sha256'][:16]}`; {result['seconds']} s wall, "
        f"{result['cpu_seconds']} s CPU in this process.",
        "",
        "Models: "
        + ", ".join(f"`{m['id']}` ({m['revision'] or 'unpinned'})" for m in result["models"]),
    ]
    if generation:
        lines += ["", "## Generation", "", *_table(generation, GENERATION_COLUMNS, False)]
    if recognition:
        lines += ["", "## Recognition", "", *_table(recognition, RECOGNITION_COLUMNS, True)]
    if by_engine := result.get("recognition_by_engine"):
        lines += ["", "## Recognition WER by speech engine", "", *_engine_table(by_engine)]
    if result["reliability"]:
        lines += ["", "## Reliability (AUROC, clean vs corrupted frames)", ""]
        lines += ["| model | video_auroc | audio_auroc |", "|---|---|---|"]
        for model_id, found in result["reliability"].items():
            cells = [_cell(found.get("video_auroc")), _cell(found.get("audio_auroc"))]
            lines.append(f"| {model_id} | " + " | ".join(cells) + " |")
    if judged:
        lines += ["", "## SyncNet judges", "", *_table(judged, JUDGE_COLUMNS, True)]
    for name, reason in result["unavailable"].items():
        lines += ["", f"`{name}` was not computed: {reason}"]
    if plots:
        lines += ["", "## Plots", "", *(f"![{p}]({p})" for p in plots)]
    protocol = json.dumps(result["protocol"], indent=2)
    lines += ["", "## Protocol", "", "```json", protocol, "```", ""]
    return "\n".join(lines)


def write(result: dict, strips: dict[str, np.ndarray], out_dir: Path) -> list[Path]:
    """Write report.json, report.md and the plots that have data; the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = plot_all(result, strips, out_dir)
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    json_path.write_text(json.dumps(result, indent=2, default=_json_default) + "\n")
    md_path.write_text(markdown(result, [p.name for p in plots]))
    return [json_path, md_path, *plots]


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def plot_all(result: dict, strips: dict[str, np.ndarray], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and workers
    written = []
    for plot in (_wer_vs_snr, _reliability, _frame_strip):
        path = plot(result, strips, out_dir)
        if path is not None:
            written.append(path)
    return written


def _wer_vs_snr(result: dict, strips, out_dir: Path) -> Path | None:
    import matplotlib.pyplot as plt

    from modelzoo.evaluation.avsr import SNRS_DB

    by_model: dict[str, dict[str, float | None]] = {}
    for row in result["rows"]:
        if row["condition"] == "clean" or row["condition"].startswith("babble_"):
            by_model.setdefault(row["model"], {})[row["condition"]] = row["metrics"]["wer"]
    if not by_model:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for model_id, wers in by_model.items():
        values = [wers.get(f"babble_{snr}db") for snr in SNRS_DB]
        line = ax.plot(SNRS_DB, [np.nan if v is None else 100 * v for v in values], "o-")[0]
        line.set_label(model_id)
        if wers.get("clean") is not None:
            ax.axhline(
                100 * wers["clean"], ls="--", color=line.get_color(), label=f"{model_id} clean"
            )
    ax.set(xlabel="babble SNR (dB)", ylabel="WER (%)", title="WER against SNR")
    ax.set_xticks(SNRS_DB)
    tallest = max(
        (100 * v for w in by_model.values() for v in w.values() if v is not None), default=0
    )
    ax.set_ylim(0, max(100.0, tallest * 1.1))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = out_dir / "wer_vs_snr.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _reliability(result: dict, strips, out_dir: Path) -> Path | None:
    import matplotlib.pyplot as plt

    traces = [(m, t) for m, found in result["traces"].items() for t in found]
    if not traces:
        return None
    fig, axes = plt.subplots(len(traces), 1, figsize=(7, 2.2 * len(traces)), squeeze=False)
    for ax, (model_id, trace) in zip(axes[:, 0], traces, strict=True):
        corrupted = np.asarray(trace["video_corrupted"], bool)
        for start, stop in _runs(corrupted):
            ax.axvspan(start - 0.5, stop - 0.5, color="tab:red", alpha=0.15, lw=0)
        for stream, colour in (("video", "tab:blue"), ("audio", "tab:orange")):
            if trace[stream] is not None:
                ax.plot(trace[stream], color=colour, label=f"{stream} reliability")
        ax.set(ylim=(0, 1), ylabel="score", title=f"{model_id}: {trace['clip']} (both)")
        ax.legend(loc="lower right", fontsize="small")
    axes[-1, 0].set_xlabel("frame (shaded: corrupted video; audio: babble 0 dB throughout)")
    fig.tight_layout()
    path = out_dir / "reliability.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _frame_strip(result: dict, strips: dict[str, np.ndarray], out_dir: Path) -> Path | None:
    import matplotlib.pyplot as plt

    if not strips:
        return None
    names = sorted(strips, key=lambda n: (n != "real", n != "static", n))
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 1.35 * len(names)), squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
        ax.imshow(strips[name])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
    fig.suptitle("the first clip around the mouth, at six moments")
    fig.tight_layout()
    path = out_dir / "frame_strip.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
