"""Benchmark: enqueue-to-start latency (p50/p95) and throughput of trivial jobs on Redis.

Usage: .venv/bin/python bench/jobs.py [--jobs 50] [--burst 100]
Needs PostgreSQL on 127.0.0.1:5432 (trust auth) and Redis on 127.0.0.1:6379; makes its own database.
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from site_database import fresh_site_database  # bench/site_database.py

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "synclab_bench"


def configure() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="synclab-bench-"))
    env = {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/14",
        "DATABASE_CONN_MAX_AGE": "60",  # as in docker-compose: no reconnect per job
        "SYNCLAB_VAR_DIR": str(tmp),
        "MEDIA_ROOT": str(tmp / "media"),
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
    }
    fresh_site_database(DB_NAME, env)
    import redis

    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()
    return {**os.environ, **env}


def trivial_audio(folder: Path) -> Path:
    path = folder / "blip.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=300:duration=0.3",
            "-ar",
            "16000",
            str(path),
        ],
        check=True,
    )
    return path


def submit(audio: Path):
    from modelzoo.media.probe import MediaLimits
    from webapp.jobs import kinds, services

    params = kinds.parse_params("corrupt", {"audio": {"noise": "white", "snr_db": 10}})
    upload = kinds.check_upload("audio", audio, name=audio.name, limits=MediaLimits())
    return services.job_create(
        owner=services.Owner(session_key="bench"),
        kind="corrupt",
        uploads={"audio": upload},
        params=params,
    )


def wait_all(ids, timeout=600):
    from webapp.jobs.models import Job

    deadline = time.monotonic() + timeout
    while Job.objects.filter(pk__in=ids, finished_at__isnull=True).exists():
        if time.monotonic() > deadline:
            raise SystemExit("jobs did not finish in time")
        time.sleep(0.01)
    return list(Job.objects.filter(pk__in=ids))


def percentile(values, q):
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--jobs", type=int, default=50, help="jobs submitted one at a time (latency)"
    )
    parser.add_argument(
        "--burst", type=int, default=100, help="jobs submitted at once (throughput)"
    )
    args = parser.parse_args()
    env = configure()
    from workers.celery import worker_command

    worker = subprocess.Popen(
        worker_command(name="bench@%h", loglevel="WARNING"), cwd=ROOT, env=env
    )
    try:
        audio = trivial_audio(Path(env["SYNCLAB_VAR_DIR"]))
        wait_all([submit(audio).pk])  # warm-up: worker connected, imports done
        latencies = []
        for _ in range(args.jobs):
            job = wait_all([submit(audio).pk])[0]
            latencies.append((job.started_at - job.created_at).total_seconds() * 1000)
        start = time.monotonic()
        ids = [submit(audio).pk for _ in range(args.burst)]
        jobs = wait_all(ids)
        elapsed = time.monotonic() - start
        failed = sum(j.status != "succeeded" for j in jobs)
        print("broker: redis, worker: 1 process (prefork, concurrency 1), jobs: trivial corrupt")
        print(
            f"enqueue-to-start latency over {args.jobs} jobs: "
            f"p50 {statistics.median(latencies):.1f} ms, p95 {percentile(latencies, 95):.1f} ms, "
            f"max {max(latencies):.1f} ms"
        )
        print(
            f"throughput: {args.burst} jobs in {elapsed:.2f} s = {args.burst / elapsed:.1f} jobs/s "
            f"({failed} failed)"
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DB_NAME])


if __name__ == "__main__":
    main()
