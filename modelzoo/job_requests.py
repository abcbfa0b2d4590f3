"""What a job request must hold: files in the right roles, a served model with weights here, and
valid params. The site's job form and the in-process Space both call check_request, so the two
refuse the same requests with the same messages before any job exists."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelzoo.corruption.params import parse_corruption_params
from modelzoo.errors import InvalidMediaError, InvalidParamsError, UserError
from modelzoo.job_params import (
    parse_evaluate_params,
    parse_generate_params,
    parse_transcribe_params,
)
from modelzoo.media.faces import detect_faces
from modelzoo.media.io import read_image
from modelzoo.media.probe import MediaInfo, MediaLimits, validate
from modelzoo.zoo import loading, registry

KINDS = ("generate", "transcribe", "corrupt", "evaluate")
# What each file role must contain (modelzoo.media.probe.validate's keyword arguments).
ROLE_NEEDS = {
    "video": {"need_video": True},
    "audio": {"need_audio": True},
    "image": {"allow_image": True},
}


@dataclass(frozen=True)
class Upload:
    name: str  # the user's file name, shown in messages (the file on disk may be a temp file)
    path: Path
    info: MediaInfo


@dataclass(frozen=True)
class CheckedRequest:
    params: dict
    model_revision: str  # the pinned revision the job will run ("" for corrupt)


def validate_upload(role: str, path: Path, *, name: str, limits: MediaLimits) -> Upload:
    """Probe one file for its role; a problem raises InvalidMediaError naming the file."""
    if role not in ROLE_NEEDS:
        raise InvalidParamsError(f"unknown file role '{role}': one of {', '.join(ROLE_NEEDS)}")
    info = validate(path, label=name, limits=limits, **ROLE_NEEDS[role])
    if role == "image" and not info.is_image:
        raise InvalidMediaError(f"{name}: not a still image (PNG or JPEG expected)")
    return Upload(name, Path(path), info)


def check_request(
    kind: str, model_id: str, params: dict, uploads: dict[str, Upload]
) -> CheckedRequest:
    """The request's canonical params and model revision; UserError names what is wrong."""
    if kind == "corrupt":
        return CheckedRequest(_check_corrupt(model_id, params, uploads), "")
    if kind not in KINDS:
        raise InvalidParamsError(f"unknown job kind '{kind}': one of {', '.join(KINDS)}")
    revision = check_model(kind, model_id)
    if kind == "evaluate":
        if uploads:
            raise InvalidParamsError("evaluate takes no files: it reads a corpus on the server")
        return CheckedRequest(parse_evaluate_params(params), revision)
    if kind == "transcribe":
        if set(uploads) not in ({"video"}, {"audio"}):
            raise InvalidParamsError("transcribe takes exactly one file: 'video' or 'audio'")
        return CheckedRequest(parse_transcribe_params(params), revision)
    return CheckedRequest(_check_generate(params, uploads), revision)


def check_model(kind: str, model_id: str) -> str:
    """The pinned revision of a registry model that serves `kind` and has weights here."""
    entries = {e.id: e for e in registry.models_for_kind(kind)}
    usable = sorted(i for i, e in entries.items() if loading.weights_available(e))
    offer = f"one of: {', '.join(usable)}" if usable else "none is installed on this server"
    if not model_id:
        raise UserError(f"model: {kind} needs a model id ({offer})")
    if model_id not in entries:
        raise UserError(f"model: '{model_id}' is not a {kind} model ({offer})")
    if model_id not in usable:
        where = entries[model_id].where_to_get
        raise UserError(f"model: '{model_id}' has no weights on this server. {where}")
    return registry.pinned_revision(entries[model_id])


def _check_generate(params: dict, uploads: dict[str, Upload]) -> dict:
    faces = [role for role in ("video", "image") if role in uploads]
    if len(faces) != 1:
        raise InvalidParamsError("generate takes exactly one face: a 'video' or an 'image' file")
    face = uploads[faces[0]]
    if faces == ["image"] and not detect_faces(read_image(face.path)):
        # A photo is one frame, so it is checked now rather than failing the job later.
        raise InvalidMediaError(
            f"{face.name}: no face found in the photo; upload a photo with one clear, frontal face"
        )
    parsed = parse_generate_params(params)
    if "audio" not in uploads and not parsed.get("text"):
        raise InvalidParamsError(
            'generate needs speech: an \'audio\' file or params {"text": "..."}'
        )
    if "audio" in uploads and parsed.get("text"):
        raise InvalidParamsError("give either an 'audio' file or params 'text', not both")
    return parsed


def _check_corrupt(model_id: str, params: dict, uploads: dict[str, Upload]) -> dict:
    media = [uploads[role] for role in ("video", "audio") if role in uploads]
    if len(media) != 1 or "image" in uploads:
        raise InvalidParamsError("corrupt takes exactly one file: 'video' or 'audio'")
    parsed = parse_corruption_params(params)
    info = media[0].info
    if parsed.audio is not None and not info.has_audio:
        raise InvalidMediaError(f"{media[0].name}: has no audio stream to add noise to")
    if parsed.video is not None and not info.has_video:
        raise InvalidMediaError(f"{media[0].name}: has no video stream to corrupt")
    if model_id:
        raise InvalidParamsError("model: corrupt does not take a model")
    return params
