"""A corruption job over HTTP on PostgreSQL, Redis and real worker processes, and a worker crash."""

import json
import subprocess
import time

import numpy as np
import pytest
import requests

from tests.conftest import make_clip

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _decode_audio(path) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", "16000", "-f", "f32le", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, np.float32)


def measured_snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """SNR of `noisy` against `clean`, allowing for a mixer's overall gain."""
    n = min(len(clean), len(noisy))
    clean, noisy = clean[:n].astype(np.float64), noisy[:n].astype(np.float64)
    gain = np.dot(noisy, clean) / np.dot(clean, clean)
    noise = noisy - gain * clean
    return 10 * np.log10(np.sum((gain * clean) ** 2) / np.sum(noise**2))


def _submit(site, session, path, params) -> dict:
    with open(path, "rb") as f:
        response = session.post(
            site.url + "/api/jobs/",
            data={"kind": "corrupt", "params": json.dumps(params)},
            files={"video": (path.name, f, "video/mp4")},
            timeout=60,
        )
    assert response.status_code == 201, response.text
    return response.json()


def _wait(site, session, job_id, until, seconds=180) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = session.get(f"{site.url}/api/jobs/{job_id}/", timeout=10).json()
        if until(body):
            return body
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} never reached the state; last: {body}")


@pytest.mark.parametrize("snr_db", [0.0, 5.0, 15.0])
def test_corruption_job_over_http_gives_valid_media_at_the_requested_snr(
    snr_db, site, start_worker, tmp_path
):
    start_worker()
    clip = make_clip(tmp_path / "talk.mp4", seconds=3)
    session = requests.Session()
    params = {
        "audio": {"noise": "white", "snr_db": snr_db},
        "video": {"kind": "gaussian", "fraction": 0.3},
    }
    job = _submit(site, session, clip, params)
    done = _wait(site, session, job["id"], lambda b: b["status"] in {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    output = tmp_path / "out.mp4"
    output.write_bytes(session.get(site.url + done["outputs"][0]["url"], timeout=30).content)
    streams = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(output)],
            check=True,
            capture_output=True,
        ).stdout
    )["streams"]
    assert {s["codec_name"] for s in streams} == {"h264", "aac"}
    assert measured_snr_db(_decode_audio(clip), _decode_audio(output)) == pytest.approx(
        snr_db, abs=0.5
    )


def _long_blur_job(site, session, tmp_path) -> dict:
    clip = make_clip(tmp_path / "long.mp4", seconds=40, size="640x480")
    return _submit(site, session, clip, {"video": {"kind": "blur", "fraction": 1.0}})


def _running_attempt(site, session, job_id, attempt) -> dict:
    return _wait(
        site,
        session,
        job_id,
        lambda b: b["status"] == "running" and b["attempts"] == attempt and b["progress"] > 0,
    )


def test_job_survives_a_worker_killed_mid_job(site, start_worker, tmp_path):
    # Default broker limits: Redis would hand the job back only after half an hour; the
    # heartbeat rows re-queue it as soon as the restarted worker is up.
    worker = start_worker()
    session = requests.Session()
    job = _long_blur_job(site, session, tmp_path)
    running = _running_attempt(site, session, job["id"], 1)
    worker.kill()
    assert (
        session.get(f"{site.url}/api/jobs/{job['id']}/", timeout=10).json()["status"] == "running"
    )
    start_worker()
    requeued = _wait(
        site, session, job["id"], lambda b: b["attempts"] == 2 or b["status"] != "running", 90
    )
    assert requeued["status"] in {"queued", "running", "succeeded"}, requeued
    done = _wait(site, session, job["id"], lambda b: b["status"] in {"succeeded", "failed"}, 300)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2 and running["progress"] < 1.0
    assert session.get(site.url + done["outputs"][0]["url"], timeout=30).status_code == 200


def test_job_that_kills_its_worker_at_every_start_fails_after_three_attempts(
    site, start_worker, tmp_path
):
    worker = start_worker()
    session = requests.Session()
    job = _long_blur_job(site, session, tmp_path)
    for attempt in (1, 2, 3):
        _running_attempt(site, session, job["id"], attempt)
        worker.kill()
        worker = start_worker()
        if attempt < 3:
            queued = _wait(
                site,
                session,
                job["id"],
                lambda b, n=attempt + 1: b["attempts"] == n or b["status"] == "queued",
                90,
            )
            assert queued["status"] in {"queued", "running"}, queued
    failed = _wait(site, session, job["id"], lambda b: b["status"] != "running", 90)
    assert failed["status"] == "failed", failed
    assert "started 3 times and each time its worker stopped" in failed["error"]


def test_healthz_counts_a_live_worker(site, start_worker):
    start_worker()
    deadline = time.monotonic() + 30
    while (body := requests.get(site.url + "/healthz", timeout=10).json())["status"] != "ok":
        assert time.monotonic() < deadline, body
        time.sleep(0.5)
    assert body["database"]["vendor"] == "postgresql" and body["workers"]["count"] >= 1
