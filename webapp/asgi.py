"""The one ASGI app: Gradio's demo at /demo beside Django, with Gradio's lifespan forwarded."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from asgiref.sync import sync_to_async  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()  # sets Django up before the demo imports models

import gradio as gr  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from webapp.demo.blocks import build_demo  # noqa: E402
from webapp.demo.site import SESSION_COOKIE, SiteBackend  # noqa: E402


class DemoSessionMiddleware:
    """Give every demo visitor a Django session before the page loads, so their jobs stay theirs.

    Gradio handlers cannot set cookies; the Django session cookie they read must already exist.
    """

    def __init__(self, app, prefix: str = "/demo"):
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            return await self.app(scope, receive, send)
        cookies = dict(
            part.strip().split("=", 1)
            for value in (v for k, v in scope["headers"] if k == b"cookie")
            for part in value.decode("latin-1").split(";")
            if "=" in part
        )
        if cookies.get(SESSION_COOKIE):
            return await self.app(scope, receive, send)
        session_key = await sync_to_async(_new_session_key)()
        cookie = (
            f"{SESSION_COOKIE}={session_key}; Path=/; HttpOnly; SameSite=Lax; "
            f"Max-Age={settings.SESSION_COOKIE_AGE}"
        ).encode()

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"set-cookie", cookie)],
                }
            await send(message)

        return await self.app(scope, receive, send_with_cookie)


def _new_session_key() -> str:
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store.create()
    return store.session_key


def build_application():
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app = gr.mount_gradio_app(
        app,
        build_demo(SiteBackend()),
        path="/demo",
        allowed_paths=[str(settings.MEDIA_ROOT / "jobs")],
        show_error=True,
        ssr_mode=False,
    )
    app.mount("/", django_app)
    return DemoSessionMiddleware(app)


application = build_application()
