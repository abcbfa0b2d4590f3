"""`manage.py demo` on embedded defaults: SQLite, the filesystem broker and its own worker."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import ROOT, _free_port, make_clip

pytestmark = pytest.mark.integration

EMBEDDED_ENV_DROPS = ("DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT")


def _start_demo(var_dir, port, log):
    env = {k: v for k, v in os.environ.items() if k not in EMBEDDED_ENV_DROPS}
    env.update(SYNCLAB_VAR_DIR=str(var_dir), PORT=str(port))
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "demo"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while f"http://127.0.0.1:{port}/demo/" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.3)
    return proc


def _wait_healthy(url, seconds=60) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        try:
            body = requests.get(url + "/healthz", timeout=5).json()
            if body["status"] == "ok":
                return body
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "demo never became healthy"
        time.sleep(0.5)


def _stop(proc) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def test_demo_command_serves_the_page_and_finishes_a_corruption_job(tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start_demo(tmp_path / "var", port, tmp_path / "demo.log")
    try:
        health = _wait_healthy(url)
        assert health["database"]["vendor"] == "sqlite"
        assert health["broker"]["transport"] == "filesystem"
        assert requests.get(url + "/demo/", timeout=30).status_code == 200
        session = requests.Session()
        clip = make_clip(tmp_path / "hello.mp4")
        with clip.open("rb") as f:
            job = session.post(
                url + "/api/jobs/",
                data={
                    "kind": "corrupt",
                    "params": json.dumps({"audio": {"noise": "pink", "snr_db": 10}}),
                },
                files={"video": ("hello.mp4", f, "video/mp4")},
                timeout=60,
            ).json()
        deadline = time.monotonic() + 120
        while (body := session.get(f"{url}/api/jobs/{job['id']}/", timeout=10).json())[
            "status"
        ] in {
            "queued",
            "running",
        }:
            assert time.monotonic() < deadline, body
            time.sleep(0.3)
        assert body["status"] == "succeeded", body
        assert (tmp_path / "var" / "synclab.sqlite3").is_file()
    finally:
        _stop(proc)
