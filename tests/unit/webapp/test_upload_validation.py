"""Every bad upload gets a 4xx naming the problem; nothing stored, existing jobs kept."""

import json
import subprocess
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conftest import make_clip
from webapp.jobs.models import Job

pytestmark = pytest.mark.django_db

API = "/api/jobs/"
NOISE = json.dumps({"audio": {"noise": "white", "snr_db": 5}})
BLUR = json.dumps({"video": {"kind": "blur", "fraction": 0.5}})


@pytest.fixture
def existing_job(client, clip, settings, media_root):
    """A stored job whose row and files must survive every rejected upload."""
    with clip.open("rb") as f:
        response = client.post(API, {"kind": "corrupt", "params": NOISE, "video": f})
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])
    return job, sorted(p.name for p in job.directory.rglob("*"))


def _upload(path: Path, name: str | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name or path.name, path.read_bytes())


def _truncated_faststart(tmp_path: Path) -> Path:
    full = make_clip(tmp_path / "full.mp4", seconds=3, extra=["-movflags", "+faststart"])
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return cut


def _truncated_moov_at_end(tmp_path: Path) -> Path:
    full = make_clip(tmp_path / "full2.mp4", seconds=3)
    cut = tmp_path / "cut2.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    return cut


def _png(tmp_path: Path) -> Path:
    path = tmp_path / "face.png"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x64",
            "-frames:v",
            "1",
            str(path),
        ],
        check=True,
    )
    return path


BAD_UPLOADS = {
    "not_media": (lambda t: _text(t), {}, "not a readable"),
    "zero_bytes": (lambda t: _empty(t), {}, "empty"),
    "truncated_faststart": (_truncated_faststart, {}, "truncated"),
    "truncated_moov_at_end": (_truncated_moov_at_end, {}, "not a readable"),
    "video_without_audio_for_audio_noise": (
        lambda t: make_clip(t / "mute.mp4", audio=False),
        {},
        "no audio stream",
    ),
    "audio_only_for_blur": (
        lambda t: make_clip(t / "speech.wav", video=False),
        {"params": BLUR, "role": "audio"},
        "no video stream",
    ),
    "still_image": (_png, {}, "still image"),
    "too_small_frame": (lambda t: make_clip(t / "tiny.mp4", size="16x16"), {}, "too small"),
    "too_short": (lambda t: make_clip(t / "short.mp4", seconds=0.08), {}, "too short"),
}


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    return path


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    return path


def _assert_rejected(response, needle: str, existing_job) -> None:
    assert 400 <= response.status_code < 500, response.content
    error = response.json()["error"]
    assert needle.lower() in error.lower(), error
    job, files = existing_job
    assert Job.objects.count() == 1
    assert sorted(p.name for p in job.directory.rglob("*")) == files
    assert [p.name for p in job.directory.parent.iterdir()] == [str(job.id)]


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_bad_media_upload_is_refused_with_a_named_problem(case, client, tmp_path, existing_job):
    make, extra, needle = BAD_UPLOADS[case]
    path = make(tmp_path)
    role = extra.get("role", "video")
    data = {"kind": "corrupt", "params": extra.get("params", NOISE), role: _upload(path)}
    response = client.post(API, data)
    _assert_rejected(response, needle, existing_job)
    assert path.name in response.json()["error"]


def test_upload_over_the_size_limit_is_refused(client, clip, settings, existing_job):
    settings.SYNCLAB_UPLOAD_MAX_BYTES = clip.stat().st_size - 1
    response = client.post(API, {"kind": "corrupt", "params": NOISE, "video": _upload(clip)})
    _assert_rejected(response, "the limit is", existing_job)


def test_upload_over_the_duration_limit_is_refused(client, clip, settings, existing_job):
    settings.SYNCLAB_UPLOAD_MAX_SECONDS = 1
    response = client.post(API, {"kind": "corrupt", "params": NOISE, "video": _upload(clip)})
    _assert_rejected(response, "too long", existing_job)


def test_upload_over_the_resolution_limit_is_refused(client, clip, settings, existing_job):
    settings.SYNCLAB_UPLOAD_MAX_SIDE = 100
    response = client.post(API, {"kind": "corrupt", "params": NOISE, "video": _upload(clip)})
    _assert_rejected(response, "too large", existing_job)


def _multipart(fields: dict, file_field: str, file_name: str, content: bytes) -> tuple[bytes, str]:
    """Build the body by hand: Django's test client would strip the folder parts itself."""
    boundary = "synclab-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
        f'filename="{file_name}"\r\nContent-Type: video/mp4\r\n\r\n'.encode()
        + content
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("name", ["../../etc/clip.mp4", "..\\windows\\clip.mp4", "a/b.mp4"])
def test_file_name_with_folder_parts_is_refused(name, client, clip, existing_job):
    fields = {"kind": "corrupt", "params": NOISE}
    body, content_type = _multipart(fields, "video", name, clip.read_bytes())
    response = client.generic("POST", API, body, content_type=content_type)
    _assert_rejected(response, "folder parts", existing_job)


def test_request_without_a_file_is_refused(client, existing_job):
    response = client.post(API, {"kind": "corrupt", "params": NOISE})
    _assert_rejected(response, "exactly one file", existing_job)


def test_two_files_for_corrupt_are_refused(client, clip, tmp_path, existing_job):
    wav = make_clip(tmp_path / "a.wav", video=False)
    data = {"kind": "corrupt", "params": NOISE, "video": _upload(clip), "audio": _upload(wav)}
    _assert_rejected(client.post(API, data), "exactly one file", existing_job)


@pytest.mark.parametrize(
    "params, needle",
    [
        ("{not json", "not valid json"),
        ("[1, 2]", "json object"),
        (json.dumps({"audio": {"noise": "brown", "snr_db": 5}}), "noise"),
        (json.dumps({"audio": {"noise": "white", "snr_db": 400}}), "snr_db"),
        (json.dumps({"video": {"kind": "blur", "fraction": 1.5}}), "fraction"),
        (json.dumps({"colour": "red"}), "colour"),
        (json.dumps({}), "params"),
    ],
)
def test_bad_params_are_refused_with_the_field_named(params, needle, client, clip, existing_job):
    response = client.post(API, {"kind": "corrupt", "params": params, "video": _upload(clip)})
    _assert_rejected(response, needle, existing_job)


def test_unknown_kind_is_refused(client, clip, existing_job):
    response = client.post(API, {"kind": "dance", "params": NOISE, "video": _upload(clip)})
    _assert_rejected(response, "kind", existing_job)


def test_generate_with_a_model_without_weights_is_refused(client, clip, tmp_path, existing_job):
    wav = make_clip(tmp_path / "speech.wav", video=False)
    data = {"kind": "generate", "model": "cals-lrs2", "video": _upload(clip), "audio": _upload(wav)}
    _assert_rejected(client.post(API, data), "has no weights on this server", existing_job)


def test_unknown_or_wrong_kind_model_is_refused(client, clip, existing_job):
    data = {"kind": "transcribe", "model": "no-such-model", "video": _upload(clip)}
    expected = "'no-such-model' is not a transcribe model"
    _assert_rejected(client.post(API, data), expected, existing_job)
    data = {"kind": "transcribe", "model": "alm-lrw", "video": _upload(clip)}
    _assert_rejected(client.post(API, data), "'alm-lrw' is not a transcribe model", existing_job)


def test_model_is_required_for_transcribe(client, clip, existing_job):
    data = {"kind": "transcribe", "video": _upload(clip)}
    _assert_rejected(client.post(API, data), "transcribe needs a model id", existing_job)


def test_rejected_upload_leaves_no_temporary_job_folder(client, tmp_path, media_root):
    before = set((media_root / "jobs").glob("*")) if (media_root / "jobs").exists() else set()
    data = {"kind": "corrupt", "params": NOISE, "video": _upload(_text(tmp_path))}
    response = client.post(API, data)
    assert response.status_code == 400
    after = set((media_root / "jobs").glob("*")) if (media_root / "jobs").exists() else set()
    assert after == before


@pytest.fixture
def installed(monkeypatch):
    """Every registry model counts as installed, so the checks after the model's are reached."""
    from modelzoo.zoo import loading

    monkeypatch.setattr(loading, "weights_available", lambda entry: True)


def _photo(path: Path, image) -> Path:
    from PIL import Image

    Image.fromarray(image).save(path)
    return path


def test_generate_needs_speech_and_takes_one_source(client, tmp_path, installed, existing_job):
    from skimage import data

    astronaut = _photo(tmp_path / "astronaut.png", data.astronaut())
    wav = make_clip(tmp_path / "speech.wav", video=False)
    request = {"kind": "generate", "model": "alm-demo", "image": _upload(astronaut)}
    _assert_rejected(client.post(API, request), "needs speech", existing_job)
    request = {**request, "image": _upload(astronaut), "audio": _upload(wav)}
    request["params"] = '{"text": "bin blue"}'
    _assert_rejected(client.post(API, request), "not both", existing_job)


def test_bad_transcribe_params_are_refused(client, clip, installed, existing_job):
    data = {"kind": "transcribe", "model": "avrelscore-demo", "video": _upload(clip)}
    response = client.post(API, {**data, "params": '{"decoder": "beam", "beam_size": 500}'})
    _assert_rejected(response, "'beam_size' must be an integer from 1 to 64", existing_job)


def test_the_demo_pages_probe_of_its_file_is_reused_not_taken_again(tmp_path, monkeypatch):
    from modelzoo.media import probe as probing
    from webapp.demo.site import LocalUpload
    from webapp.jobs.forms import JobForm

    clip = make_clip(tmp_path / "talk.mp4", seconds=1.0)
    info = probing.probe(clip)
    monkeypatch.setattr(probing, "probe", lambda path: pytest.fail(f"{path} probed again"))
    upload = LocalUpload(str(clip), info)
    try:
        form = JobForm({"kind": "corrupt", "params": NOISE}, {"video": upload})
        assert form.is_valid(), form.errors
        assert form.cleaned_data["files"]["video"].checked.info is info
    finally:
        upload.close()
