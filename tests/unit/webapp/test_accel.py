"""Behind nginx, Django checks who may have a media file and hands the sending to nginx."""

import pytest
from django.test import Client

from webapp.demo.sessions import new_session
from webapp.jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def owned_output():
    """(client of the owner, output URL, content) of a finished job's output file."""
    key = new_session()[0]
    job = Job.objects.create(
        kind="corrupt",
        status="succeeded",
        owner_session=key,
        outputs=[
            {"name": "out put.mp4", "path": "output/out put.mp4", "content_type": "video/mp4"}
        ],
    )
    (job.directory / "output").mkdir(parents=True)
    content = b"\x00\x01" * 500
    (job.directory / "output" / "out put.mp4").write_bytes(content)
    client = Client()
    client.cookies["sessionid"] = key
    return client, f"/api/jobs/{job.id}/outputs/out%20put.mp4", job, content


def test_without_the_proxy_django_sends_the_file(owned_output):
    client, url, _, content = owned_output
    response = client.get(url)
    assert b"".join(response.streaming_content) == content
    assert "X-Accel-Redirect" not in response


def test_behind_the_proxy_the_answer_names_the_file_for_nginx(owned_output, settings):
    settings.SYNCLAB_ACCEL_REDIRECT = "/protected-media/"
    client, url, job, _ = owned_output
    response = client.get(url + "?download=1", HTTP_RANGE="bytes=0-9")
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/protected-media/jobs/{job.id}/output/out%20put.mp4"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Type"] == "video/mp4"
    # Refusals stay Django's.
    assert Client().get(url).status_code == 404
