"""Django alone as a WSGI app, for the production pool of processes (gunicorn); the Gradio demo
runs in its own process on webapp.asgi, and the reverse proxy sends /demo/ there."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

application = get_wsgi_application()
