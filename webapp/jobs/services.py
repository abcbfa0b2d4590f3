"""Job services: create, cancel and delete jobs; the only place that writes job rows and files."""

import mimetypes
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import Job, WorkerHeartbeat

# Workers beat every 5 s: a row this old means the process is gone.
WORKER_LOST_AFTER = timedelta(seconds=30)
# A job younger than this may belong to a worker whose first beat is still being written.
START_GRACE = timedelta(seconds=10)


@dataclass(frozen=True)
class Owner:
    """Who a job belongs to: a signed-in user, or an anonymous visitor's session."""

    user: object | None = None
    session_key: str = ""

    @property
    def is_staff(self) -> bool:
        return bool(self.user is not None and self.user.is_staff)


def content_type_of(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def job_create(
    *,
    owner: Owner,
    kind: str,
    files: dict,
    params: dict,
    model_id: str = "",
    model_revision: str = "",
) -> Job:
    """Store the inputs under the job's folder, commit the row, then enqueue its task.

    `files` maps a role ("video", "audio", "image") to an upload with `temporary_file_path()` and
    `name`. Stored names are the role plus the original extension, never the user's file name.
    """
    job = Job(
        kind=kind,
        model_id=model_id,
        model_revision=model_revision,
        params=params,
        owner=owner.user if owner.user is not None and owner.user.is_authenticated else None,
        owner_session=owner.session_key or "",
    )
    input_dir = job.directory / "input"
    try:
        with transaction.atomic():
            input_dir.mkdir(parents=True)
            for role, upload in files.items():
                suffix = Path(upload.name).suffix.lower()[:10]
                target = input_dir / f"{role}{suffix}"
                shutil.copyfile(upload.temporary_file_path(), target)
                job.inputs[role] = {
                    "path": f"input/{target.name}",
                    "name": Path(upload.name).name,
                    "content_type": content_type_of(target),
                }
            job.save()
            transaction.on_commit(lambda: _enqueue(job))
    except BaseException:
        shutil.rmtree(job.directory, ignore_errors=True)
        raise
    return job


def _enqueue(job: Job) -> None:
    from workers.tasks import task_for_kind  # the web app imports workers only to enqueue

    task_for_kind(job.kind).apply_async(
        args=[str(job.id)], kwargs={"delivery": job.delivery}, task_id=str(job.id)
    )


def job_requeue_unfinished() -> list[Job]:
    """Enqueue again every job left queued or running, for a broker that lost them (embedded mode).

    Only safe when no worker is running: the embedded demo calls it before it starts its worker.
    A restart is not the job's fault, so it costs no attempt.
    """
    requeued = []
    for job in Job.objects.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING]):
        if _requeue(job, count_attempt=False):
            requeued.append(job)
    return requeued


def job_requeue_lost(*, now=None) -> list[Job]:
    """Re-queue every running job whose worker is gone: its heartbeat is stale, or its row now
    belongs to another run of a worker with the same name. A job that has used its attempts
    fails instead. Any worker may call this; each job is taken over by one caller only."""
    now = now or timezone.now()
    alive = dict(
        WorkerHeartbeat.objects.filter(last_seen__gte=now - WORKER_LOST_AFTER).values_list(
            "hostname", "boot_id"
        )
    )
    running = Job.objects.filter(status=Job.Status.RUNNING, started_at__lt=now - START_GRACE)
    lost = [
        job
        for job in running.exclude(worker_hostname="")
        if alive.get(job.worker_hostname) != job.worker_boot
    ]
    return [job for job in lost if _requeue(job, count_attempt=True)]


def job_requeue_from_worker(*, hostname: str, boot: str) -> list[Job]:
    """Hand back the jobs a worker is running because it is shutting down (not the jobs' fault:
    no attempt is counted). Their running task stops at its next progress report."""
    running = Job.objects.filter(
        status=Job.Status.RUNNING, worker_hostname=hostname, worker_boot=boot
    )
    return [job for job in running if _requeue(job, count_attempt=False)]


def _requeue(job: Job, *, count_attempt: bool) -> bool:
    """Queue the job again with a new delivery (older messages for it become stale), or fail it
    once MAX_ATTEMPTS starts each lost their worker. False when someone else changed it first."""
    if job.status == Job.Status.QUEUED:
        unchanged = Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED)
        attempts = job.attempts
    else:
        unchanged = Job.objects.filter(
            pk=job.pk, status=Job.Status.RUNNING, attempts=job.attempts, worker_boot=job.worker_boot
        )
        attempts = job.attempts if count_attempt else max(0, job.attempts - 1)
        if count_attempt and job.attempts >= Job.MAX_ATTEMPTS:
            return bool(
                unchanged.update(
                    status=Job.Status.FAILED,
                    error=Job.LOST_TOO_OFTEN,
                    message="failed",
                    finished_at=timezone.now(),
                )
            )
    with transaction.atomic():
        updated = unchanged.update(
            status=Job.Status.QUEUED,
            attempts=attempts,
            progress=0.0,
            message=f"queued, attempt {attempts + 1} of {Job.MAX_ATTEMPTS}",
            delivery=F("delivery") + 1,
            worker_hostname="",
            worker_boot="",
        )
        if updated:
            job.refresh_from_db()
            transaction.on_commit(lambda: _enqueue(job))
    return bool(updated)


def job_cancel(*, job: Job) -> Job:
    """Cancel a queued or running job; the worker notices at its next progress report."""
    Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
        status=Job.Status.CANCELLED, message="cancelled"
    )
    job.refresh_from_db()
    return job


def job_delete(*, job: Job) -> None:
    """Delete the row and every file of the job; a running task stops at its next report."""
    directory = job.directory
    job.delete()
    shutil.rmtree(directory, ignore_errors=True)
