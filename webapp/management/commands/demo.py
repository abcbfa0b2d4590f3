"""`python manage.py demo`: the embedded demo (SQLite, filesystem broker, a worker, uvicorn)."""

import os
import signal
import subprocess

from django.conf import settings
from django.core.management import BaseCommand, call_command


class Command(BaseCommand):
    help = (
        "Run the embedded demo: migrate, start one Celery worker and serve the site with uvicorn."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--no-worker", action="store_true", help="serve only (a worker runs elsewhere)"
        )

    def handle(self, *args, host, port, no_worker, **options):
        import uvicorn

        from workers.recovery import requeue_unfinished

        for folder in (settings.MEDIA_ROOT, settings.VAR_DIR):
            folder.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        worker = None
        if not no_worker:
            # With no worker running yet, anything left queued or running was lost with the last
            # run (the filesystem broker has no redelivery): hand it to the new worker.
            requeued = requeue_unfinished()
            if requeued:
                self.stdout.write(f"re-queued {len(requeued)} unfinished job(s)")
            worker = start_worker()
        self.stdout.write(
            self.style.SUCCESS(f"SyncLab demo: http://{host}:{port}/demo/"), ending="\n"
        )
        self.stdout.flush()
        try:
            uvicorn.run(
                "webapp.asgi:application", host=host, port=port, log_level="info", lifespan="on"
            )
        finally:
            if worker is not None:
                stop_worker(worker)


def start_worker() -> subprocess.Popen:
    """One real worker process, consuming both queues, as the embedded mode's only worker."""
    from workers.celery import worker_command

    # The filesystem broker has no broadcast exchange, so no worker heartbeats either.
    cmd = [*worker_command(name="embedded@%h"), "--without-heartbeat"]
    return subprocess.Popen(cmd, env={**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings"})


def stop_worker(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
