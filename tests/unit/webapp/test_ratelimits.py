"""Rate limits: job submissions (API and demo) and rater posts, per session and per address."""

import uuid
from types import SimpleNamespace

import gradio as gr
import pytest
from django.test import Client

from webapp.demo.sessions import new_session

pytestmark = pytest.mark.django_db


def _play(client: Client, **extra):
    return client.post(f"/study/s/{uuid.uuid4()}/clip/x/play/", {"event": "play"}, **extra)


def _client_with_session() -> Client:
    client = Client()
    client.cookies["sessionid"] = new_session()[0]
    return client


def test_job_posts_over_the_session_limit_get_429_with_a_json_message(settings):
    settings.SYNCLAB_RATE_JOBS_SESSION = "2/m"
    client = _client_with_session()
    codes = [client.post("/api/jobs/", {"kind": "corrupt"}).status_code for _ in range(3)]
    assert codes == [400, 400, 429]  # no file: refused by the view, but counted
    refused = client.post("/api/jobs/", {"kind": "corrupt"})
    assert "too many job submissions from this browser session" in refused.json()["error"]
    assert "2/m" in refused.json()["error"] and int(refused["Retry-After"]) >= 1
    # Reading is not limited, and another session starts its own count.
    assert client.get("/api/jobs/").status_code == 200
    assert _client_with_session().post("/api/jobs/", {"kind": "corrupt"}).status_code == 400


def test_job_posts_over_the_address_limit_get_429_whatever_the_session(settings):
    settings.SYNCLAB_RATE_JOBS_IP = "3/m"
    codes = [_client_with_session().post("/api/jobs/", {}).status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]
    other = _client_with_session().post("/api/jobs/", {}, REMOTE_ADDR="10.1.2.3")
    assert other.status_code == 400


def test_behind_the_proxy_the_address_is_the_header_it_sets(settings):
    settings.SYNCLAB_RATE_JOBS_IP = "1/m"
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_REAL_IP"
    client = Client()
    assert client.post("/api/jobs/", {}, HTTP_X_REAL_IP="203.0.113.5").status_code == 400
    assert client.post("/api/jobs/", {}, HTTP_X_REAL_IP="203.0.113.6").status_code == 400
    assert client.post("/api/jobs/", {}, HTTP_X_REAL_IP="203.0.113.5").status_code == 429


def test_rater_posts_over_the_limit_get_429_as_json_for_the_player(settings):
    settings.SYNCLAB_RATE_RATER_SESSION = "2/m"
    client = _client_with_session()
    codes = [_play(client).status_code for _ in range(3)]
    assert codes[:2] != [429, 429] and codes[2] == 429
    assert "too many answers and player reports" in _play(client).json()["error"]
    # A rater's page loads are not counted.
    assert client.get(f"/study/s/{uuid.uuid4()}/clip/x/").status_code != 429


def test_rater_answer_pages_over_the_limit_get_a_plain_429(settings):
    settings.SYNCLAB_RATE_RATER_SESSION = ""  # only the address counts
    settings.SYNCLAB_RATE_RATER_IP = "1/m"
    client = Client()
    url = f"/study/s/{uuid.uuid4()}/clip/x/"
    assert client.post(url, {"q0": 3}).status_code != 429
    refused = client.post(url, {"q0": 3})
    assert refused.status_code == 429 and refused["Content-Type"].startswith("text/plain")
    assert b"Too many answers and player reports from this address" in refused.content


@pytest.mark.django_db(transaction=True)  # the backend closes its connection after each call
def test_demo_submissions_count_against_the_same_limits(settings, tmp_path):
    from webapp.demo.site import SiteBackend

    settings.SYNCLAB_RATE_JOBS_SESSION = "1/m"
    key = new_session()[0]
    visitor = SimpleNamespace(
        cookies={"sessionid": key}, headers={}, client=SimpleNamespace(host="10.9.8.7")
    )
    backend = SiteBackend(tmp_path)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\0" * 1000)
    with pytest.raises(gr.Error, match="broken.mp4"):
        backend.submit("corrupt", "", {}, {"video": str(broken)}, visitor)
    with pytest.raises(gr.Error, match="Too many job submissions from this browser session"):
        backend.submit("corrupt", "", {}, {"video": str(broken)}, visitor)
