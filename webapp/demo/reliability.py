"""The Transcribe tab's reliability plot: how each stream's scores move frame by frame.

AV-RelScore scores every frame of each stream with 128 channel reliabilities. Their mean sits near
0.5 whatever the input, so the plot shows instead how far each frame's channel scores are from
the stream's usual scores in that clip (`reliability_change` in transcript.json), one panel per
stream, with the stream's median level as a dashed line. When the clip came from a corruption job
the stretches it corrupted (its corruption.json) are shaded, so a visitor can see whether the
scores react where the noise or occlusion is.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on the server; set before pyplot is imported

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

STREAMS = {"audio": "tab:blue", "video": "tab:orange"}
SHADE = "tab:red"


def _stretches(stream: str, corruption: dict | None) -> list[tuple[float, float]]:
    """[start_s, stop_s) stretches of `stream` that the corruption job corrupted."""
    if not corruption:
        return []
    if stream == "audio":
        return [(float(a), float(b)) for a, b in corruption.get("audio_stretches_s") or []]
    fps = corruption.get("fps", 25)
    return [(a / fps, b / fps) for a, b in corruption.get("video_frames") or []]


def _what_was_done(stream: str, corruption: dict | None) -> str:
    settings = (corruption or {}).get(stream)
    if not settings:
        return ""
    if stream == "audio":
        return f"{settings['noise']} noise at {settings['snr_db']:g} dB"
    return str(settings["kind"])


def reliability_figure(result: dict, corruption: dict | None, path: Path) -> Path | None:
    """Write the plot of a transcript (transcript.json's content) as a PNG at `path`; None when
    the model scored no stream (the baselines have no reliability scorer)."""
    changes = result.get("reliability_change") or {}
    shown = [stream for stream in STREAMS if changes.get(stream)]
    if not shown:
        return None
    fps = result.get("fps", 25)
    figure, axes = plt.subplots(len(shown), 1, figsize=(8, 1.9 * len(shown) + 0.6), sharex=True)
    axes = np.atleast_1d(axes)
    for axis, stream in zip(axes, shown, strict=True):
        change = np.asarray(changes[stream], dtype=float)
        times = np.arange(len(change)) / fps
        for start, stop in _stretches(stream, corruption):
            axis.axvspan(start, stop, color=SHADE, alpha=0.15, linewidth=0)
        axis.plot(times, change, color=STREAMS[stream], linewidth=1.4)
        axis.axhline(np.median(change), color="grey", linestyle="--", linewidth=0.8)
        axis.set_ylim(0, max(0.05, float(change.max()) * 1.15))
        done = _what_was_done(stream, corruption)
        title = f"{stream}: change of the 128 channel scores from their usual values"
        axis.set_title(f"{title}" + (f" (shaded: {done})" if done else ""), fontsize=9, loc="left")
        axis.set_ylabel("RMS change", fontsize=8)
        axis.tick_params(labelsize=8)
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)", fontsize=8)
    axes[-1].set_xlim(0, max(len(changes[s]) for s in shown) / fps)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
