"""run_job: a finished job is not redone, a half-done one restarts cleanly, failures recorded."""

import pytest

from modelzoo.errors import UserError
from webapp.jobs.models import Job
from workers.tasks import run_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(media_root):
    job = Job.objects.create(kind="corrupt", params={})
    job.directory.mkdir(parents=True, exist_ok=True)
    return job


def _writes(name="out.wav"):
    calls = []

    def work(job, out):
        calls.append(job.attempts)
        (out / name).write_bytes(b"x")
        return [out / name]

    return work, calls


def test_successful_job_records_outputs_renamed_into_place(job):
    work, calls = _writes()
    run_job(str(job.id), work)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.progress == 1.0 and calls == [1]
    assert job.outputs[0]["name"] == "out.wav"
    assert job.output_path("out.wav").read_bytes() == b"x"
    assert not list(job.directory.glob("output.tmp-*"))


def test_redelivered_finished_job_is_a_no_op(job):
    work, calls = _writes()
    run_job(str(job.id), work)
    run_job(str(job.id), work)
    assert calls == [1]


def test_half_done_job_restarts_from_a_clean_output_folder(job):
    job.status = Job.Status.RUNNING
    job.attempts = 1
    job.save()
    stale = job.directory / "output.tmp-1"
    stale.mkdir()
    (stale / "partial.wav").write_bytes(b"half")
    work, calls = _writes()
    run_job(str(job.id), work)
    job.refresh_from_db()
    assert calls == [2] and job.status == "succeeded"
    assert [p.name for p in (job.directory / "output").iterdir()] == ["out.wav"]
    assert not stale.exists()


def test_user_error_fails_the_job_with_its_message(job):
    def work(job, out):
        raise UserError("clip.mp4: no face found in frames 0-24")

    run_job(str(job.id), work)
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "clip.mp4: no face found in frames 0-24"
    assert not (job.directory / "output").exists()


def test_unexpected_crash_hides_the_traceback_from_the_user(job):
    def work(job, out):
        raise RuntimeError("secret internals")

    run_job(str(job.id), work)
    job.refresh_from_db()
    assert job.status == "failed" and "secret" not in job.error
    assert "RuntimeError: secret internals" in job.traceback


def test_job_cancelled_while_running_stops_at_its_next_report(job):
    def work(job, out):
        Job.objects.filter(pk=job.pk).update(status=Job.Status.CANCELLED)
        job.report(1.0, "almost")
        raise AssertionError("report should have stopped the job")

    run_job(str(job.id), work)
    job.refresh_from_db()
    assert job.status == "cancelled" and not (job.directory / "output").exists()


def test_job_deleted_while_running_leaves_no_row(job):
    def work(job, out):
        Job.objects.filter(pk=job.pk).delete()
        job.report(0.5)

    run_job(str(job.id), work)
    assert not Job.objects.filter(pk=job.pk).exists()


def test_message_from_before_a_requeue_is_stale(job):
    Job.objects.filter(pk=job.pk).update(delivery=2)
    work, calls = _writes()
    run_job(str(job.id), work, delivery=1)
    job.refresh_from_db()
    assert calls == [] and job.status == "queued"
    run_job(str(job.id), work, delivery=2)
    job.refresh_from_db()
    assert calls == [1] and job.status == "succeeded"


def test_job_redelivered_after_its_last_attempt_lost_its_worker_fails(job):
    Job.objects.filter(pk=job.pk).update(status="running", attempts=Job.MAX_ATTEMPTS)
    work, calls = _writes()
    run_job(str(job.id), work)
    job.refresh_from_db()
    assert calls == [] and job.status == "failed" and job.error == Job.LOST_TOO_OFTEN


def test_an_attempt_taken_over_by_another_stops_at_its_next_report(job):
    def work(job, out):
        # another worker re-queued this job and started it again meanwhile
        Job.objects.filter(pk=job.pk).update(attempts=job.attempts + 1)
        job.report(1.0, "still here")
        raise AssertionError("report should have stopped the old attempt")

    run_job(str(job.id), work)
    job.refresh_from_db()
    assert job.status == "running" and job.attempts == 2 and not job.outputs


def test_every_kind_takes_the_delivery_its_enqueuer_sends():
    """enqueue passes delivery= to every kind's task (a merged-in kind once did not)."""
    import inspect

    from workers.tasks import TASKS_BY_KIND

    for kind, task in TASKS_BY_KIND.items():
        assert "delivery" in inspect.signature(task.run).parameters, kind
