"""Job services: create, cancel and delete jobs from the web side (workers.recovery re-queues
jobs whose worker is gone)."""

import shutil
from pathlib import Path

from django.db import transaction

from workers.tasks import enqueue

from .models import Job, content_type_of
from .owners import Owner


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
            transaction.on_commit(lambda: enqueue(job))
    except BaseException:
        shutil.rmtree(job.directory, ignore_errors=True)
        raise
    return job


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
