"""The Celery app: queues, delivery guarantees and time limits, set once for every task."""

import os
import socket
import sys
import threading
import time

from celery import Celery, signals
from celery.utils.log import get_logger
from kombu import Exchange, Queue

from workers.identity import WORKER_BOOT, set_hostname, worker_identity

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

HEARTBEAT_SECONDS = 5
# Every this many beats a worker re-queues running jobs whose worker is gone (any worker may).
REAP_EVERY_BEATS = 3
app = Celery("synclab")
logger = get_logger(__name__)


class CeleryConfig:
    """Celery settings derived from Django settings, read when Celery first needs them."""

    task_queues = tuple(Queue(name, Exchange(name), routing_key=name) for name in ("gpu", "cpu"))
    task_default_queue = "cpu"
    task_routes = {
        "workers.tasks.generate": {"queue": "gpu"},
        "workers.tasks.transcribe": {"queue": "gpu"},
        "workers.tasks.evaluate": {"queue": "gpu"},
        "workers.tasks.lipread_study": {"queue": "gpu"},
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


@signals.worker_init.connect
def start_heartbeat(sender=None, **kwargs):
    """Write this worker's row before it takes any task, then every few seconds, so that /healthz
    can count live workers and other workers can tell when this one is gone."""
    import django
    from django.db import connections

    django.setup()  # idempotent; the Django fixup may not have run yet
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    set_hostname(hostname)
    _beat_once(hostname)
    connections.close_all()  # the pool forks after this: children must not share the socket
    threading.Thread(target=_beat, args=(hostname,), daemon=True).start()


@signals.worker_shutting_down.connect
def requeue_on_shutdown(sender=None, **kwargs):
    """A warm shutdown waits for the running job, and `docker stop` kills the worker 10 s later:
    hand the job back now. Its task stops at its next progress report, so the worker exits."""

    def requeue():
        from django.db import close_old_connections

        from workers.recovery import requeue_from_worker

        hostname, boot = worker_identity()
        try:
            requeue_from_worker(hostname=hostname, boot=boot)
        finally:
            close_old_connections()

    # Not on the signal handler's own thread, which may be inside a database or broker call.
    thread = threading.Thread(target=requeue)
    thread.start()
    thread.join(timeout=5)


def _beat_once(hostname: str) -> None:
    from django.utils import timezone

    from webapp.jobs.models import WorkerHeartbeat

    queues = ",".join(sorted(q.name for q in app.amqp.queues.consume_from.values()))
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={"queues": queues, "last_seen": timezone.now(), "boot_id": WORKER_BOOT},
    )


def _beat(hostname: str) -> None:
    from django.db import close_old_connections

    from workers.recovery import requeue_lost

    beats = 0
    while True:
        try:
            _beat_once(hostname)
            if beats % REAP_EVERY_BEATS == 0:
                for job in requeue_lost():
                    logger.warning("job %s: its worker is gone; %s", job.id, job.message)
        except Exception:  # a missed beat must not kill the thread; the next one retries
            logger.exception("heartbeat of %s failed", hostname)
            close_old_connections()
        beats += 1
        time.sleep(HEARTBEAT_SECONDS)
