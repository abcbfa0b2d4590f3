"""Job services: create, cancel and delete jobs from the web side (workers.recovery re-queues
jobs whose worker is gone)."""

import dataclasses
import shutil
from pathlib import Path

from django.db import transaction

from workers.tasks import enqueue

from .kinds import Upload, store_once
from .models import Job, content_type_of
from .owners import Owner


def job_create(
    *,
    owner: Owner,
    kind: str,
    uploads: dict[str, Upload],
    params: dict,
    model_id: str = "",
    model_revision: str = "",
) -> Job:
    """Store the inputs under the job's folder, commit the row, then enqueue its task.

    `uploads` maps a role ("video", "audio", "image") to its checked file (`kinds.check_upload`),
    whose probe the row keeps for the worker; `params` are the normalised params
    (`kinds.check_request`). Stored names are the role plus the original extension, never the
    user's file name.
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
            for role, upload in uploads.items():
                suffix = Path(upload.name).suffix.lower()[:10]
                target = input_dir / f"{role}{suffix}"
                store_once(upload.path, target)
                stored = f"input/{target.name}"
                job.inputs[role] = {
                    "path": stored,
                    "name": Path(upload.name).name,
                    "content_type": content_type_of(target),
                    "probe": dataclasses.replace(upload.info, path=Path(stored)).as_json(),
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
