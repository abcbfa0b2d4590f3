"""App config of the jobs app: uploads, the Job model and its JSON API."""

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "webapp.jobs"
    label = "jobs"
    verbose_name = "Jobs"
