"""Generate and transcribe jobs over HTTP with the bundled demo weights, on PostgreSQL, Redis and a
real worker process: valid media of the right length, transcripts with reliability, fallbacks."""

import json
import subprocess

import pytest
import requests
from PIL import Image
from skimage import data

from modelzoo.avrelscore.vocab import CHARS
from modelzoo.media.tts import speak
from tests.conftest import make_clip
from tests.integration.test_jobs_end_to_end import _wait
from webapp.demo.blocks import EXAMPLE_TEXT

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TEN_SECONDS = EXAMPLE_TEXT  # about ten seconds of espeak-ng speech


def _post(site, session, kind, model, files, params=None) -> dict:
    handles = {role: open(path, "rb") for role, path in files.items()}
    try:
        response = session.post(
            site.url + "/api/jobs/",
            data={"kind": kind, "model": model, "params": json.dumps(params or {})},
            files={role: (path.name, handles[role]) for role, path in files.items()},
            timeout=60,
        )
    finally:
        for handle in handles.values():
            handle.close()
    assert response.status_code == 201, response.text
    return response.json()


def _finished(site, session, job) -> dict:
    return _wait(
        site, session, job["id"], lambda b: b["status"] in {"succeeded", "failed"}, seconds=600
    )


def _streams(path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
    ).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


def _download(site, session, output, path):
    path.write_bytes(session.get(site.url + output["url"], timeout=60).content)
    return path


def _astronaut(path):
    Image.fromarray(data.astronaut()).save(path)
    return path


def test_generate_job_from_the_astronaut_photo_and_text(site, start_worker, tmp_path):
    start_worker()
    session = requests.Session()
    job = _post(
        site,
        session,
        "generate",
        "alm-demo",
        {"image": _astronaut(tmp_path / "astronaut.png")},
        {"text": TEN_SECONDS},
    )
    done = _finished(site, session, job)
    assert done["status"] == "succeeded", done
    video = _download(site, session, done["outputs"][0], tmp_path / "generated.mp4")
    streams = _streams(video)
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
    assert (streams["video"]["width"], streams["video"]["height"]) == (512, 512)
    assert streams["video"]["r_frame_rate"] == "25/1"
    speech = speak(TEN_SECONDS, tmp_path / "speech.wav")
    spoken = float(_streams(speech)["audio"]["duration"])
    assert spoken > 8.0
    assert float(streams["video"]["duration"]) == pytest.approx(spoken, abs=0.08)


def test_generate_job_with_a_face_video_and_audio_file_uses_cals(site, start_worker, tmp_path):
    start_worker()
    session = requests.Session()
    photo = _astronaut(tmp_path / "astronaut.png")
    face = tmp_path / "face.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-loop", "1", "-i", str(photo), "-t", "1", "-r", "25"]
        + ["-pix_fmt", "yuv420p", str(face)],
        check=True,
    )
    speech = speak("Place red by G nine soon.", tmp_path / "speech.wav")
    job = _post(site, session, "generate", "cals-demo", {"video": face, "audio": speech})
    done = _finished(site, session, job)
    assert done["status"] == "succeeded", done
    streams = _streams(_download(site, session, done["outputs"][0], tmp_path / "out.mp4"))
    assert float(streams["video"]["duration"]) == pytest.approx(
        float(_streams(speech)["audio"]["duration"]), abs=0.08
    )


def test_generate_job_on_a_video_without_a_face_fails_with_a_clear_error(
    site, start_worker, tmp_path
):
    start_worker()
    session = requests.Session()
    bars = make_clip(tmp_path / "bars.mp4", seconds=1, audio=False)
    speech = speak("Bin blue.", tmp_path / "speech.wav")
    done = _finished(
        site,
        session,
        _post(site, session, "generate", "alm-demo", {"video": bars, "audio": speech}),
    )
    assert done["status"] == "failed" and "face" in done["error"], done


def _transcript(site, session, done, tmp_path) -> dict:
    assert done["status"] == "succeeded", done
    output = next(o for o in done["outputs"] if o["name"] == "transcript.json")
    return json.loads(_download(site, session, output, tmp_path / "transcript.json").read_text())


def test_transcribe_job_gives_text_and_per_frame_reliability(site, start_worker, tmp_path):
    from modelzoo.synthgrid.build import build

    start_worker()
    session = requests.Session()
    corpus = build(tmp_path / "corpus", utterances=1, seed=123)
    clip = next(corpus.out.glob("**/*.mp4"))
    frames = int(_streams(clip)["video"]["nb_frames"])
    job = _post(
        site, session, "transcribe", "avrelscore-demo", {"video": clip}, {"decoder": "beam"}
    )
    result = _transcript(site, session, _finished(site, session, job), tmp_path)
    assert result["mode"] == "audio-visual" and result["notice"] == ""
    assert set(result["text"]) <= {c for c in CHARS if len(c) == 1} | {" "}
    for stream in ("audio", "video"):
        scores = result["reliability"][stream]
        assert len(scores) == frames and all(0.0 <= s <= 1.0 for s in scores)


def test_transcribe_job_without_a_face_falls_back_to_audio_only(site, start_worker, tmp_path):
    start_worker()
    session = requests.Session()
    bars = make_clip(tmp_path / "bars.mp4", seconds=2)
    job = _post(site, session, "transcribe", "avrelscore-demo", {"video": bars})
    result = _transcript(site, session, _finished(site, session, job), tmp_path)
    assert result["mode"] == "audio-only" and "face" in result["notice"]
