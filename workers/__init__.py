"""SyncLab's Celery workers: the app, the job tasks and the per-process model cache."""

from .celery import app as celery_app

__all__ = ["celery_app"]
