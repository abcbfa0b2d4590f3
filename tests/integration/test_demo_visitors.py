"""Many demo visitors clicking at once: every job is queued at its click, none waits for a
stranger's job to finish (the site's ASGI app under uvicorn, PostgreSQL, Redis, a real worker)."""

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client, handle_file

from tests.conftest import make_clip
from tests.integration.test_space import endpoint

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

VISITORS = 8
CORRUPTION = ("white", 5, False, "blur", 0.3, 0)


def _wait(condition, what: str, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.2)
    return found


def _place(status: str) -> int | None:
    found = re.search(r"number (\d+) in the queue", status)
    return int(found[1]) if found else None


def test_visitors_clicking_together_are_all_queued_before_any_job_runs(
    site, start_worker, tmp_path
):
    from webapp.demo.sessions import new_session
    from webapp.jobs.models import Job

    clip = make_clip(tmp_path / "talk.mp4", seconds=1.0)
    # gradio_client keeps no cookies from its uploads, so each visitor brings its session.
    sessions = [new_session()[0] for _ in range(VISITORS)]
    clients = [
        Client(site.url + "/demo/", verbose=False, httpx_kwargs={"cookies": {"sessionid": key}})
        for key in sessions
    ]
    api_name = endpoint(clients[0], "Video (with audio) or audio file", "SNR (dB)")

    def click(client):
        return client.submit(handle_file(str(clip)), *CORRUPTION, api_name=api_name)

    with ThreadPoolExecutor(VISITORS) as pool:
        jobs = list(pool.map(click, clients))

    # No worker runs yet: with one event at a time, the first visitor's job would hold the tab
    # and the other seven would never be queued.
    _wait(lambda: Job.objects.count() == VISITORS, f"{VISITORS} job rows")
    assert sorted(Job.objects.values_list("owner_session", flat=True)) == sorted(sessions)
    assert set(Job.objects.values_list("status", flat=True)) == {"queued"}

    # Each page shows its job's place among the queued ones.
    def places():
        latest = [job.outputs()[-1][0] if job.outputs() else "" for job in jobs]
        found = [_place(status) for status in latest]
        return sorted(found) if None not in found else None

    assert _wait(places, "every page showing its place") == list(range(1, VISITORS + 1))

    start_worker()
    finals = [job.result(timeout=300) for job in jobs]
    assert all(status.startswith("**Done**") for status, *_ in finals), [f[0] for f in finals]
    assert set(Job.objects.values_list("status", flat=True)) == {"succeeded"}
