"""Jobs whose worker is gone: enqueueing, re-queueing after a lost or stopped worker, and failing
a job once MAX_ATTEMPTS starts each lost their worker."""

from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from webapp.jobs.models import Job, WorkerHeartbeat
from workers.tasks import enqueue

# Workers beat every 5 s: a row this old means the process is gone.
WORKER_LOST_AFTER = timedelta(seconds=30)
# A job younger than this may belong to a worker whose first beat is still being written.
START_GRACE = timedelta(seconds=10)


def requeue_unfinished() -> list[Job]:
    """Enqueue again every job left queued or running, for a broker that lost them (embedded mode).

    Only safe when no worker is running: the embedded demo calls it before it starts its worker.
    A restart is not the job's fault, so it costs no attempt.
    """
    requeued = []
    for job in Job.objects.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING]):
        if _requeue(job, count_attempt=False):
            requeued.append(job)
    return requeued


def requeue_lost(*, now=None) -> list[Job]:
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


def requeue_from_worker(*, hostname: str, boot: str) -> list[Job]:
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
            transaction.on_commit(lambda: enqueue(job))
    return bool(updated)
