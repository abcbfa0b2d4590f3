"""Test environment: an early plugin (`-p tests.testenv`), loaded before pytest-django.

The suite runs on PostgreSQL and Redis at their usual local ports when they answer; otherwise it
starts throwaway servers from the installed binaries, so a fresh machine needs no set-up.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

_RUN_DIR = Path(tempfile.mkdtemp(prefix="synclab-tests-"))
_servers: list[subprocess.Popen] = []


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not _port_open("127.0.0.1", port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start on port {port}")
        time.sleep(0.2)


def _redis_url() -> str:
    if _port_open("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/15"
    port = _free_port()
    _servers.append(
        subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
    )
    _wait_port(port, "redis-server")
    return f"redis://127.0.0.1:{port}/15"


def _postgres_url() -> str:
    # One database name per run: pytest-django creates test_<name>, and runs may overlap.
    if _port_open("127.0.0.1", 5432):
        return f"postgres://postgres@127.0.0.1:5432/synclab_{os.getpid()}"
    bindir = next(Path("/usr/lib/postgresql").glob("*/bin"), None)
    if bindir is None:
        raise RuntimeError("PostgreSQL is neither running on 127.0.0.1:5432 nor installed")
    data, port = _RUN_DIR / "pg", _free_port()
    # initdb refuses to run as root; the Debian package's postgres user owns the throwaway cluster.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(_RUN_DIR, "postgres")
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    _servers.append(
        subprocess.Popen(
            [
                *as_user,
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(_RUN_DIR),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    _wait_port(port, "postgres")
    return f"postgres://postgres@127.0.0.1:{port}/synclab_{os.getpid()}"


os.environ.setdefault("DATABASE_URL", _postgres_url())
os.environ.setdefault("CELERY_BROKER_URL", _redis_url())
os.environ["SYNCLAB_VAR_DIR"] = str(_RUN_DIR / "var")
os.environ["MEDIA_ROOT"] = str(_RUN_DIR / "var" / "media")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def pytest_unconfigure(config):
    for server in _servers:
        server.send_signal(signal.SIGINT)
    for server in _servers:
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    shutil.rmtree(_RUN_DIR, ignore_errors=True)
