"""The Celery app: queues, delivery guarantees and time limits, set once for every task."""

import os
import socket
import sys
import threading
import time

from celery import Celery, signals
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

HEARTBEAT_SECONDS = 5

app = Celery("synclab")


class CeleryConfig:
    """Celery settings derived from Django settings, read when Celery first needs them."""

    task_queues = tuple(Queue(name, Exchange(name), routing_key=name) for name in ("gpu", "cpu"))
    task_default_queue = "cpu"
    task_routes = {
        "workers.tasks.generate": {"queue": "gpu"},
        "workers.tasks.transcribe": {"queue": "gpu"},
        "workers.tasks.evaluate": {"queue": "gpu"},
        "workers.tasks.corrupt": {"queue": "cpu"},
    }
    # A job is acknowledged only when it has finished, and a worker that dies mid-job hands the
    # message back: with one prefetched message per process nothing waits behind a long job.
    task_acks_late = True
    task_reject_on_worker_lost = True
    worker_prefetch_multiplier = 1
    task_ignore_result = True  # the Job row is the result
    task_serializer = "json"
    accept_content = ["json"]
    broker_connection_retry_on_startup = True
    worker_hijack_root_logger = False

    @property
    def _settings(self):
        from django.conf import settings

        return settings

    @property
    def broker_url(self):
        return self._settings.CELERY_BROKER_URL

    @property
    def task_soft_time_limit(self):
        return self._settings.SYNCLAB_TASK_SOFT_LIMIT

    @property
    def task_time_limit(self):
        return self._settings.SYNCLAB_TASK_HARD_LIMIT

    @property
    def broker_transport_options(self):
        if self.broker_url.startswith("filesystem"):
            folder = self._settings.SYNCLAB_BROKER_DIR
            for sub in ("queue", "processed", "control"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            return {
                "data_folder_in": str(folder / "queue"),
                "data_folder_out": str(folder / "queue"),
                "processed_folder": str(folder / "processed"),
                "control_folder": str(folder / "control"),  # else kombu writes ./control
            }
        timeout = self._settings.SYNCLAB_BROKER_VISIBILITY_TIMEOUT
        if timeout <= self.task_time_limit:
            raise ValueError(
                "SYNCLAB_BROKER_VISIBILITY_TIMEOUT must exceed SYNCLAB_TASK_HARD_LIMIT"
            )
        return {"visibility_timeout": timeout}

    @property
    def worker_enable_remote_control(self):
        # The filesystem transport has no broadcast exchange for remote control.
        return not self.broker_url.startswith("filesystem")


app.config_from_object(CeleryConfig())


def worker_command(*, name: str, queues: str = "gpu,cpu", loglevel: str = "INFO") -> list[str]:
    """The argv of one worker process (concurrency 1), as the demo, tests and benches start it.

    Mingle and gossip are off: they only matter between many workers, and slow the start.
    """
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers",
        "worker",
        "-Q",
        queues,
        "-c",
        "1",
        "-P",
        "prefork",
        "-n",
        name,
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        loglevel,
    ]


app.autodiscover_tasks(["workers"])


@signals.worker_ready.connect
def start_heartbeat(sender=None, **kwargs):
    """Write this worker's row every few seconds so that /healthz can count live workers."""
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    queues = ",".join(sorted(q.name for q in app.amqp.queues.consume_from.values()))
    threading.Thread(target=_beat, args=(hostname, queues), daemon=True).start()


def _beat(hostname: str, queues: str) -> None:

    from django.db import close_old_connections
    from django.utils import timezone

    from webapp.jobs.models import WorkerHeartbeat

    while True:
        try:
            WorkerHeartbeat.objects.update_or_create(
                hostname=hostname, defaults={"queues": queues, "last_seen": timezone.now()}
            )
        except Exception:  # a missed beat must not kill the thread; the next one retries
            close_old_connections()
        time.sleep(HEARTBEAT_SECONDS)
