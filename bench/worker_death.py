"""Benchmark: how long a job waits when its whole worker is killed mid-job and restarted.

Usage: .venv/bin/python bench/worker_death.py [--kills 5] [--same-name | --new-name]
Needs PostgreSQL on 127.0.0.1:5432 (trust auth) and Redis (CELERY_BROKER_URL, default db 14);
makes its own database. Each round submits a blur job on a 40 s clip, SIGKILLs the worker's
process group once the job reports progress, starts a new worker and prints how long after the
new worker was ready the job was re-queued and finished. Then a job whose worker is killed at
each of its starts shows the attempt it fails at and its message.
"""

import argparse
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from site_database import fresh_site_database  # bench/site_database.py

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "synclab_bench_worker_death"


def configure() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="synclab-bench-"))
    env = dict(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        CELERY_BROKER_URL=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14"),
        SYNCLAB_VAR_DIR=str(tmp),
        MEDIA_ROOT=str(tmp / "media"),
        DJANGO_SETTINGS_MODULE="webapp.settings",
    )
    fresh_site_database(DB_NAME, env)
    import redis

    redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).flushdb()
    return tmp


def start_worker(name: str, log: Path) -> tuple[subprocess.Popen, float]:
    """A worker process group; returns it and the monotonic time it reported ready."""
    from workers.celery import worker_command

    offset = log.stat().st_size if log.exists() else 0
    proc = subprocess.Popen(
        worker_command(name=name),
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    while b" ready." not in log.read_bytes()[offset:]:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text()[-3000:])
        time.sleep(0.1)
    return proc, time.monotonic()


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def submit(clip: Path):
    from modelzoo.media.probe import MediaLimits
    from webapp.jobs import kinds
    from webapp.jobs.services import Owner, job_create

    upload = kinds.check_upload("video", clip, name=clip.name, limits=MediaLimits())
    params = kinds.parse_params("corrupt", {"seed": 0, "video": {"kind": "blur", "fraction": 1.0}})
    return job_create(owner=Owner(session_key="bench"), kind="corrupt", uploads={"video": upload},
                      params=params)  # fmt: skip


def wait_for(job, until, seconds=600):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if until(job):
            return time.monotonic()
        time.sleep(0.2)
    raise RuntimeError(f"job {job.id} stuck: {job.status} {job.message}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--new-name", action="store_true", help="each restart takes a new name")
    args = parser.parse_args()
    tmp = configure()
    clip = tmp / "long.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         "testsrc2=size=640x480:rate=25:duration=40", "-c:v", "libx264", "-pix_fmt", "yuv420p",
         str(clip)],
        check=True,
    )  # fmt: skip
    log = tmp / "worker.log"
    names = (f"bench{i}@%h" if args.new_name else "bench@%h" for i in range(1000))
    worker, _ = start_worker(next(names), log)
    print("kill  requeued after ready (s)  finished after ready (s)  attempts")
    for round_ in range(1, args.kills + 1):
        job = submit(clip)
        wait_for(job, lambda j: j.status == "running" and j.progress > 0)
        kill(worker)
        worker, ready = start_worker(next(names), log)
        requeued = wait_for(job, lambda j: j.status != "running" or j.attempts > 1)
        done = wait_for(job, lambda j: j.is_finished)
        print(f"{round_:4d}  {requeued - ready:27.1f}  {done - ready:24.1f}  {job.attempts} "
              f"({job.status})")  # fmt: skip
    job = submit(clip)
    for attempt in range(1, 4):
        wait_for(job, lambda j, n=attempt: j.status == "running" and j.attempts == n)
        kill(worker)
        worker, ready = start_worker(next(names), log)
    failed = wait_for(job, lambda j: j.is_finished)
    print(f"killed at each start: {job.status} {failed - ready:.1f} s after the 4th worker was "
          f"ready; attempts {job.attempts}; error: {job.error}")  # fmt: skip
    kill(worker)


if __name__ == "__main__":
    main()
