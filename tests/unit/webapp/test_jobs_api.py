"""The jobs API: visitors see only their jobs, staff see all, delete removes files, cancel works."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from webapp.jobs.models import Job

pytestmark = pytest.mark.django_db
NOISE = json.dumps({"audio": {"noise": "pink", "snr_db": 10}})


def _create(client: Client, clip) -> dict:
    with clip.open("rb") as f:
        response = client.post("/api/jobs/", {"kind": "corrupt", "params": NOISE, "video": f})
    assert response.status_code == 201, response.content
    return response.json()


def test_created_job_is_stored_queued_with_its_input(client, clip):
    body = _create(client, clip)
    job = Job.objects.get(pk=body["id"])
    assert body["status"] == "queued" and body["kind"] == "corrupt"
    # stored normalised, with the defaults filled in, so that the worker never parses them again
    assert job.params == {"audio": {"noise": "pink", "snr_db": 10.0, "partial": False}, "seed": 0}
    assert job.input("video").read_bytes() == clip.read_bytes()
    assert job.inputs["video"]["probe"]["has_audio"] is True
    assert job.owner_session and job.owner is None


def test_another_visitor_gets_404_for_my_job(client, clip):
    body = _create(client, clip)
    stranger = Client()
    for response in (
        stranger.get(f"/api/jobs/{body['id']}/"),
        stranger.delete(f"/api/jobs/{body['id']}/"),
        stranger.post(f"/api/jobs/{body['id']}/cancel/"),
    ):
        assert response.status_code == 404
    assert stranger.get("/api/jobs/").json()["jobs"] == []
    assert Job.objects.filter(pk=body["id"]).exists()


def test_staff_see_every_job(client, clip):
    body = _create(client, clip)
    staff = get_user_model().objects.create_user("admin", password="x", is_staff=True)
    other = Client()
    other.force_login(staff)
    assert other.get(f"/api/jobs/{body['id']}/").status_code == 200
    assert [j["id"] for j in other.get("/api/jobs/").json()["jobs"]] == [body["id"]]


def test_delete_removes_the_row_and_every_file(client, clip):
    body = _create(client, clip)
    folder = Job.objects.get(pk=body["id"]).directory
    assert folder.is_dir()
    assert client.delete(f"/api/jobs/{body['id']}/").status_code == 204
    assert not folder.exists()
    assert client.get(f"/api/jobs/{body['id']}/").status_code == 404


def test_cancel_queued_job_then_cancel_again_is_a_conflict(client, clip):
    body = _create(client, clip)
    response = client.post(f"/api/jobs/{body['id']}/cancel/")
    assert response.json()["status"] == "cancelled"
    again = client.post(f"/api/jobs/{body['id']}/cancel/")
    assert again.status_code == 409 and "already finished" in again.json()["error"]


def test_output_download_serves_only_listed_outputs(client, clip):
    body = _create(client, clip)
    job = Job.objects.get(pk=body["id"])
    (job.directory / "output").mkdir()
    (job.directory / "output" / "corrupted.mp4").write_bytes(b"result")
    job.outputs = [
        {"name": "corrupted.mp4", "path": "output/corrupted.mp4", "content_type": "video/mp4"}
    ]
    job.save()
    url = client.get(f"/api/jobs/{job.id}/").json()["outputs"][0]["url"]
    assert b"".join(client.get(url).streaming_content) == b"result"
    assert client.get(f"/api/jobs/{job.id}/outputs/video.mp4").status_code == 404
    assert Client().get(url).status_code == 404


def test_healthz_reports_each_part(client):
    body = client.get("/healthz").json()
    assert body["database"]["ok"] is True
    assert set(body) == {"database", "broker", "workers", "status"}


def test_cookieless_reads_store_no_session(client, clip):
    from django.contrib.sessions.models import Session

    for _ in range(20):
        assert Client().get("/api/jobs/").json() == {"jobs": []}
        assert Client().get("/healthz").status_code in {200, 503}
    assert Session.objects.count() == 0
    _create(client, clip)
    assert Session.objects.count() == 1


def test_deactivated_staff_lose_access_at_once(client, clip):
    body = _create(client, clip)
    staff = get_user_model().objects.create_user("admin", password="x", is_staff=True)
    other = Client()
    other.force_login(staff)
    assert other.get(f"/api/jobs/{body['id']}/").status_code == 200
    staff.is_active = False
    staff.save()
    assert other.get(f"/api/jobs/{body['id']}/").status_code == 404
    assert other.get("/api/jobs/").json()["jobs"] == []
