"""Validation of job requests: kind, model, params and every uploaded file (ffprobe checks)."""

import json
from pathlib import Path

from django import forms
from django.conf import settings

from modelzoo.corruption.params import parse_corruption_params
from modelzoo.errors import UserError
from modelzoo.job_params import parse_generate_params, parse_transcribe_params
from modelzoo.media.faces import detect_faces
from modelzoo.media.io import read_image
from modelzoo.media.probe import MediaLimits, validate
from modelzoo.zoo.registry import models_for_kind, pinned_revision, weights_available

from . import services
from .models import Job

FILE_ROLES = ("video", "audio", "image")


def media_limits() -> MediaLimits:
    return MediaLimits(
        max_bytes=settings.SYNCLAB_UPLOAD_MAX_BYTES,
        max_duration_s=settings.SYNCLAB_UPLOAD_MAX_SECONDS,
        max_width=settings.SYNCLAB_UPLOAD_MAX_SIDE,
        max_height=settings.SYNCLAB_UPLOAD_MAX_SIDE,
    )


def upload_path(upload) -> Path:
    """Every upload is on disk (FILE_UPLOAD_HANDLERS keeps only the temporary-file handler)."""
    return Path(upload.temporary_file_path())


class JobForm(forms.Form):
    kind = forms.ChoiceField(choices=Job.Kind.choices)
    model = forms.CharField(required=False, max_length=100)
    params = forms.CharField(required=False)
    video = forms.FileField(required=False, allow_empty_file=True)
    audio = forms.FileField(required=False, allow_empty_file=True)
    image = forms.FileField(required=False, allow_empty_file=True)

    def first_error(self) -> str:
        for field, errors in self.errors.items():
            message = errors[0]
            return message if field == "__all__" else f"{field}: {message}"
        return "invalid request"

    def clean_params(self) -> dict:
        raw = self.cleaned_data.get("params") or "{}"
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as err:
            raise forms.ValidationError(
                f"not valid JSON ({err.msg} at column {err.colno})"
            ) from None
        if not isinstance(value, dict):
            raise forms.ValidationError("must be a JSON object")
        return value

    def clean_video(self):
        return self._clean_media("video", need_video=True)

    def clean_audio(self):
        return self._clean_media("audio", need_audio=True)

    def clean_image(self):
        upload = self._clean_media("image", allow_image=True)
        if upload is not None and not upload.media_info.is_image:
            raise forms.ValidationError(f"{upload.name}: not a still image (PNG or JPEG expected)")
        return upload

    def _clean_media(self, role: str, **needs):
        upload = self.cleaned_data.get(role)
        if upload is None:
            return None
        name = upload.name or ""
        if "/" in name or "\\" in name or name in {".", ".."} or getattr(upload, "had_path", False):
            raise forms.ValidationError("the file name must not contain folder parts")
        try:
            upload.media_info = validate(
                upload_path(upload), label=name, limits=media_limits(), **needs
            )
        except UserError as err:
            raise forms.ValidationError(str(err)) from None
        return upload

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        kind = data["kind"]
        files = {role: data[role] for role in FILE_ROLES if data.get(role) is not None}
        data["files"] = files
        if kind == Job.Kind.CORRUPT:
            self._clean_corrupt(data, files)
        else:
            data["model_revision"] = self._clean_model(kind, data.get("model") or "")
            if kind == Job.Kind.TRANSCRIBE:
                self._clean_transcribe(data, files)
            else:
                self._clean_generate(data, files)
        return data

    def create_job(self, owner) -> Job:
        """Store the validated request as a Job for `owner` and enqueue it."""
        data = self.cleaned_data
        return services.job_create(
            owner=owner,
            kind=data["kind"],
            files=data["files"],
            params=data["params"],
            model_id=data.get("model") or "",
            model_revision=data.get("model_revision", ""),
        )

    @staticmethod
    def _clean_model(kind: str, model_id: str) -> str:
        """The pinned revision of a registry model that serves `kind` and has weights here."""
        entries = {e.id: e for e in models_for_kind(kind)}
        usable = sorted(i for i, e in entries.items() if weights_available(e))
        offer = f"one of: {', '.join(usable)}" if usable else "none is installed on this server"
        if not model_id:
            raise forms.ValidationError(f"model: {kind} needs a model id ({offer})")
        if model_id not in entries:
            raise forms.ValidationError(f"model: '{model_id}' is not a {kind} model ({offer})")
        if model_id not in usable:
            where = entries[model_id].where_to_get
            raise forms.ValidationError(
                f"model: '{model_id}' has no weights on this server. {where}"
            )
        return pinned_revision(entries[model_id])

    @staticmethod
    def _check_params(parse, data: dict) -> None:
        try:
            data["params"] = parse(data["params"])
        except UserError as err:
            raise forms.ValidationError(str(err)) from None

    def _clean_transcribe(self, data: dict, files: dict) -> None:
        if set(files) not in ({"video"}, {"audio"}):
            raise forms.ValidationError("transcribe takes exactly one file: 'video' or 'audio'")
        self._check_params(parse_transcribe_params, data)

    def _clean_generate(self, data: dict, files: dict) -> None:
        faces = [role for role in ("video", "image") if role in files]
        if len(faces) != 1:
            raise forms.ValidationError(
                "generate takes exactly one face: a 'video' or an 'image' file"
            )
        if faces == ["video"] and not files["video"].media_info.has_video:
            raise forms.ValidationError(f"{files['video'].name}: has no video stream with a face")
        if faces == ["image"] and not detect_faces(read_image(upload_path(files["image"]))):
            # A photo is one frame, so it is checked now rather than failing the job later.
            raise forms.ValidationError(
                f"{files['image'].name}: no face found in the photo; "
                "upload a photo with one clear, frontal face"
            )
        self._check_params(parse_generate_params, data)
        if "audio" not in files and not data["params"].get("text"):
            raise forms.ValidationError(
                'generate needs speech: an \'audio\' file or params {"text": "..."}'
            )
        if "audio" in files and data["params"].get("text"):
            raise forms.ValidationError("give either an 'audio' file or params 'text', not both")

    def _clean_corrupt(self, data: dict, files: dict) -> None:
        media = [files[role] for role in ("video", "audio") if role in files]
        if len(media) != 1 or "image" in files:
            raise forms.ValidationError("corrupt takes exactly one file: 'video' or 'audio'")
        try:
            params = parse_corruption_params(data["params"])
        except UserError as err:
            raise forms.ValidationError(str(err)) from None
        info = media[0].media_info
        if params.audio is not None and not info.has_audio:
            raise forms.ValidationError(f"{media[0].name}: has no audio stream to add noise to")
        if params.video is not None and not info.has_video:
            raise forms.ValidationError(f"{media[0].name}: has no video stream to corrupt")
        if data.get("model"):
            raise forms.ValidationError("model: corrupt does not take a model")
