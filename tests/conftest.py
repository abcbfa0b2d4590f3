"""Fixtures shared by the whole suite: media clips and real Celery worker processes."""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1  # prctl(2)


@pytest.fixture(scope="session")
def media_root() -> Path:
    from django.conf import settings

    path = Path(settings.MEDIA_ROOT)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(autouse=True)
def _fresh_rate_limit_counts():
    """Each test starts with no requests counted against the rate limits (the test process's cache
    lives as long as the whole run, and every test client comes from one address)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_job_files(media_root):
    """Each test starts with no job folders, whatever the one before it left."""
    shutil.rmtree(media_root / "jobs", ignore_errors=True)
    yield


def make_clip(
    path: Path,
    *,
    seconds: float = 2.0,
    size: str = "160x120",
    audio: bool = True,
    video: bool = True,
    fps: int = 25,
    frequency: int = 300,
    extra: list[str] | None = None,
) -> Path:
    """Encode a test clip with ffmpeg: colour bars and/or a speech-band tone mix."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
    if video:
        cmd += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
    if audio:
        cmd += [
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={frequency}:sample_rate=16000:duration={seconds},volume=0.5",
        ]
    if video:
        cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac" if video else "pcm_s16le"]
    cmd += [*(extra or []), str(path)]
    subprocess.run(cmd, check=True)
    return path


@pytest.fixture
def clip(tmp_path) -> Path:
    return make_clip(tmp_path / "clip.mp4")


class WorkerProcess:
    """A real `celery worker` process on the test database and broker, killable as in production."""

    def __init__(self, env: dict, log: Path):
        self.env, self.log, self.proc = env, log, None

    def start(self) -> "WorkerProcess":
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers",
            "worker",
            "-Q",
            "gpu,cpu",
            "-c",
            "1",
            "-P",
            "prefork",
            "-n",
            f"test-{time.monotonic_ns()}@%h",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "INFO",
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_pytest,
        )
        deadline = time.monotonic() + 60
        while b" ready." not in self.log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("celery worker did not start:\n" + self.log.read_text()[-3000:])
            time.sleep(0.2)
        return self

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once, as a crash or an OOM kill would."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def worker_env(transactional_db, media_root, tmp_path):
    """Environment for worker processes: the test database, a clean test broker queue."""
    import redis
    from django.db import connection

    url = os.environ["CELERY_BROKER_URL"]
    redis.Redis.from_url(url).flushdb()
    name = connection.settings_dict["NAME"]
    return {
        **os.environ,
        "DATABASE_URL": os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}",
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
    }


@pytest.fixture
def start_worker(worker_env, tmp_path):
    workers: list[WorkerProcess] = []

    def start(**extra_env) -> WorkerProcess:
        worker = WorkerProcess({**worker_env, **extra_env}, tmp_path / f"worker{len(workers)}.log")
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop()


def die_with_pytest() -> None:
    """Run in a test server's child before exec: the kernel kills it when pytest dies, so a killed
    run leaves no site or worker behind to take the next run's jobs from the shared broker."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class SiteServer:
    """The real ASGI app (Django + Gradio) under uvicorn in its own process."""

    def __init__(self, env: dict, log: Path):
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "webapp.asgi:application", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_pytest,
        )
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=2)
                break
            except urllib.error.HTTPError:
                break  # up, and reporting on its parts
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()  # the fixture never yields, so nothing else would stop it
                    raise RuntimeError("site did not start:\n" + log.read_text()[-3000:]) from None
                time.sleep(0.3)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def site(worker_env, tmp_path):
    server = SiteServer(worker_env, tmp_path / "site.log")
    yield server
    server.stop()
