"""One generate job from upload to result, with its data flowing once: each upload written once
into the job folder, probed once by the web and never again by the worker, its params parsed once,
and the face looked for only by the worker."""

import importlib
import os
import shutil
from collections import Counter
from pathlib import Path

import ffmpeg
import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from skimage import data

from modelzoo.alm import model as alm_model
from modelzoo.media import faces
from modelzoo.media.tts import speak
from modelzoo.zoo import registry
from modelzoo.zoo.loading import save
from modelzoo.zoo.registry import REGISTRY, ZooEntry
from tests.unit.modelzoo.test_generation import TINY_ALM
from webapp.jobs import kinds
from webapp.jobs.models import Job
from workers import tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def alm_tiny(tmp_path, monkeypatch):
    """A bundled tiny Audio-Lip Memory entry with random weights, served as the demo's are."""
    monkeypatch.setitem(alm_model.CONFIGS, "tiny", TINY_ALM)
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path / "weights")
    e = ZooEntry("alm-tiny", "alm", "tiny", "x/y", None, kind="demo", bundled="t")
    monkeypatch.setitem(REGISTRY, e.id, e)
    torch.manual_seed(0)
    model = alm_model.AudioLipMemoryModel(TINY_ALM)
    save(model, tmp_path / "weights" / "t", architecture="alm", model_id=e.id)
    return e


@pytest.fixture
def calls(monkeypatch):
    """Counts of the calls that each step of the data flow makes, by what they do; every wrapper
    hands the call on to the real function."""
    counts: Counter = Counter()

    def count(owner, name: str, label, key=lambda *a, **k: ()):
        real = getattr(owner, name)

        def counted(*args, **kwargs):
            counts[(label, *key(*args, **kwargs))] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)

    count(ffmpeg, "probe", "ffprobe", key=lambda path, **_: (str(path),))
    count(kinds, "parse_params", "parse params")
    count(faces, "_detect", "face detection")
    count(os, "link", "link")
    count(shutil, "copyfile", "copy")
    return counts


def _uploads(tmp_path: Path) -> dict:
    photo = tmp_path / "face.png"
    Image.fromarray(data.astronaut()).save(photo)  # 512x512, the face big enough for dlib
    speech = speak("bin blue at f two now", tmp_path / "speech.wav")
    return {
        "image": SimpleUploadedFile("face.png", photo.read_bytes()),
        "audio": SimpleUploadedFile("speech.wav", speech.read_bytes()),
    }


def test_a_generate_job_probes_parses_copies_and_detects_once_each(
    client, tmp_path, alm_tiny, calls
):
    uploads = _uploads(tmp_path)  # before counting starts: making the inputs is no part of it
    calls.clear()
    request = {"kind": "generate", "model": "alm-tiny", "params": '{"batch_size": 4}', **uploads}
    response = client.post("/api/jobs/", request)
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])

    # the web: one ffprobe per file, one parse, the files linked into the job folder, no face
    probes = {key[1]: n for key, n in calls.items() if key[0] == "ffprobe"}
    assert sorted(Path(path).suffix for path in probes) == [".png", ".wav"]
    assert set(probes.values()) == {1}
    others = {key: n for key, n in calls.items() if key[0] != "ffprobe"}
    assert others == {("parse params",): 1, ("link",): 2}, calls
    assert job.params == {"voice": "en-us", "batch_size": 4}  # normalised, defaults filled in
    assert job.inputs["image"]["probe"]["width"] == 512
    calls.clear()

    tasks.generate(str(job.id))  # the worker's task, run here

    job.refresh_from_db()
    assert (job.status, job.error) == ("succeeded", "")
    assert [item["name"] for item in job.outputs] == list(kinds.KINDS["generate"].outputs)
    # the worker: no ffprobe of the inputs, no parse, and the face found there
    assert calls[("parse params",)] == 0
    inputs = str(job.directory / "input")
    assert [key for key in calls if key[0] == "ffprobe" and key[1].startswith(inputs)] == []
    assert calls[("face detection",)] >= 1


def test_a_photo_without_a_face_is_accepted_and_fails_in_the_worker_naming_it(
    client, tmp_path, alm_tiny, calls
):
    coffee = tmp_path / "coffee.png"
    Image.fromarray(data.coffee()).save(coffee)
    request = {
        "kind": "generate",
        "model": "alm-tiny",
        "params": '{"text": "bin blue at f two"}',
        "image": SimpleUploadedFile("coffee.png", coffee.read_bytes()),
    }
    response = client.post("/api/jobs/", request)
    assert response.status_code == 201, response.content
    assert calls[("face detection",)] == 0  # the web process never looks for faces

    tasks.generate(response.json()["id"])

    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "failed"
    assert "no face found in the photo of image.png" in job.error


def test_unfinished_jobs_from_before_get_their_params_normalised():
    from django.apps import apps

    migration = importlib.import_module("webapp.jobs.migrations.0004_normalised_params")
    sent = {"audio": {"noise": "white", "snr_db": 5}}
    queued = Job.objects.create(kind="corrupt", params=sent)
    finished = Job.objects.create(kind="corrupt", params=sent, status=Job.Status.SUCCEEDED)

    migration.normalise_params(apps, None)

    queued.refresh_from_db()
    finished.refresh_from_db()
    normalised = {"audio": {"noise": "white", "snr_db": 5.0, "partial": False}, "seed": 0}
    assert queued.params == normalised
    assert finished.params == sent  # never run again, so left as it was
