"""Job tasks: each takes a job id, runs one modelzoo pipeline and records the outcome on the Job row."""

import logging
import traceback
from collections.abc import Callable
from pathlib import Path

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from modelzoo import pipelines
from modelzoo.errors import UserError

log = logging.getLogger(__name__)


def run_job(job_id: str, work: Callable) -> None:
    """Run `work(job, out_dir)` for a job, at most once to success.

    A redelivered message for a finished job does nothing; one for a job left running by a dead
    worker starts it over from a clean output folder.
    """
    from webapp.jobs.models import Job, JobCancelled

    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        log.info("job %s is gone or finished; nothing to do", job_id)
        return
    job.mark_running()
    try:
        with job.output_dir() as out:
            produced = work(job, out)
            names = [Path(p).name for p in produced]
        job.mark_succeeded(
            [{"name": n, "path": f"output/{n}", "content_type": _content_type(n)} for n in names]
        )
    except JobCancelled:
        log.info("job %s was cancelled or deleted while running", job_id)
    except UserError as err:
        _fail(job, str(err), traceback.format_exc())
    except SoftTimeLimitExceeded:
        _fail(job, "the job took longer than this server allows and was stopped")
    except Exception:
        log.exception("job %s failed", job_id)
        _fail(
            job,
            "internal error while running the job; staff can see the details",
            traceback.format_exc(),
        )


def _fail(job, error: str, tb: str = "") -> None:
    from webapp.jobs.models import JobCancelled

    try:
        job.mark_failed(error, tb)
    except JobCancelled:
        pass


def _content_type(name: str) -> str:
    from webapp.jobs.services import content_type_of

    return content_type_of(Path(name))


@shared_task
def corrupt(job_id: str) -> None:
    def work(job, out):
        media = job.input("video") if "video" in job.inputs else job.input("audio")
        return pipelines.corrupt(media, job.params, out, progress=job.report)

    run_job(job_id, work)


TASKS_BY_KIND = {"corrupt": corrupt}


def task_for_kind(kind: str):
    return TASKS_BY_KIND[kind]
