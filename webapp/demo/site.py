"""The demo's backend on the Django site: submissions become Jobs run by Celery workers."""

import json
from pathlib import Path

import gradio as gr
from django.core.files.uploadedfile import UploadedFile
from django.db import close_old_connections
from django.http import HttpRequest

from modelzoo.media.probe import MediaInfo
from webapp.jobs.forms import JobForm
from webapp.jobs.models import Job
from webapp.jobs.selectors import jobs_visible_to
from webapp.jobs.services import Owner
from webapp.ratelimits import over_limit
from workers.tasks import queue_of_kind  # the routing is the worker app's

from .blocks import JobUpdate, model_choices
from .guard import job_output_link
from .sessions import owner_from_cookies, session_store


def jobs_ahead(job: Job) -> int:
    """Queued jobs created before `job` that wait for the same worker queue (GPU or CPU)."""
    queue = queue_of_kind(job.kind)
    kinds = [kind for kind in Job.Kind.values if queue_of_kind(kind) == queue]
    return Job.objects.filter(
        status=Job.Status.QUEUED, kind__in=kinds, created_at__lt=job.created_at
    ).count()


class LocalUpload(UploadedFile):
    """A file Gradio already stored on disk, presented to the job form like a Django upload;
    `probe` is the page's probe of it, which the form reuses rather than probing again."""

    def __init__(self, path: str, probe: MediaInfo | None = None):
        self._path = path
        self.probe = probe
        super().__init__(open(path, "rb"), Path(path).name, None, Path(path).stat().st_size)

    def temporary_file_path(self) -> str:
        return self._path


def as_django_request(request: gr.Request, session_key: str) -> HttpRequest:
    """What the rate limits read of a request (its headers, address and session), for Gradio's."""
    django_request = HttpRequest()
    django_request.method = "POST"
    for name, value in request.headers.items():
        django_request.META["HTTP_" + name.upper().replace("-", "_")] = value
    # Without a peer (an in-process call) everything counts against one unspecified address.
    django_request.META["REMOTE_ADDR"] = request.client.host if request.client else "0.0.0.0"
    django_request.session = session_store(session_key)
    return django_request


def owner_from_request(request: gr.Request) -> Owner:
    """The Django session and user behind the page (DemoGuard gives a visitor who sends files a
    session before the event runs)."""
    return owner_from_cookies(dict(request.cookies or {}) if request is not None else {})


class SiteBackend:
    def __init__(self, upload_dir: Path):
        self.upload_dir = Path(upload_dir)

    def job_update(self, job: Job) -> JobUpdate:
        """The job as the page shows it; outputs as links whose downloads DemoGuard answers with
        the jobs API's ownership-checked view."""
        outputs = [
            job_output_link(self.upload_dir, str(job.id), job.directory / item["path"])
            for item in job.outputs
        ]
        ahead = jobs_ahead(job) if job.status == Job.Status.QUEUED else None
        return JobUpdate(
            str(job.id), job.status, job.progress, job.message, job.error, outputs, ahead
        )

    def submit(self, kind, model, params, files, request, probes=None) -> str:
        try:
            owner = owner_from_request(request)
            if not owner.session_key:
                raise gr.Error(
                    "Your browser session is missing; reload the page (cookies must be on)."
                )
            if refusal := over_limit(as_django_request(request, owner.session_key), "jobs"):
                raise gr.Error(refusal.message[0].upper() + refusal.message[1:] + ".")
            probes = probes or {}
            uploads = {role: LocalUpload(path, probes.get(role)) for role, path in files.items()}
            try:
                data = {"kind": kind, "model": model, "params": json.dumps(params)}
                form = JobForm(data, uploads)
                if not form.is_valid():
                    raise gr.Error(form.first_error())
                return str(form.create_job(owner).pk)
            finally:
                for upload in uploads.values():
                    upload.close()
        finally:
            close_old_connections()  # each call may run on another of Gradio's threads

    def poll(self, job_id: str) -> JobUpdate:
        try:
            job = Job.objects.filter(pk=job_id).first()
            if job is None:
                raise gr.Error(f"Job {job_id} was deleted.")
            return self.job_update(job)
        finally:
            close_old_connections()

    def list_jobs(self, request) -> list[list]:
        try:
            jobs = jobs_visible_to(owner_from_request(request))[:50]
            return [
                [
                    str(j.id),
                    j.kind,
                    j.model_id,
                    j.status,
                    f"{j.progress:.0%}",
                    j.error or j.message,
                    j.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                ]
                for j in jobs
            ]
        finally:
            close_old_connections()

    def models(self, kind: str) -> list[tuple[str, str]]:
        return model_choices(kind)
