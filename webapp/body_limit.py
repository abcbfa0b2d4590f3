"""A request body limit enforced while the body streams in, in front of Django and Gradio.

Django's ASGI handler writes a whole body to a temporary file before any view or upload handler
sees it, so a limit checked there comes after the disk has been filled. This middleware refuses a
body whose declared length is over the limit before reading it, and stops one that streams past
the limit (chunked, or lying about its length) at that point.
"""

import json

from modelzoo.media.probe import size_text


def too_large_message(size: int | None, limit: int) -> str:
    shown = f"is {size_text(size)}" if size is not None else f"is larger than {size_text(limit)}"
    return f"the request body {shown}; the limit is {size_text(limit)} for one request"


class BodySizeLimit:
    def __init__(self, app, *, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await _send_413(send, too_large_message(int(declared), self.limit))
        state = {"received": 0, "over": False, "started": False}

        async def limited_receive():
            if state["over"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.limit:
                    state["over"] = True  # the app sees a client that went away
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message):
            if message["type"] == "http.response.start":
                if state["over"]:
                    return
                state["started"] = True
            elif state["over"] and not state["started"]:
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await _send_413(send, too_large_message(None, self.limit))


async def _send_413(send, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
