"""Job tasks: each takes a job id, runs its kind (`webapp.jobs.kinds.run`) and records the outcome
on the Job."""

import logging
import traceback
from collections.abc import Callable
from pathlib import Path

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from modelzoo.errors import UserError
from modelzoo.media.probe import MediaInfo
from webapp.jobs import kinds
from workers.identity import worker_identity
from workers.model_cache import model_cache

log = logging.getLogger(__name__)


def run_job(job_id: str, work: Callable, delivery: int | None = None) -> None:
    """Run `work(job, out_dir)` for a job, at most once to success.

    A redelivered message for a finished job does nothing, nor does one from before the job was
    re-queued (`delivery` older than the job's). One for a job left running by a dead worker
    starts it over from a clean output folder, unless that was its last attempt.
    """
    from webapp.jobs.models import Job, JobCancelled, content_type_of

    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        log.info("job %s is gone or finished; nothing to do", job_id)
        return
    if delivery is not None and delivery != job.delivery:
        log.info("job %s: message of delivery %s is stale (now %s)", job_id, delivery, job.delivery)
        return
    if job.status == Job.Status.RUNNING and job.attempts >= Job.MAX_ATTEMPTS:
        # Redelivered because the process running its last attempt died (task_reject_on_worker_lost)
        _fail(job, Job.LOST_TOO_OFTEN)
        return
    job.mark_running(*worker_identity())
    try:
        with job.output_dir() as out:
            produced = work(job, out)
            names = [Path(p).name for p in produced]
        job.mark_succeeded(
            [
                {"name": n, "path": f"output/{n}", "content_type": content_type_of(Path(n))}
                for n in names
            ]
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


def _run_kind(job, out: Path) -> list[Path]:
    """The job's kind over its stored inputs, probes and normalised params, as they were checked
    when it was created; its model (and an evaluation's other models) from the process cache."""
    from django.conf import settings

    files = {role: job.input(role) for role in job.inputs}
    probes = {role: _stored_probe(job, role) for role in job.inputs}
    model = corpus = None
    if job.model_id:
        job.report(0.0, f"loading {job.model_id}")
        model = model_cache().get(job.model_id, job.model_revision)
    if job.kind == "evaluate":
        corpus = Path(settings.SYNCLAB_EVAL_CORPORA_DIR) / job.params["corpus"]
        if not corpus.is_dir():
            raise UserError(f"corpus '{job.params['corpus']}' is no longer on this server")

    def loader(model_id: str):
        return model_cache().get(model_id, job.model_revision if model_id == job.model_id else "")

    return kinds.run(
        job.kind,
        model=model,
        params=job.params,
        files=files,
        probes=probes,
        out_dir=out,
        progress=job.report,
        model_id=job.model_id,
        corpus=corpus,
        loader=loader,
    )


def _stored_probe(job, role: str) -> MediaInfo | None:
    """The probe the web took of an input when the job was created (None on rows from before
    probes were stored: the pipeline then probes the file itself)."""
    facts = job.inputs[role].get("probe")
    return MediaInfo.from_json({**facts, "path": str(job.input(role))}) if facts else None


@shared_task
def corrupt(job_id: str, delivery: int | None = None) -> None:
    run_job(job_id, _run_kind, delivery)


@shared_task
def transcribe(job_id: str, delivery: int | None = None) -> None:
    run_job(job_id, _run_kind, delivery)


@shared_task
def generate(job_id: str, delivery: int | None = None) -> None:
    run_job(job_id, _run_kind, delivery)


@shared_task
def evaluate(job_id: str, delivery: int | None = None) -> None:
    run_job(job_id, _run_kind, delivery)


@shared_task
def lipread_study(study_id: int) -> None:
    """Machine lip-readability of a crowd study's clips: what the zoo's lip reader
    (`modelzoo.metrics.lipreading`: video only) reads from each clip the raters lip-read, stored
    on its stimulus. Reading again overwrites, so a redelivered message is harmless."""
    from annotation.models import Study
    from annotation.selectors import stimuli_to_lipread
    from modelzoo.metrics import lipreading
    from modelzoo.zoo.registry import entry, pinned_revision

    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return
    reader_id = lipreading.lip_reader_id()
    stimuli = stimuli_to_lipread(study)
    if reader_id is None:
        for stimulus in stimuli:
            stimulus.set_machine_reading(error="no lip reader's weights are on this worker")
        return
    model, revision = model_cache().get(reader_id, ""), pinned_revision(entry(reader_id))
    for stimulus in stimuli:
        try:
            text = lipreading.read_lips_file(model, Path(stimulus.media.path))
        except UserError as err:  # e.g. a clip that cannot be decoded
            stimulus.set_machine_reading(error=str(err))
            continue
        stimulus.set_machine_reading(text=text, reader=reader_id, revision=revision)


TASKS_BY_KIND = {
    "corrupt": corrupt,
    "transcribe": transcribe,
    "generate": generate,
    "evaluate": evaluate,
}


def queue_of_kind(kind: str) -> str:
    """The Celery queue (gpu or cpu) that a kind's jobs wait in."""
    task = TASKS_BY_KIND[kind]
    route = task.app.conf.task_routes.get(task.name)
    return route["queue"] if route else task.app.conf.task_default_queue


def enqueue(job) -> None:
    """Send the job's task once its row is committed; the job's uuid is the task id."""
    TASKS_BY_KIND[job.kind].apply_async(
        args=[str(job.id)], kwargs={"delivery": job.delivery}, task_id=str(job.id)
    )
