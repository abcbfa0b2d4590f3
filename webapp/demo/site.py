"""The demo's backend on the Django site: submissions become Jobs run by Celery workers."""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
from django.core.files.uploadedfile import UploadedFile
from django.db import close_old_connections

from webapp.jobs.forms import JobForm
from webapp.jobs.models import Job
from webapp.jobs.selectors import jobs_visible_to
from webapp.jobs.services import Owner

from .blocks import JobUpdate, model_choices
from .guard import job_output_link
from .sessions import owner_from_cookies

POLL_SECONDS = 0.5


class LocalUpload(UploadedFile):
    """A file Gradio already stored on disk, presented to the job form like a Django upload."""

    def __init__(self, path: str):
        self._path = path
        super().__init__(open(path, "rb"), Path(path).name, None, Path(path).stat().st_size)

    def temporary_file_path(self) -> str:
        return self._path


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
        return JobUpdate(str(job.id), job.status, job.progress, job.message, job.error, outputs)

    def submit(self, kind, model, params, files, request) -> Iterator[JobUpdate]:
        owner = owner_from_request(request)
        if not owner.session_key:
            raise gr.Error("Your browser session is missing; reload the page (cookies must be on).")
        uploads = {role: LocalUpload(path) for role, path in files.items()}
        try:
            form = JobForm({"kind": kind, "model": model, "params": json.dumps(params)}, uploads)
            if not form.is_valid():
                raise gr.Error(form.first_error())
            job = form.create_job(owner)
        finally:
            for upload in uploads.values():
                upload.close()
        yield from self.watch(job.pk)

    def watch(self, job_id) -> Iterator[JobUpdate]:
        try:
            while True:
                job = Job.objects.filter(pk=job_id).first()
                if job is None:
                    raise gr.Error(f"Job {job_id} was deleted.")
                update = self.job_update(job)
                yield update
                if update.finished:
                    return
                time.sleep(POLL_SECONDS)
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
