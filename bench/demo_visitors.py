"""Benchmark: demo visitors clicking at once, each from its own session through gradio_client.

Prints, per visitor, how long after its click its Job row existed (the row's created_at against
the click), and how long its job took to finish, then one JSON line with the figures.

    .venv/bin/python bench/demo_visitors.py [--visitors 8] [--workers 2]

The production shape on one machine: the site's ASGI app under uvicorn, PostgreSQL, Redis (db 13)
and `--workers` Celery worker processes on the CPU queue; the visitors use the Corrupt tab (no
model), on a 2-second clip. Needs PostgreSQL on 127.0.0.1:5432 (trust auth) and Redis on :6379;
makes and drops its own database.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from site_database import fresh_site_database, site_environment  # bench/site_database.py

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "synclab_bench_demo"
CORRUPTION = ("white", 5, False, "blur", 0.3, 0)


def configure() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="synclab-bench-demo-"))
    env = {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/13",
        **site_environment(tmp),
    }
    fresh_site_database(DB_NAME, env)
    import redis

    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()
    return {**os.environ, **env}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the site exited during start-up")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise SystemExit("the site did not answer in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    args = parser.parse_args()
    env = configure()
    from gradio_client import Client, handle_file

    from tests.conftest import make_clip
    from tests.integration.test_space import endpoint
    from webapp.demo.sessions import new_session
    from webapp.jobs.models import Job
    from workers.celery import worker_command

    clip = make_clip(Path(env["SYNCLAB_VAR_DIR"]) / "talk.mp4", seconds=2.0)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "webapp.asgi:application",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
        )  # fmt: skip
    ]
    for i in range(args.workers):
        command = worker_command(name=f"bench{i}@%h", queues="cpu", loglevel="WARNING")
        procs.append(subprocess.Popen(command, cwd=ROOT, env=env))
    try:
        wait_up(url + "/healthz", procs[0])
        sessions = [new_session()[0] for _ in range(args.visitors)]
        clients = [
            Client(url + "/demo/", verbose=False, httpx_kwargs={"cookies": {"sessionid": key}})
            for key in sessions
        ]
        api_name = endpoint(clients[0], "Video (with audio) or audio file", "SNR (dB)")

        def click(client):
            clicked = time.time()
            job = client.submit(handle_file(str(clip)), *CORRUPTION, api_name=api_name)
            return clicked, job

        with ThreadPoolExecutor(args.visitors) as pool:
            clicks = list(pool.map(click, clients))
        for _, job in clicks:
            job.result(timeout=600)
        rows = {j.owner_session: j for j in Job.objects.all()}
        queued_s, finished_s = [], []
        for key, (clicked, _) in zip(sessions, clicks, strict=True):
            row = rows[key]
            queued_s.append(row.created_at.timestamp() - clicked)
            finished_s.append(row.finished_at.timestamp() - clicked)
            print(
                f"visitor {len(queued_s)}: job row after {queued_s[-1]:.2f} s, "
                f"{row.status} after {finished_s[-1]:.2f} s"
            )
        load = os.getloadavg()[0]
        print(
            json.dumps(
                {
                    "visitors": args.visitors,
                    "workers": args.workers,
                    "max_row_after_click_s": round(max(queued_s), 3),
                    "max_finished_after_click_s": round(max(finished_s), 3),
                    "load_average_1m": round(load, 2),
                }
            )
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        from django.db import connections

        connections.close_all()
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DB_NAME])


if __name__ == "__main__":
    main()
