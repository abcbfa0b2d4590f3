"""Jobs whose worker is gone: re-queued from the heartbeat rows, failed after MAX_ATTEMPTS,
handed back on shutdown; each taken over once, with older messages made stale."""

from datetime import timedelta

import pytest
from django.utils import timezone

from webapp.jobs.models import Job, WorkerHeartbeat
from workers import recovery

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch):
    sent = []
    monkeypatch.setattr(recovery, "enqueue", lambda job: sent.append((str(job.id), job.delivery)))
    return sent


def _beat(hostname, boot, age_s=0):
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={"boot_id": boot, "last_seen": timezone.now() - timedelta(seconds=age_s)},
    )


def _running(hostname="w1@host", boot="boot-a", attempts=1, started_s_ago=60) -> Job:
    return Job.objects.create(
        kind="corrupt",
        status="running",
        attempts=attempts,
        progress=0.6,
        message="blurring",
        worker_hostname=hostname,
        worker_boot=boot,
        started_at=timezone.now() - timedelta(seconds=started_s_ago),
    )


def test_job_of_a_live_worker_stays(enqueued, django_capture_on_commit_callbacks):
    _beat("w1@host", "boot-a")
    job = _running()
    with django_capture_on_commit_callbacks(execute=True):
        assert recovery.requeue_lost() == []
    job.refresh_from_db()
    assert job.status == "running" and enqueued == []


@pytest.mark.parametrize("heartbeat", ["stale", "restarted", "missing"])
def test_job_of_a_gone_worker_is_requeued_as_attempt_2_of_3(
    heartbeat, enqueued, django_capture_on_commit_callbacks
):
    if heartbeat == "stale":
        _beat("w1@host", "boot-a", age_s=45)
    elif heartbeat == "restarted":
        _beat("w1@host", "boot-b")  # same name, a new process
    job = _running()
    with django_capture_on_commit_callbacks(execute=True):
        assert [j.id for j in recovery.requeue_lost()] == [job.id]
    job.refresh_from_db()
    assert job.status == "queued" and job.progress == 0.0
    assert job.message == "queued, attempt 2 of 3"
    assert job.delivery == 2 and enqueued == [(str(job.id), 2)]
    assert job.worker_hostname == "" and job.as_json()["message"] == "queued, attempt 2 of 3"


def test_job_just_started_is_left_to_its_worker_first_beat(enqueued):
    job = _running(started_s_ago=2)
    assert recovery.requeue_lost() == []
    job.refresh_from_db()
    assert job.status == "running"


def test_third_lost_attempt_fails_the_job_with_a_message(enqueued):
    job = _running(attempts=3)
    assert [j.id for j in recovery.requeue_lost()] == [job.id]
    job.refresh_from_db()
    assert job.status == "failed" and job.error == Job.LOST_TOO_OFTEN
    assert "3 times" in job.error and enqueued == []


def test_two_reapers_take_a_job_over_once(enqueued, django_capture_on_commit_callbacks):
    job = _running()
    stale_copy = Job.objects.get(pk=job.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert len(recovery.requeue_lost()) == 1
        assert recovery._requeue(stale_copy, count_attempt=True) is False
    assert len(enqueued) == 1


def test_shutdown_hands_back_its_own_jobs_without_counting_an_attempt(
    enqueued, django_capture_on_commit_callbacks
):
    mine = _running(started_s_ago=1)
    other = _running(hostname="w2@host")
    with django_capture_on_commit_callbacks(execute=True):
        handed = recovery.requeue_from_worker(hostname="w1@host", boot="boot-a")
    assert [j.id for j in handed] == [mine.id]
    mine.refresh_from_db()
    other.refresh_from_db()
    assert mine.status == "queued" and mine.attempts == 0
    assert mine.message == "queued, attempt 1 of 3" and other.status == "running"


def test_embedded_restart_makes_old_messages_stale(enqueued, django_capture_on_commit_callbacks):
    queued = Job.objects.create(kind="corrupt")
    running = _running()
    with django_capture_on_commit_callbacks(execute=True):
        assert len(recovery.requeue_unfinished()) == 2
    queued.refresh_from_db()
    running.refresh_from_db()
    assert (queued.delivery, running.delivery) == (2, 2)
    assert running.status == "queued" and running.attempts == 0
    assert sorted(enqueued) == sorted([(str(queued.id), 2), (str(running.id), 2)])
