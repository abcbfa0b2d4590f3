"""Request bodies over the limit are refused while they stream, before Django stores them."""

import pytest
from starlette.testclient import TestClient

from webapp.body_limit import BodySizeLimit

pytestmark = pytest.mark.django_db(transaction=True)


class Reader:
    """An ASGI app that reads the whole body (as Django's handler does) and counts what it got."""

    def __init__(self):
        self.received = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            self.received += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _chunks(total: int, size: int = 64 * 1024):
    for _ in range(total // size):
        yield b"x" * size


def test_declared_length_over_the_limit_is_refused_unread():
    reader = Reader()
    client = TestClient(BodySizeLimit(reader, limit=1_000_000))
    response = client.post("/api/jobs/", content=b"x" * 1_500_000)
    assert response.status_code == 413
    assert response.json() == {
        "error": "the request body is 1,500,000 bytes; the limit is 1,000,000 bytes for one request"
    }
    assert reader.received == 0


def test_streamed_body_is_cut_at_the_limit():
    reader = Reader()
    client = TestClient(BodySizeLimit(reader, limit=1_000_000))
    response = client.post("/api/jobs/", content=_chunks(64 * 1024 * 100))  # chunked, 6.4 MB
    assert response.status_code == 413
    assert response.json() == {
        "error": "the request body is larger than 1,000,000 bytes; "
        "the limit is 1,000,000 bytes for one request"
    }
    assert reader.received <= 1_000_000


def test_body_within_the_limit_passes():
    reader = Reader()
    client = TestClient(BodySizeLimit(reader, limit=1_000_000))
    assert client.post("/x", content=b"x" * 999_999).text == "ok"
    assert reader.received == 999_999


def test_django_behind_the_limit_answers_an_oversized_stream_with_json():
    from webapp.asgi import django_app

    client = TestClient(BodySizeLimit(django_app, limit=100_000))
    response = client.post(
        "/api/jobs/",
        content=_chunks(64 * 1024 * 20),
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 413 and "larger than 100,000 bytes" in response.json()["error"]
