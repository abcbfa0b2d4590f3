"""The transcription pipeline: an AV-RelScore model and a video or audio file in; the transcript
with its per-frame reliability as JSON (`Transcription.as_json`) and as plain text out."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from modelzoo.avrelscore import inference
from modelzoo.avrelscore.model import AVRelScore
from modelzoo.media.probe import MediaInfo

Progress = Callable[[float, str], None]


def _no_progress(frac: float, msg: str) -> None:
    """The default progress callback: report nothing."""


def transcribe(
    model: AVRelScore,
    media: Path,
    out_json: Path,
    out_text: Path,
    *,
    decoder: str = "greedy",
    beam_size: int = 10,
    ctc_weight: float = 0.1,
    info: MediaInfo | None = None,
    progress: Progress = _no_progress,
) -> tuple[Path, Path]:
    """Transcribe `media` (see `modelzoo.avrelscore.inference.transcribe` for the settings) and
    write `out_json` (the whole Transcription) and `out_text` (the words)."""
    result = inference.transcribe(
        model,
        Path(media),
        decoder=decoder,
        beam_size=beam_size,
        ctc_weight=ctc_weight,
        info=info,
        progress=progress,
    )
    for out in (out_json, out_text):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out_json).write_text(json.dumps(result.as_json()) + "\n")
    Path(out_text).write_text(result.text + "\n")
    return Path(out_json), Path(out_text)
