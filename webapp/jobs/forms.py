"""Validation of job requests: kind, model, params and every uploaded file (ffprobe checks)."""

from pathlib import Path

from django import forms
from django.conf import settings

from modelzoo.errors import UserError
from modelzoo.media.probe import MediaLimits
from modelzoo.safe_json import check_text, loads_params

from . import services
from .kinds import ROLE_NEEDS, check_request, check_upload
from .models import Job


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


def corpus_names() -> list[str]:
    """The evaluation corpora on this server: folders of SYNCLAB_EVAL_CORPORA_DIR."""
    root = Path(settings.SYNCLAB_EVAL_CORPORA_DIR)
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


class JobForm(forms.Form):
    kind = forms.ChoiceField(choices=Job.Kind.choices)
    model = forms.CharField(required=False, max_length=100)
    params = forms.CharField(required=False, max_length=64 * 1024)
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
            value = loads_params(raw)
        except UserError as err:
            raise forms.ValidationError(str(err).removeprefix("params: ")) from None
        if not isinstance(value, dict):
            raise forms.ValidationError("must be a JSON object")
        return value

    def clean_video(self):
        return self._clean_media("video")

    def clean_audio(self):
        return self._clean_media("audio")

    def clean_image(self):
        return self._clean_media("image")

    def _clean_media(self, role: str):
        upload = self.cleaned_data.get(role)
        if upload is None:
            return None
        name = upload.name or ""
        if "/" in name or "\\" in name or name in {".", ".."} or getattr(upload, "had_path", False):
            raise forms.ValidationError("the file name must not contain folder parts")
        try:
            check_text(name, "the file name")
        except UserError as err:
            raise forms.ValidationError(str(err)) from None
        try:
            upload.checked = check_upload(
                role,
                upload_path(upload),
                name=name,
                limits=media_limits(),
                # set only by the demo's LocalUpload, which probed its file in this process
                info=getattr(upload, "probe", None),
            )
        except UserError as err:
            raise forms.ValidationError(str(err)) from None
        return upload

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        files = {role: data[role] for role in ROLE_NEEDS if data.get(role) is not None}
        uploads = {role: upload.checked for role, upload in files.items()}
        data["files"] = files
        try:
            checked = check_request(data["kind"], data.get("model") or "", data["params"], uploads)
        except UserError as err:
            raise forms.ValidationError(str(err)) from None
        data["params"], data["model_revision"] = checked.params, checked.model_revision
        if data["kind"] == Job.Kind.EVALUATE:
            self._check_corpus(data["params"]["corpus"])
        return data

    @staticmethod
    def _check_corpus(name: str) -> None:
        root = Path(settings.SYNCLAB_EVAL_CORPORA_DIR)
        if not (root / name).is_dir():
            known = ", ".join(corpus_names()) or "none yet"
            raise forms.ValidationError(f"corpus '{name}' is not on this server (corpora: {known})")

    def create_job(self, owner) -> Job:
        """Store the validated request as a Job for `owner` and enqueue it."""
        data = self.cleaned_data
        return services.job_create(
            owner=owner,
            kind=data["kind"],
            uploads={role: upload.checked for role, upload in data["files"].items()},
            params=data["params"],
            model_id=data.get("model") or "",
            model_revision=data.get("model_revision", ""),
        )
