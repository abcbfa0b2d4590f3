"""The mounted Gradio demo reads no server file: raw event posts, downloads and uploads, refused.

These drive the real ASGI app (Django + Gradio behind DemoGuard) in process with Starlette's client.
"""

import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from starlette.testclient import TestClient

from webapp.demo.guard import NOT_UPLOADED, DemoGuard, job_output_link
from webapp.jobs.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def asgi():
    import webapp.asgi

    return webapp.asgi


@pytest.fixture
def visitor(asgi):
    with TestClient(asgi.application) as client:
        yield client


@pytest.fixture
def stranger(asgi):
    with TestClient(asgi.application) as client:
        yield client


def _config(client) -> dict:
    return client.get("/demo/config").json()


def _corrupt_join(client, path: str, **file_fields):
    """A raw queue/join post of the Corrupt tab's Run button, its file argument naming `path`."""
    config = _config(client)
    (dep,) = [d for d in config["dependencies"] if len(d["inputs"]) == 7]
    file_data = {"path": path, "orig_name": "x.mp4", "meta": {"_type": "gradio.FileData"}}
    body = {
        "data": [{**file_data, **file_fields}, "white", 5, False, "none", 0.3, 0],
        "fn_index": dep["id"],
        "trigger_id": dep["targets"][0][0],
        "session_hash": "abc123",
        "event_data": None,
    }
    return client.post("/demo/gradio_api/queue/join", json=body)


def _upload(client, name: str, content: bytes):
    return client.post("/demo/gradio_api/upload", files={"files": (name, content)})


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "/etc/no-such-file", "{media}/jobs", "{db}", "../../../etc/passwd"],
)
def test_event_naming_a_server_path_is_refused_alike_whether_it_exists_or_not(
    visitor, path, settings
):
    path = path.format(media=settings.MEDIA_ROOT, db=settings.DATABASES["default"]["NAME"])
    response = _corrupt_join(visitor, path)
    assert response.status_code == 403
    assert response.json() == {"error": NOT_UPLOADED}


def test_event_naming_another_sessions_upload_is_refused(visitor, stranger):
    uploaded = _upload(visitor, "clip.mp4", b"my clip")
    assert uploaded.status_code == 200
    (path,) = uploaded.json()
    response = _corrupt_join(stranger, path)
    assert response.status_code == 403 and response.json() == {"error": NOT_UPLOADED}
    # ...while its owner may use it (Gradio accepts the event and queues it)
    assert _corrupt_join(visitor, path).status_code == 200


def test_file_objects_hidden_anywhere_in_the_payload_are_checked(visitor):
    response = _corrupt_join(visitor, "/tmp", nested={"path": "/etc/hostname"})
    assert response.status_code == 403


def test_downloads_serve_only_the_visitors_uploads(visitor, stranger, settings):
    (path,) = _upload(visitor, "mine.wav", b"RIFF mine").json()
    assert visitor.get(f"/demo/gradio_api/file={path}").content == b"RIFF mine"
    for client, target in [
        (stranger, path),
        (visitor, "/etc/passwd"),
        (visitor, "/etc/no-such-file"),
        (visitor, f"{settings.MEDIA_ROOT}/jobs/x/input/video.mp4"),
    ]:
        for prefix in ("file=", "file/"):
            response = client.get(f"/demo/gradio_api/{prefix}{target}")
            assert response.status_code == 404
            assert response.json() == {"error": "no such file"}


def _job_with_output(session_key: str) -> Job:
    job = Job.objects.create(kind="corrupt", owner_session=session_key, status="succeeded")
    (job.directory / "output").mkdir(parents=True)
    (job.directory / "output" / "corrupted.wav").write_bytes(b"result")
    job.outputs = [{"name": "corrupted.wav", "path": "output/corrupted.wav", "content_type": "x"}]
    job.save()
    return job


def test_job_outputs_reach_only_their_owner_and_go_with_the_job(asgi, visitor, stranger):
    _upload(visitor, "a.wav", b"a")  # gives the visitor a session
    job = _job_with_output(visitor.cookies["sessionid"])
    link = job_output_link(
        Path(asgi.get_upload_folder()), str(job.id), job.output_path("corrupted.wav")
    )
    url = f"/demo/gradio_api/file={link}"
    assert visitor.get(url).content == b"result"
    assert stranger.get(url).status_code == 404
    assert visitor.delete(f"/api/jobs/{job.id}/").status_code == 204
    assert visitor.get(url).status_code == 404


def test_upload_gives_a_session_but_page_views_do_not(visitor):
    for _ in range(5):
        assert visitor.get("/demo/").status_code == 200
        assert visitor.get("/demo/config").status_code == 200
    assert Session.objects.count() == 0 and "sessionid" not in visitor.cookies
    _upload(visitor, "a.wav", b"a")
    assert Session.objects.count() == 1 and visitor.cookies["sessionid"]
    _upload(visitor, "b.wav", b"b")
    assert Session.objects.count() == 1


def test_upload_over_the_limit_is_refused_while_it_streams(asgi, tmp_path):
    guard = DemoGuard(
        asgi.application.app.app,
        asgi.django_app,
        upload_dir=asgi.get_upload_folder(),
        max_upload_bytes=1000,
    )

    def stored_files():
        upload_dir = Path(asgi.get_upload_folder())
        return {p: p.stat().st_size for p in upload_dir.rglob("*") if p.is_file()}

    # the folder is Gradio's shared cache: earlier tests may have left their own large files
    before = stored_files()
    with TestClient(guard) as client:

        def body():  # chunked: no Content-Length to refuse up front
            yield b"--b\r\nContent-Disposition: form-data; name=files; filename=big.wav\r\n\r\n"
            for _ in range(10_000):
                yield b"x" * 1000

        response = client.post(
            "/demo/gradio_api/upload",
            content=body(),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert response.status_code == 413
        assert response.json() == {"error": "the upload is larger than the limit of 1,000 bytes"}
        declared = client.post(
            "/demo/gradio_api/upload", files={"files": ("big.wav", b"x" * 200_000)}
        )
        assert declared.status_code == 413 and "limit" in declared.json()["error"]
    stored = {p: size for p, size in stored_files().items() if before.get(p) != size}
    assert all(size < 200_000 for size in stored.values()), stored


def test_deactivated_or_repassworded_staff_see_no_jobs_on_the_demo(asgi, visitor):
    from django.test import Client

    from webapp.demo.sessions import owner_from_cookies
    from webapp.jobs.selectors import jobs_visible_to

    Job.objects.create(kind="corrupt", owner_session="someone-else")
    staff = get_user_model().objects.create_user("boss", password="pw-one-1234", is_staff=True)
    for revoke in ("deactivate", "password"):
        django_client = Client()
        django_client.login(username="boss", password="pw-one-1234")
        cookies = {"sessionid": django_client.cookies["sessionid"].value}
        assert jobs_visible_to(owner_from_cookies(cookies)).count() == 1
        if revoke == "deactivate":
            staff.is_active = False
        else:
            staff.set_password("pw-two-5678")
        staff.save()
        owner = owner_from_cookies(cookies)
        assert owner.user is None and jobs_visible_to(owner).count() == 0
        staff.is_active = True
        staff.set_password("pw-one-1234")
        staff.save()


def test_run_history_and_proxy_routes_are_closed(visitor):
    for route in ("run-history/buckets", "proxy=http://example.com/x", "runs"):
        assert visitor.get(f"/demo/gradio_api/{route}").status_code == 404
    assert visitor.post("/demo/gradio_api/process_recording").status_code == 404


def test_event_bodies_over_a_mebibyte_are_refused(visitor):
    response = visitor.post(
        "/demo/gradio_api/queue/join",
        content=json.dumps({"data": ["x" * (1 << 20)]}),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413 and response.json()["error"]
