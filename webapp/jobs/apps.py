"""App config of the jobs app: uploads, the Job model and its JSON API."""

from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class JobsConfig(AppConfig):
    name = "webapp.jobs"
    label = "jobs"
    verbose_name = "Jobs"

    def ready(self):
        # Uploads stream into temporary files there; Django does not create the folder itself.
        Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
