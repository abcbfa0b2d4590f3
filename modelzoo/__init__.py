"""SyncLab's model library: media I/O, corruption, the three models, the zoo; no Django."""

from modelzoo.zoo.loading import build, load

__all__ = ["build", "load"]
