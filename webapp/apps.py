"""App config of the site itself: it holds the site-wide commands (`demo`) and templates."""

from django.apps import AppConfig


class WebappConfig(AppConfig):
    name = "webapp"
    verbose_name = "SyncLab"
