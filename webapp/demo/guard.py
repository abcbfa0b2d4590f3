"""The gate in front of the mounted Gradio demo: no event reads a file its visitor did not upload.

Gradio trusts the paths in an event's payload once they lie in its cache, and serves its cache to
anyone who knows a path. This ASGI middleware keeps, per Django session, the paths Gradio's upload
endpoint gave back, and lets an event or a download name only those (and the demo's example
files). Job outputs are never served from Gradio's cache: their URLs are answered by the jobs API's
ownership-checked view. Refusals are JSON and say the same whether a path exists or not.
"""

import asyncio
import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from modelzoo.media.probe import size_text
from webapp.demo import sessions

API = "/gradio_api"
# Routes whose JSON body carries an event's input data (files included).
EVENT_ROUTES = (f"{API}/queue/join", f"{API}/component_server", f"{API}/component_server/")
EVENT_PREFIXES = (f"{API}/run/", f"{API}/api/", f"{API}/call/")
# Other POSTs the page itself sends; their bodies hold no files.
PLAIN_POST_ROUTES = (f"{API}/cancel", f"{API}/reset", f"{API}/reset/")
FILE_PREFIXES = (f"{API}/file=", f"{API}/file/")
EVENT_BODY_LIMIT = 1 << 20  # an event's JSON holds parameters and paths, never file contents
# Multipart framing around an upload's file: boundaries and part headers.
MULTIPART_SLACK = 64 << 10
JOB_OUTPUTS_FOLDER = "synclab-jobs"
NOT_UPLOADED = "a file in this request was not uploaded from this browser session; upload it again"


def job_output_link(upload_dir: Path, job_id: str, output: Path) -> Path:
    """Where the demo shows a job output to Gradio: a hard link (or copy) inside Gradio's cache,
    whose download URL the guard answers with the jobs API's ownership-checked view."""
    link = upload_dir / JOB_OUTPUTS_FOLDER / job_id / output.name
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        partial = link.with_name(f".{output.name}.{os.getpid()}.partial")
        try:
            os.link(output, partial)
        except OSError:  # another filesystem: a copy does as well
            shutil.copyfile(output, partial)
        partial.replace(link)
    return link


def file_paths(value) -> Iterable[str]:
    """Every `path` of a file object anywhere in an event's JSON."""
    if isinstance(value, dict):
        if "path" in value:
            yield value["path"] if isinstance(value["path"], str) else repr(value["path"])
        for item in value.values():
            yield from file_paths(item)
    elif isinstance(value, list):
        for item in value:
            yield from file_paths(item)


class DemoGuard:
    """ASGI middleware for the Gradio app mounted at `prefix`; `django_app` serves job outputs."""

    def __init__(
        self,
        app,
        django_app,
        *,
        upload_dir: Path,
        example_files: Iterable[Path] = (),
        max_upload_bytes: int,
        prefix: str = "/demo",
        upload_ttl_s: float = 24 * 3600,
    ):
        self.app, self.django_app, self.prefix = app, django_app, prefix
        self.upload_dir = Path(os.path.abspath(upload_dir))
        self.example_files = {os.path.abspath(p) for p in example_files}
        self.max_upload_bytes = max_upload_bytes
        self.upload_ttl_s = upload_ttl_s
        self._uploads: dict[str, dict[str, float]] = {}  # session key -> {path: when}

    # -- the uploads each session may name ---------------------------------------------------
    def remember_uploads(self, session_key: str, paths: Iterable[str]) -> None:
        now = time.monotonic()
        known = self._uploads.setdefault(session_key, {})
        known.update({os.path.abspath(p): now for p in paths})
        if len(known) > 200 or len(self._uploads) % 64 == 0:
            self._forget_old(now)

    def _forget_old(self, now: float) -> None:
        for key in list(self._uploads):
            kept = {p: t for p, t in self._uploads[key].items() if now - t < self.upload_ttl_s}
            if kept:
                self._uploads[key] = kept
            else:
                del self._uploads[key]

    def may_use(self, session_key: str, path: str) -> bool:
        path = os.path.abspath(path)
        if path in self.example_files:
            return True
        when = self._uploads.get(session_key, {}).get(path)
        return when is not None and time.monotonic() - when < self.upload_ttl_s

    # -- ASGI --------------------------------------------------------------------------------
    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix + "/"):
            return await self.app(scope, receive, send)
        route = scope["path"][len(self.prefix) :]
        method = scope["method"]
        if route.startswith(FILE_PREFIXES):
            return await self._file(scope, receive, send, route)
        if route.startswith((f"{API}/proxy=", f"{API}/run-history", f"{API}/runs")):
            return await send_json(send, 404, "not found")
        if method == "POST":
            if route == f"{API}/upload":
                return await self._upload(scope, receive, send)
            if route in EVENT_ROUTES or route.startswith(EVENT_PREFIXES):
                return await self._event(scope, receive, send)
            if route not in PLAIN_POST_ROUTES:
                return await send_json(send, 404, "not found")
        return await self.app(scope, receive, send)

    async def _session(self, scope, *, create: bool) -> tuple[dict, str, str]:
        """(scope, session key, Set-Cookie value): a new session only when `create` and none is
        valid; the scope then carries its cookie so that Gradio's handlers see it."""
        cookies = sessions.cookies_from_headers(scope["headers"])
        key = await in_django(sessions.existing_session_key, cookies)
        if key or not create:
            return scope, key, ""
        key, set_cookie = await in_django(sessions.new_session)
        cookies[settings.SESSION_COOKIE_NAME] = key
        header = "; ".join(f"{name}={value}" for name, value in cookies.items())
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"cookie"]
        return (
            {**scope, "headers": [*headers, (b"cookie", header.encode("latin-1"))]},
            key,
            set_cookie,
        )

    async def _event(self, scope, receive, send):
        body, too_big = await read_body(receive, EVENT_BODY_LIMIT)
        if too_big:
            return await send_json(send, 413, "the request is too large")
        try:
            paths = list(file_paths(json.loads(body)))
        except (ValueError, RecursionError):
            paths = []  # Gradio answers malformed JSON itself
        scope, key, set_cookie = await self._session(scope, create=bool(paths))
        if not all(self.may_use(key, path) for path in paths):
            return await send_json(send, 403, NOT_UPLOADED)
        return await self.app(scope, replay(body), with_cookie(send, set_cookie))

    async def _upload(self, scope, receive, send):
        limit = self.max_upload_bytes + MULTIPART_SLACK
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > limit:
            return await send_json(send, 413, self._too_large())
        scope, key, set_cookie = await self._session(scope, create=True)
        state = {"received": 0, "too_big": False, "status": 0, "body": b""}

        async def counted_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["too_big"] = True  # the parser stops here; nothing more is written
                    return {"type": "http.disconnect"}
            return message

        async def capture(message):
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["start"] = message
            elif message["type"] == "http.response.body":
                state["body"] += message.get("body", b"")

        try:
            await self.app(scope, counted_receive, capture)
        except Exception:
            if not state["too_big"]:
                raise
        if state["too_big"] or state["status"] == 413:
            return await send_json(send, 413, self._too_large())
        if state["status"] == 200:
            self.remember_uploads(key, json.loads(state["body"]))
        send = with_cookie(send, set_cookie)
        await send(state["start"])
        await send({"type": "http.response.body", "body": state["body"]})

    def _too_large(self) -> str:
        return f"the upload is larger than the limit of {size_text(self.max_upload_bytes)}"

    async def _file(self, scope, receive, send, route):
        path = os.path.abspath(route.removeprefix(FILE_PREFIXES[0]).removeprefix(FILE_PREFIXES[1]))
        outputs = self.upload_dir / JOB_OUTPUTS_FOLDER
        relative = Path(path).relative_to(outputs) if path.startswith(f"{outputs}/") else None
        if relative is not None and len(relative.parts) == 2:
            job_id, name = relative.parts
            django_path = f"/api/jobs/{job_id}/outputs/{name}"
            django_scope = {**scope, "path": django_path, "raw_path": django_path.encode()}
            return await self.django_app(django_scope, receive, send)
        _, key, _ = await self._session(scope, create=False)
        if not self.may_use(key, path):
            return await send_json(send, 404, "no such file")
        return await self.app(scope, receive, send)


async def in_django(function, *args):
    """Run a function that uses the database as Django's request handler would: in its thread,
    with the connection closed afterwards (the guard runs outside Django's request cycle)."""

    def call():
        try:
            return function(*args)
        finally:
            close_old_connections()

    return await sync_to_async(call)()


async def read_body(receive, limit: int) -> tuple[bytes, bool]:
    """The whole request body, or (b"", True) as soon as it passes `limit` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        size += len(message.get("body", b""))
        if size > limit:
            return b"", True
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks), False


def replay(body: bytes):
    """A `receive` that gives the app a body already read, then waits as the server's would."""
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # a client that stays connected, until cancelled

    return receive


def with_cookie(send, set_cookie: str):
    if not set_cookie:
        return send

    async def send_with_cookie(message):
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (b"set-cookie", set_cookie.encode("latin-1"))]
            message = {**message, "headers": headers}
        await send(message)

    return send_with_cookie


async def send_json(send, status: int, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
