"""Shared set-up of the benches that run the site: a fresh PostgreSQL database, Django migrated."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def site_environment(tmp: Path) -> dict[str, str]:
    """The settings every site bench runs its site under: its files in `tmp`, no hub, quiet logs."""
    return {
        "SYNCLAB_VAR_DIR": str(tmp),
        "MEDIA_ROOT": str(tmp / "media"),
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "WARNING",
    }


def fresh_site_database(db_name: str, env: dict[str, str]) -> None:
    """Put `env` into this process's environment, drop and create `db_name` on the local
    PostgreSQL (trust auth), then set Django up and migrate it."""
    os.environ.update(env)
    pg = ["-h", "127.0.0.1", "-U", "postgres"]
    subprocess.run(["dropdb", *pg, "--if-exists", db_name], check=True)
    subprocess.run(["createdb", *pg, db_name], check=True)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
