"""Hostile job requests: each one a 4xx with a JSON error naming the problem, nothing stored.

The suite runs on PostgreSQL (which refuses NUL and lone surrogates when a row is saved); run it
with DATABASE_URL=sqlite:///... for SQLite.
"""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from webapp.jobs.models import Job

pytestmark = pytest.mark.django_db

API = "/api/jobs/"
NOISE = {"audio": {"noise": "white", "snr_db": 5}}


def _nested(depth: int) -> str:
    return '{"audio": ' + "[" * depth + "]" * depth + "}"


HOSTILE_PARAMS = {
    "nested_2000_levels": (_nested(2000), "nested more than 8 levels deep"),
    "nested_50_levels": (_nested(50), "nested more than 8 levels deep"),
    "integer_of_5000_digits": ('{"seed": ' + "9" * 5000 + "}", "integers must be within"),
    "integer_of_30_digits": ('{"seed": ' + "9" * 30 + "}", "integers must be within"),
    "float_overflow": ('{"audio": {"noise": "white", "snr_db": 1e400}}', "out of range"),
    "nan": ('{"audio": {"noise": "white", "snr_db": NaN}}', "NaN is not a number"),
    "infinity": ('{"seed": -Infinity}', "-Infinity is not a number"),
    "nul_in_value": ('{"audio": {"noise": "white\\u0000"}}', "NUL character"),
    "nul_in_key": ('{"audio\\u0000": 1}', "NUL character"),
    "lone_surrogate": ('{"audio": {"noise": "\\ud800"}}', "lone surrogate (\\ud800)"),
    "not_an_object": ("[1, 2]", "must be a JSON object"),
    "broken_json": ('{"audio": ', "not valid JSON"),
}


@pytest.mark.parametrize("case", HOSTILE_PARAMS)
def test_hostile_params_are_a_json_400(client, clip, case):
    params, expected = HOSTILE_PARAMS[case]
    with clip.open("rb") as f:
        response = client.post(API, {"kind": "corrupt", "params": params, "video": f})
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert expected in error and error.startswith("params")
    assert "/tmp" not in error and Job.objects.count() == 0


@pytest.mark.parametrize("text", ["bin blue\x00 at f", "bin \ud800 blue", "\udfff"])
def test_generate_text_with_nul_or_surrogates_is_refused_before_the_database(
    client, tmp_path, text
):
    from tests.unit.webapp.test_upload_validation import _png

    face = _png(tmp_path)
    response = client.post(
        API,
        {
            "kind": "generate",
            "model": "alm-demo",
            "params": json.dumps({"text": text}),
            "image": SimpleUploadedFile("face.png", face.read_bytes()),
        },
    )
    assert response.status_code == 400
    assert "params.text" in response.json()["error"] and Job.objects.count() == 0


def test_file_name_with_a_nul_is_refused(client, clip):
    response = client.post(
        API,
        {
            "kind": "corrupt",
            "params": json.dumps(NOISE),
            "video": SimpleUploadedFile("cl\x00ip.mp4", clip.read_bytes()),
        },
    )
    # Django's multipart parser cuts the name at the NUL; nothing with a NUL is stored
    assert response.status_code in {201, 400}, response.content
    assert all(
        "\x00" not in item["name"] for job in Job.objects.all() for item in job.inputs.values()
    )


def test_model_with_a_nul_is_refused(client, clip):
    with clip.open("rb") as f:
        response = client.post(API, {"kind": "transcribe", "model": "avrelscore\x00", "video": f})
    assert response.status_code == 400 and "model" in response.json()["error"]


@pytest.mark.parametrize(
    "method, url, status, expected",
    [
        ("put", API, 405, "method PUT is not allowed here; use GET, POST"),
        ("get", API + "00000000-0000-0000-0000-000000000000/", 404, "not found"),
        ("get", API + "not-a-uuid/", 404, "not found"),
        ("get", API + "00000000-0000-0000-0000-000000000000/outputs/x.mp4", 404, "not found"),
        ("patch", API + "00000000-0000-0000-0000-000000000000/", 405, "method PATCH"),
        ("get", API + "00000000-0000-0000-0000-000000000000/cancel/", 405, "method GET"),
    ],
)
def test_djangos_own_refusals_are_json(client, method, url, status, expected):
    response = getattr(client, method)(url)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert expected in response.json()["error"]


def test_form_fields_over_djangos_memory_limit_are_a_json_413(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post(API, {"kind": "corrupt", "params": json.dumps(NOISE) + " " * 2000})
    assert response.status_code == 413 and "too large" in response.json()["error"]


def test_params_longer_than_64_kib_are_refused(client):
    params = '{"seed": 0' + " " * (64 * 1024) + "}"
    response = client.post(API, {"kind": "corrupt", "params": params})
    assert response.status_code == 400
    assert response.json()["error"] == (
        "params: Ensure this value has at most 65536 characters (it has 65547)."
    )


def test_one_byte_over_the_size_limit_names_the_exact_size(client, clip, settings):
    settings.SYNCLAB_UPLOAD_MAX_BYTES = clip.stat().st_size - 1
    with clip.open("rb") as f:
        response = client.post(API, {"kind": "corrupt", "params": json.dumps(NOISE), "video": f})
    error = response.json()["error"]
    assert response.status_code == 413
    assert error.startswith(f"video: clip.mp4: the file is {clip.stat().st_size:,} bytes")
    assert f"the limit is {clip.stat().st_size - 1:,} bytes" in error


def test_messages_never_show_server_temp_paths(client, tmp_path):
    from tests.unit.webapp.test_upload_validation import _truncated_faststart

    for bad in (b"not media at all\n" * 50, _truncated_faststart(tmp_path).read_bytes()):
        response = client.post(
            API,
            {
                "kind": "corrupt",
                "params": json.dumps(NOISE),
                "video": SimpleUploadedFile("mine.mp4", bad),
            },
        )
        error = response.json()["error"]
        assert response.status_code == 400 and "mine.mp4" in error
        assert "/tmp" not in error and ".upload" not in error, error


def test_hls_playlist_uploaded_as_mp4_is_refused_by_name(client, tmp_path):
    from tests.conftest import make_clip

    secret = make_clip(tmp_path / "secret.ts")
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2,\n{secret}\n#EXT-X-ENDLIST\n"
    response = client.post(
        API,
        {
            "kind": "corrupt",
            "params": json.dumps(NOISE),
            "video": SimpleUploadedFile("clip.mp4", playlist.encode()),
        },
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("video: clip.mp4: is a 'hls' file")
    assert Job.objects.count() == 0


def test_upload_over_the_limit_never_reaches_the_disk_whole(client, clip, settings, monkeypatch):
    """The handler stops writing at the limit: the temporary file never holds more."""
    from django.core.files.uploadhandler import TemporaryFileUploadHandler

    written = []
    real_receive = TemporaryFileUploadHandler.receive_data_chunk

    def spy(self, raw_data, start):
        written.append(len(raw_data))
        return real_receive(self, raw_data, start)

    monkeypatch.setattr(TemporaryFileUploadHandler, "receive_data_chunk", spy)
    settings.SYNCLAB_UPLOAD_MAX_BYTES = 500_000
    big = SimpleUploadedFile("big.mp4", clip.read_bytes() * (1_500_000 // clip.stat().st_size + 1))
    response = client.post(API, {"kind": "corrupt", "params": json.dumps(NOISE), "video": big})
    assert response.status_code == 413
    assert f"the file is {big.size:,} bytes; the limit is 500,000 bytes" in response.json()["error"]
    assert 0 < sum(written) <= 500_000
    assert Job.objects.count() == 0


def test_body_declared_larger_than_any_job_needs_is_refused_unread(client, settings):
    settings.SYNCLAB_UPLOAD_MAX_REQUEST_BYTES = 1_000_000
    body = b"--x\r\nContent-Disposition: form-data; name=kind\r\n\r\ncorrupt\r\n--x--\r\n"
    body += b" " * 1_100_000
    response = client.generic("POST", API, body, content_type="multipart/form-data; boundary=x")
    assert response.status_code == 413
    assert response.json()["error"] == (
        f"the request body is {len(body):,} bytes; the limit is 1,000,000 bytes for one request"
    )
