"""Evaluation corpora: SynthGrid's layout (or LRS2/LRS3's), the clips of a split and a fingerprint.

A corpus folder lists the clips of a split in `filelists/<split>.txt` (SynthGrid, Wav2Lip) or
`<split>.txt` at its root (LRS2, LRS3), one name a line, the name first; a clip is `<name>.mp4`
(or `main/<name>.mp4`, LRS2's layout) with its transcript in `<name>.txt` ("Text:  WORDS", LRS
style, or the words alone). SynthGrid's `<name>.json` adds the clip's phone timings, which the
co-articulation check reads (`modelzoo.metrics.coarticulation`). The fingerprint hashes the list
of clips used and each file's bytes, so two reports with the same fingerprint scored the same
media.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from modelzoo.errors import UserError

DEFAULT_LIMIT = 10  # clips: every bundled model in under 15 minutes on 2 CPU cores


@dataclass(frozen=True)
class CorpusClip:
    name: str
    video: Path
    text: str
    phones: tuple = ()  # ([symbol, start s, end s], ...) from SynthGrid's <name>.json, if any
    engine: str = ""  # the speech engine that voiced it (SynthGrid's <name>.json), if known


def _filelist(root: Path, split: str) -> Path:
    for candidate in (root / "filelists" / f"{split}.txt", root / f"{split}.txt"):
        if candidate.is_file():
            return candidate
    raise UserError(
        f"--corpus: {root} has no filelists/{split}.txt or {split}.txt listing the {split} clips"
    )


def _video(root: Path, name: str) -> Path:
    for candidate in (root / f"{name}.mp4", root / "main" / f"{name}.mp4"):
        if candidate.is_file():
            return candidate
    raise UserError(f"--corpus: clip {name} is listed but {root / name}.mp4 is missing")


def transcript(path: Path) -> str:
    """The words of an LRS-style transcript file (first line, after "Text:")."""
    first = path.read_text().splitlines()[0] if path.is_file() else ""
    return first.split(":", 1)[1].strip() if first.startswith("Text:") else first.strip()


def synthgrid_meta(video: Path) -> dict:
    """SynthGrid's `<name>.json` beside the clip (phone timings, voice, face); {} without one."""
    meta = video.with_suffix(".json")
    return json.loads(meta.read_text()) if meta.is_file() else {}


def read_clips(root: Path, split: str = "test", limit: int | None = None) -> list[CorpusClip]:
    """The first `limit` clips of `split` (all when None), in the file list's order."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"--corpus: {root} is not a folder")
    names = [line.split()[0] for line in _filelist(root, split).read_text().splitlines()]
    names = [n for n in names if n]
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit: {limit} must be 1 or more")
        names = names[:limit]
    if not names:
        raise UserError(f"--corpus: the {split} list of {root} names no clips")
    clips = []
    for name in names:
        video = _video(root, name)
        text = transcript(video.with_suffix(".txt"))
        meta = synthgrid_meta(video)
        phones = tuple(tuple(p) for p in meta.get("phones", ()))
        clips.append(CorpusClip(name, video, text, phones, meta.get("voice", {}).get("engine", "")))
    return clips


def fingerprint(root: Path, split: str, clips: list[CorpusClip]) -> dict:
    """{"path", "split", "clips", "sha256", and SynthGrid's recipe from corpus.json if any}."""
    digest = hashlib.sha256()
    for clip in clips:
        digest.update(clip.name.encode() + b"\0")
        digest.update(hashlib.sha256(clip.video.read_bytes()).digest())
        digest.update(clip.text.encode() + b"\0")
    out = {"path": str(root), "split": split, "clips": len(clips), "sha256": digest.hexdigest()}
    recipe = Path(root) / "corpus.json"
    if recipe.is_file():
        made = json.loads(recipe.read_text())
        out["recipe"] = {k: made[k] for k in ("version", "seed", "utterances") if k in made}
    return out
