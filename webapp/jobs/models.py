"""The Job row: one generation, transcription, corruption or evaluation request, its files,
progress and result."""

import mimetypes
import shutil
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from webapp.jobs.kinds import KINDS


def content_type_of(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class JobCancelled(Exception):
    """Raised inside a running job when its row was cancelled or deleted meanwhile."""


class Job(models.Model):
    # The job layer's kinds (Kind.GENERATE == "generate", ...), listed there once.
    Kind = models.TextChoices("Kind", [(name.upper(), name) for name in KINDS])

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = {Status.SUCCEEDED, Status.FAILED, Status.CANCELLED}
    # Starts of a job that each ended with its worker gone, before the job fails instead.
    MAX_ATTEMPTS = 3
    LOST_TOO_OFTEN = (
        f"the job was started {MAX_ATTEMPTS} times and each time its worker stopped "
        "(killed or out of memory); it is not tried again"
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    model_id = models.CharField(max_length=100, blank=True)
    model_revision = models.CharField(max_length=64, blank=True)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True, help_text="Shown to the user.")
    traceback = models.TextField(blank=True, help_text="Staff only.")
    # {"video": {"path": "input/video.mp4", "name": "clip.mp4", "content_type": "video/mp4",
    #            "probe": MediaInfo.as_json() of the upload}}: the web's one ffprobe of each file,
    # which the worker reuses (rows from before probes were kept have none; the worker probes)
    inputs = models.JSONField(default=dict, blank=True)
    # [{"name": "corrupted.mp4", "path": "output/corrupted.mp4", "content_type": "video/mp4"}]
    outputs = models.JSONField(default=list, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    owner_session = models.CharField(max_length=64, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    # Which enqueueing of the job a message carries: a message from before a re-queue is stale.
    delivery = models.PositiveIntegerField(default=1)
    # The worker process running the job: its heartbeat row's hostname and that process's boot id.
    worker_hostname = models.CharField(max_length=200, blank=True)
    worker_boot = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.kind} {self.id} ({self.status})"

    def get_absolute_url(self):
        return reverse("jobs:detail", args=[self.id])

    def as_json(self) -> dict:
        return {
            "id": str(self.id),
            "kind": self.kind,
            "model": self.model_id,
            "model_revision": self.model_revision,
            "params": self.params,
            "status": self.status,
            "progress": round(self.progress, 4),
            "message": self.message,
            "error": self.error,
            "attempts": self.attempts,
            "inputs": [{"role": role, "name": item["name"]} for role, item in self.inputs.items()],
            "outputs": [
                {
                    "name": item["name"],
                    "url": reverse("jobs:output", args=[self.id, item["name"]]),
                    "content_type": item["content_type"],
                }
                for item in self.outputs
            ],
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def directory(self) -> Path:
        return Path(settings.MEDIA_ROOT) / "jobs" / str(self.id)

    def input(self, role: str) -> Path:
        return self.directory / self.inputs[role]["path"]

    def output_path(self, name: str) -> Path | None:
        for item in self.outputs:
            if item["name"] == name:
                return self.directory / item["path"]
        return None

    def mark_running(self, worker_hostname: str = "", worker_boot: str = "") -> None:
        """Start (or after a crash restart) the job: progress and outputs of an earlier try go."""
        self.status = self.Status.RUNNING
        self.attempts += 1
        self.worker_hostname, self.worker_boot = worker_hostname, worker_boot
        self.progress, self.message, self.error, self.traceback = 0.0, "starting", "", ""
        self.outputs = []
        self.started_at = timezone.now()
        self.save()
        for leftover in [self.directory / "output", *self.directory.glob("output.tmp-*")]:
            shutil.rmtree(leftover, ignore_errors=True)

    def report(self, fraction: float, message: str = "") -> None:
        """Write progress; raise JobCancelled when the row is gone or no longer running.

        Called many times a second by pipelines, so writes are throttled to about two a second.
        """
        now = time.monotonic()
        last = getattr(self, "_last_report", 0.0)
        if now - last < 0.5 and fraction < 1.0:
            return
        self._last_report = now
        self.progress = max(0.0, min(1.0, float(fraction)))
        self.message = message[:200]
        updated = self._this_attempt().update(progress=self.progress, message=self.message)
        if not updated:
            raise JobCancelled(str(self.pk))

    @contextmanager
    def output_dir(self):
        """A fresh temporary folder that becomes `output/` by one rename when the block succeeds."""
        tmp = self.directory / f"output.tmp-{self.attempts}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            yield tmp
            tmp.rename(self.directory / "output")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _this_attempt(self):
        """This row while this attempt still runs it: not once it was cancelled, deleted, or
        re-queued because its worker was taken for gone."""
        return Job.objects.filter(pk=self.pk, status=self.Status.RUNNING, attempts=self.attempts)

    def mark_succeeded(self, outputs: list[dict]) -> None:
        self._finish(self.Status.SUCCEEDED, outputs=outputs, progress=1.0, message="done")

    def mark_failed(self, error: str, traceback: str = "") -> None:
        self._finish(self.Status.FAILED, error=error, traceback=traceback, message="failed")

    def _finish(self, status, **fields) -> None:
        fields["finished_at"] = timezone.now()
        # Only a running job may finish: a cancel or delete that came meanwhile wins.
        updated = self._this_attempt().update(status=status, **fields)
        if not updated:
            raise JobCancelled(str(self.pk))
        for name, value in fields.items():
            setattr(self, name, value)
        self.status = status


class WorkerHeartbeat(models.Model):
    """Each worker process writes its row every few seconds; /healthz counts the fresh ones, and
    a running job whose worker's row is stale or belongs to a newer process is re-queued."""

    hostname = models.CharField(max_length=200, primary_key=True)
    boot_id = models.CharField(max_length=32, blank=True)  # one per worker process run
    queues = models.CharField(max_length=200, blank=True)
    last_seen = models.DateTimeField()

    def __str__(self):
        return self.hostname
