"""The job layer: per job kind its params model, file roles, eligible models, output names and the
`run()` that calls modelzoo's typed pipelines. It imports no Django, so that the site's form and
worker, the in-process Space and scripts all check and run a job the same way.

A request is checked once, where it arrives (`check_upload` per file, then `check_request`); what
that gives (the probe of each file, the normalised params) is stored with the job and handed to
`run()` as it is, never probed or parsed again. The face is looked for only by `run()`: the web
side checks container, streams and limits, and never loads a face detector.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modelzoo.corruption.params import CorruptionParams, parse_corruption_params
from modelzoo.errors import InvalidMediaError, InvalidParamsError, UserError
from modelzoo.media.probe import MediaInfo, MediaLimits, validate
from modelzoo.media.tts import MAX_TEXT_CHARS
from modelzoo.pipelines.limits import BEAM_SIZES, CTC_WEIGHTS, MAX_BATCH_SIZE
from modelzoo.safe_json import loads_params
from modelzoo.zoo import loading, registry

Progress = Callable[[float, str], None]
MAX_EVALUATE_CLIPS = 500  # clips one evaluate job may score: a bound on a staff job's run time


class Params(BaseModel):
    """A kind's params: strict types (no "5" for 5, no true for 1), no unknown keys."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    @classmethod
    def stored(cls, normalised: dict) -> Params:
        """The params from their stored, already checked form, without checking them again."""
        return cls.model_construct(**normalised)


class GenerateParams(Params):
    text: str | None = Field(None, max_length=MAX_TEXT_CHARS)  # spoken by espeak-ng
    voice: str = "en-us"  # an espeak-ng voice name
    batch_size: int = Field(16, ge=1, le=MAX_BATCH_SIZE)

    @field_validator("text")
    @classmethod
    def _words(cls, text: str | None) -> str | None:
        if text is not None and not text.strip():
            raise ValueError("'text' must be a non-empty string")
        return text.strip() if text is not None else None

    @field_validator("voice")
    @classmethod
    def _voice_name(cls, voice: str) -> str:
        # a letter, then letters, digits, '-', '+' (variant) or '_': never a path, and never a
        # leading '-' that espeak-ng would read as an option
        if not voice[:1].isalpha() or not all(c.isalnum() or c in "-+_" for c in voice):
            raise ValueError("'voice' must be an espeak-ng voice name like en-us")
        return voice


class TranscribeParams(Params):
    decoder: Literal["greedy", "beam"] = "greedy"
    beam_size: int = Field(10, ge=BEAM_SIZES[0], le=BEAM_SIZES[1])
    ctc_weight: float = Field(0.1, ge=CTC_WEIGHTS[0], le=CTC_WEIGHTS[1])


class EvaluateParams(Params):
    # a corpus folder's name, never a path: the server looks for it in its own corpora folder
    corpus: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    split: Literal["train", "val", "test"] = "test"
    limit: int = Field(default_factory=lambda: _default_limit(), ge=1, le=MAX_EVALUATE_CLIPS)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    syncnet: str = "syncnet-demo"  # the zoo SyncNet that judges sync

    @field_validator("syncnet")
    @classmethod
    def _zoo_syncnet(cls, syncnet: str) -> str:
        known = registry.REGISTRY.get(syncnet)
        if known is None or known.architecture != "syncnet":
            raise ValueError(f"'syncnet' must be a zoo SyncNet id, not {syncnet!r}")
        return syncnet


def _default_limit() -> int:
    from modelzoo.evaluation.corpus import DEFAULT_LIMIT  # imports torch: only when evaluating

    return DEFAULT_LIMIT


def field_range(params: type[BaseModel], name: str) -> tuple[Any, Any]:
    """(lowest, highest) that a params field accepts: its bounds, or (0, max length) of a text;
    pages size their sliders and text boxes with this, so they offer what the check accepts."""
    low = high = None
    for rule in params.model_fields[name].metadata:
        low = getattr(rule, "ge", low)
        high = getattr(rule, "le", getattr(rule, "max_length", high))
        if hasattr(rule, "max_length"):
            low = 0
    return low, high


@dataclass(frozen=True)
class Upload:
    """A file of a request, probed: `name` is the user's file name, which messages show."""

    name: str
    path: Path
    info: MediaInfo


@dataclass(frozen=True)
class CheckedRequest:
    params: dict  # normalised: what the job stores and `run()` gets
    model_revision: str  # the pinned revision the job will run ("" for a kind without a model)


@dataclass(frozen=True)
class JobKind:
    name: str
    params: type[BaseModel]  # its pydantic model: Params, or modelzoo's public CorruptionParams
    file_roles: tuple[frozenset[str], ...]  # the sets of file roles a request may send
    roles_message: str  # what the request must send, when it sent another set
    architectures: tuple[str, ...]  # of the zoo models that run it; () takes no model
    outputs: tuple[str, ...]  # the names of the files it writes ("*.png": any plots)
    staff_only: bool = False


# What each file role must contain (modelzoo.media.probe.validate's keyword arguments).
ROLE_NEEDS = {
    "video": {"need_video": True},
    "audio": {"need_audio": True},
    "image": {"allow_image": True},
}

KINDS = {
    "generate": JobKind(
        "generate",
        GenerateParams,
        (
            frozenset({"video"}),
            frozenset({"image"}),
            frozenset({"video", "audio"}),
            frozenset({"image", "audio"}),
        ),
        "generate takes exactly one face: a 'video' or an 'image' file",
        ("alm", "cals"),
        ("generated.mp4",),
    ),
    "transcribe": JobKind(
        "transcribe",
        TranscribeParams,
        (frozenset({"video"}), frozenset({"audio"})),
        "transcribe takes exactly one file: 'video' or 'audio'",
        ("avrelscore",),
        ("transcript.json", "transcript.txt"),
    ),
    "corrupt": JobKind(
        "corrupt",
        CorruptionParams,
        (frozenset({"video"}), frozenset({"audio"})),
        "corrupt takes exactly one file: 'video' or 'audio'",
        (),
        ("corrupted.mp4", "corrupted.wav", "corruption.json"),  # .mp4 for a video, else .wav
    ),
    "evaluate": JobKind(
        "evaluate",
        EvaluateParams,
        (frozenset(),),
        "evaluate takes no files: it reads a corpus on the server",
        ("alm", "cals", "avrelscore", "syncnet"),
        ("report.json", "report.md", "*.png"),
        staff_only=True,
    ),
}


def job_kind(kind: str) -> JobKind:
    if kind not in KINDS:
        raise InvalidParamsError(f"unknown job kind '{kind}': one of {', '.join(KINDS)}")
    return KINDS[kind]


def models_for_kind(kind: str) -> list[registry.ZooEntry]:
    """The zoo entries that can run a kind, in registry order (none for corrupt)."""
    architectures = KINDS[kind].architectures if kind in KINDS else ()
    return [e for e in registry.REGISTRY.values() if e.architecture in architectures]


def check_upload(
    role: str, path: Path, *, name: str, limits: MediaLimits, info: MediaInfo | None = None
) -> Upload:
    """Probe one file for its role (the one probe of it, or `info` where the caller took it); a
    problem raises InvalidMediaError naming the file."""
    if role not in ROLE_NEEDS:
        raise InvalidParamsError(f"unknown file role '{role}': one of {', '.join(ROLE_NEEDS)}")
    info = validate(path, label=name, limits=limits, info=info, **ROLE_NEEDS[role])
    if role == "image" and not info.is_image:
        raise InvalidMediaError(f"{name}: not a still image (PNG or JPEG expected)")
    return Upload(name, Path(path), info)


def store_once(source: Path, target: Path) -> None:
    """Give an upload its place in the job folder without writing its bytes again: a hard link
    to the uploaded file (the site keeps its upload folder, FILE_UPLOAD_TEMP_DIR, on MEDIA_ROOT's
    file system), a copy only when the two are on different file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def parse_params(kind: str, raw: dict | str | None) -> dict:
    """The kind's params checked and normalised (defaults filled in); InvalidParamsError names
    the first bad key and what it accepts."""
    spec = job_kind(kind)
    if spec.params is CorruptionParams:
        # the CLI's public schema: its own parser names nested fields (audio.snr_db) and needs
        # one of its parts, where the other kinds' params all have defaults
        return parse_corruption_params(raw).as_json()
    if isinstance(raw, str):
        raw = loads_params(raw or "{}")
    if raw is not None and not isinstance(raw, dict):
        raise InvalidParamsError(f"params of {kind} must be a JSON object")
    try:
        parsed = spec.params.model_validate(raw or {})
    except ValidationError as err:
        raise InvalidParamsError(_first_problem(spec, err)) from None
    return parsed.model_dump(exclude_none=True)


def _first_problem(spec: JobKind, err: ValidationError) -> str:
    """One line naming the first bad key of a ValidationError and the values it takes."""
    problem = err.errors()[0]
    key = str(problem["loc"][0]) if problem["loc"] else ""
    kind = problem["type"]
    if kind == "extra_forbidden":
        known = ", ".join(spec.params.model_fields)
        return f"params: unknown key '{key}' for {spec.name} (known: {known})"
    if kind == "missing":
        return f"params: '{key}' is missing; {spec.name} needs it"
    if kind == "value_error":
        return f"params: {problem['ctx']['error']}"
    if kind == "string_too_long":
        return f"params: '{key}' is longer than {problem['ctx']['max_length']} characters"
    if kind == "literal_error":
        return f"params: '{key}' must be one of {problem['ctx']['expected']}"
    field = spec.params.model_fields[key]
    low, high = field_range(spec.params, key)
    if low is not None and high is not None and field.annotation in (int, float):
        what = "an integer" if field.annotation is int else "a number"
        return f"params: '{key}' must be {what} from {low} to {high}"
    if key == "corpus":
        return "params: 'corpus' must name a corpus folder, like synthgrid-test"
    return f"params: '{key}': {problem['msg']}"


def check_model(kind: str, model_id: str) -> str:
    """The pinned revision of a registry model that runs `kind` and has weights here."""
    entries = {e.id: e for e in models_for_kind(kind)}
    usable = sorted(i for i, e in entries.items() if loading.weights_available(e))
    offer = f"one of: {', '.join(usable)}" if usable else "none is installed on this server"
    if not model_id:
        raise UserError(f"model: {kind} needs a model id ({offer})")
    if model_id not in entries:
        raise UserError(f"model: '{model_id}' is not a {kind} model ({offer})")
    if model_id not in usable:
        raise UserError(
            f"model: '{model_id}' has no weights on this server. {entries[model_id].where_to_get}"
        )
    return registry.pinned_revision(entries[model_id])


def check_request(
    kind: str, model_id: str, params: dict | str | None, uploads: dict[str, Upload]
) -> CheckedRequest:
    """The request's normalised params and pinned model revision; UserError names the problem."""
    spec = job_kind(kind)
    if frozenset(uploads) not in spec.file_roles:
        raise InvalidParamsError(spec.roles_message)
    if spec.architectures:
        revision = check_model(kind, model_id)
    elif model_id:
        raise InvalidParamsError(f"model: {kind} does not take a model")
    else:
        revision = ""
    normalised = parse_params(kind, params)
    if kind == "generate":
        _check_speech(normalised, uploads)
    if kind == "corrupt":
        _check_streams(CorruptionParams.from_json(normalised), uploads)
    return CheckedRequest(normalised, revision)


def _check_speech(params: dict, uploads: dict[str, Upload]) -> None:
    if "audio" not in uploads and not params.get("text"):
        raise InvalidParamsError(
            'generate needs speech: an \'audio\' file or params {"text": "..."}'
        )
    if "audio" in uploads and params.get("text"):
        raise InvalidParamsError("give either an 'audio' file or params 'text', not both")


def _check_streams(params: CorruptionParams, uploads: dict[str, Upload]) -> None:
    (media,) = uploads.values()
    if params.audio is not None and not media.info.has_audio:
        raise InvalidMediaError(f"{media.name}: has no audio stream to add noise to")
    if params.video is not None and not media.info.has_video:
        raise InvalidMediaError(f"{media.name}: has no video stream to corrupt")


def run(
    kind: str,
    *,
    model: Any,
    params: dict,
    files: dict[str, Path],
    probes: dict[str, MediaInfo | None],
    out_dir: Path,
    progress: Progress,
    model_id: str = "",
    corpus: Path | None = None,
    loader: Callable[[str], Any] | None = None,
) -> list[Path]:
    """Run a checked job: `model` loaded (None for corrupt), `params` as `check_request` gave
    them, `files` and their stored `probes` by role (a missing probe is taken again), outputs
    into `out_dir`. Evaluate scores `model_id` on the `corpus` folder, `loader` giving models."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if kind == "corrupt":
        from modelzoo.pipelines.corrupt import corrupt

        role = "video" if "video" in files else "audio"
        settings = CorruptionParams.from_json(params)
        return corrupt(files[role], settings, out_dir, info=probes.get(role), progress=progress)
    if kind == "generate":
        from modelzoo.pipelines.generate import generate

        p = GenerateParams.stored(params)
        role = "video" if "video" in files else "image"
        out = generate(
            model,
            files[role],
            files.get("audio"),
            out_dir / KINDS["generate"].outputs[0],
            text=p.text,
            voice=p.voice,
            batch_size=p.batch_size,
            info=probes.get(role),
            audio_info=probes.get("audio"),
            progress=progress,
        )
        return [out]
    if kind == "transcribe":
        from modelzoo.pipelines.transcribe import transcribe

        p = TranscribeParams.stored(params)
        role = "video" if "video" in files else "audio"
        json_name, text_name = KINDS["transcribe"].outputs
        written = transcribe(
            model,
            files[role],
            out_dir / json_name,
            out_dir / text_name,
            decoder=p.decoder,
            beam_size=p.beam_size,
            ctc_weight=p.ctc_weight,
            info=probes.get(role),
            progress=progress,
        )
        return list(written)
    if kind == "evaluate":
        from modelzoo.pipelines.evaluate import evaluate

        p = EvaluateParams.stored(params)
        extra = {"loader": loader} if loader is not None else {}
        return evaluate(
            [model_id],
            corpus,
            out_dir,
            split=p.split,
            limit=p.limit,
            seed=p.seed,
            syncnet=p.syncnet,
            progress=progress,
            **extra,
        )
    raise InvalidParamsError(f"unknown job kind '{kind}': one of {', '.join(KINDS)}")
