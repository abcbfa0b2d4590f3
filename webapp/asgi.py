"""The one ASGI app: Gradio's demo at /demo beside Django, with Gradio's lifespan forwarded."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()  # sets Django up before the demo imports models

import gradio as gr  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from gradio.processing_utils import save_file_to_cache  # noqa: E402
from gradio.utils import get_upload_folder  # noqa: E402

from webapp.body_limit import BodySizeLimit  # noqa: E402
from webapp.demo.blocks import build_demo  # noqa: E402
from webapp.demo.examples import example_photo, example_speech_clip  # noqa: E402
from webapp.demo.guard import DemoGuard  # noqa: E402
from webapp.demo.site import SiteBackend  # noqa: E402

# Gradio's cache (uploads, example copies) is swept hourly of files older than a day.
CACHE_SWEEP = (3600, 24 * 3600)


def build_application():
    upload_dir = get_upload_folder()
    demo = build_demo(
        SiteBackend(upload_dir), event_concurrency=settings.SYNCLAB_DEMO_EVENT_CONCURRENCY
    )
    demo.delete_cache = CACHE_SWEEP
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app = gr.mount_gradio_app(
        app,
        demo,
        path="/demo",
        show_error=True,
        ssr_mode=False,
        run_history=False,  # it would keep every visitor's inputs and outputs, served to all
        max_file_size=settings.SYNCLAB_UPLOAD_MAX_BYTES,
    )
    # Mounted apps are never "launched", and Gradio checks the file paths in event payloads only
    # for launched ones; DemoGuard narrows them further to the visitor's own uploads.
    demo.has_launched = True
    app.mount("/", django_app)
    # The examples as Gradio caches them when a visitor loads one (the same content-hashed path).
    examples = [example_photo(), example_speech_clip()[0]]
    example_copies = [save_file_to_cache(path, cache_dir=upload_dir) for path in examples]
    guarded = DemoGuard(
        app,
        django_app,
        upload_dir=upload_dir,
        example_files=example_copies,
        max_upload_bytes=settings.SYNCLAB_UPLOAD_MAX_BYTES,
    )
    return BodySizeLimit(guarded, limit=settings.SYNCLAB_UPLOAD_MAX_REQUEST_BYTES)


application = build_application()
