"""SyncLab's model library: media I/O, corruption, the three models and the zoo; no Django, no Celery."""

from modelzoo.zoo.loading import build, load

__all__ = ["build", "load"]
