"""The Space's in-process backend: real pipelines in a thread, jobs per session, no Django."""

import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import gradio as gr
import pytest
import torch

from modelzoo.avrelscore import model as avrelscore_model
from modelzoo.zoo import loading, registry
from modelzoo.zoo.loading import save
from modelzoo.zoo.registry import REGISTRY, ZooEntry
from tests.conftest import ROOT, make_clip
from tests.unit.modelzoo.avrelscore.conftest import tiny_config
from webapp.space import backend as space_backend
from webapp.space.backend import InProcessBackend

CORRUPT = {"audio": {"noise": "white", "snr_db": 5}, "seed": 0}


def browser(session: str):
    return SimpleNamespace(session_hash=session)


def follow(backend: InProcessBackend, job_id: str) -> list:
    """Poll a job as the page does until it finishes; the distinct updates seen."""
    seen = []
    while not seen or not seen[-1].finished:
        update = backend.poll(job_id)
        if not seen or update != seen[-1]:
            seen.append(update)
        time.sleep(0.01)
    return seen


@pytest.fixture
def backend(tmp_path):
    return InProcessBackend(tmp_path / "work", budget_bytes=10**9)


@pytest.fixture
def asr_tiny(tmp_path, monkeypatch):
    """A bundled tiny AV-RelScore entry, as the demo weights will be."""
    monkeypatch.setitem(avrelscore_model.CONFIGS, "tiny", tiny_config())
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path / "weights")
    e = ZooEntry("avrelscore-tiny", "avrelscore", "tiny", "x/y", None, kind="demo", bundled="t")
    monkeypatch.setitem(REGISTRY, e.id, e)
    torch.manual_seed(0)
    model = avrelscore_model.AVRelScore(tiny_config())
    save(model, tmp_path / "weights" / "t", architecture="avrelscore", model_id=e.id)
    return e


def test_importing_the_space_imports_neither_django_nor_celery():
    code = (
        "import sys, webapp.space.backend, webapp.demo.blocks; "
        "print(sorted(m for m in ('django', 'celery') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_corrupt_job_reports_progress_then_its_output_in_the_job_folder(backend, tmp_path):
    clip = make_clip(tmp_path / "talk.mp4", seconds=1.0)
    job_id = backend.submit("corrupt", "", CORRUPT, {"video": str(clip)}, browser("a"))
    updates = follow(backend, job_id)
    assert updates[-1].status == "succeeded"
    assert {u.status for u in updates[:-1]} <= {"queued", "running"}
    progress = [u.progress for u in updates[:-1]]
    assert progress == sorted(progress)
    output, stretches = updates[-1].outputs
    assert output.name == "corrupted.mp4" and output.parent.parent.parent == backend.work_dir
    assert stretches.name == "corruption.json" and stretches.parent == output.parent


def test_the_pages_probe_of_an_upload_is_the_one_probe_of_it(backend, tmp_path, monkeypatch):
    from modelzoo.media import probe as probing
    from webapp.demo import blocks

    clip = make_clip(tmp_path / "talk.mp4", seconds=1.0)
    taken = []
    real_probe = probing.probe
    monkeypatch.setattr(probing, "probe", lambda path: taken.append(path) or real_probe(path))
    files, probes = blocks._media_file(str(clip))
    assert files == {"video": str(clip)} and probes["video"].has_video
    job_id = backend.submit("corrupt", "", CORRUPT, files, browser("a"), probes)
    assert taken == [str(clip)]
    assert follow(backend, job_id)[-1].status == "succeeded"


def test_bad_upload_is_refused_with_the_file_named(backend, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\0" * 1000)
    with pytest.raises(gr.Error, match="broken.mp4"):
        backend.submit("corrupt", "", CORRUPT, {"video": str(broken)}, browser("a"))


def test_model_without_weights_here_is_refused(backend, tmp_path):
    clip = make_clip(tmp_path / "talk.mp4", seconds=1.0)
    with pytest.raises(gr.Error, match="'avrelscore-lrs3' has no weights on this server"):
        backend.submit("transcribe", "avrelscore-lrs3", {}, {"video": str(clip)}, None)


def test_jobs_tab_lists_only_the_requesting_sessions_jobs(backend, tmp_path):
    clip = make_clip(tmp_path / "talk.mp4", seconds=1.0)
    done = follow(backend, backend.submit("corrupt", "", CORRUPT, {"video": str(clip)},
                                          browser("a")))[-1]  # fmt: skip
    assert [row[0] for row in backend.list_jobs(browser("a"))] == [done.job_id]
    assert backend.list_jobs(browser("b")) == []
    assert backend.list_jobs(browser("a"))[0][3:5] == ["succeeded", "100%"]


def test_transcribe_jobs_load_their_model_once(backend, asr_tiny, tmp_path, monkeypatch):
    loads = []
    real_load = loading.load_for_inference
    monkeypatch.setattr(
        loading, "load_for_inference", lambda *a, **k: loads.append(a) or real_load(*a, **k)
    )
    clip = make_clip(tmp_path / "talk.mp4", seconds=1.0)
    assert backend.models("transcribe")[-1][1] == asr_tiny.id
    for _ in range(2):
        job_id = backend.submit("transcribe", asr_tiny.id, {}, {"video": str(clip)}, None)
        last = follow(backend, job_id)[-1]
        assert last.status == "succeeded", last.error
    assert sorted(p.name for p in last.outputs) == ["transcript.json", "transcript.txt"]
    assert loads == [(asr_tiny.id,)]


def test_jobs_wait_their_turn_and_know_their_place(backend, tmp_path, monkeypatch):
    release = threading.Event()
    real_run = space_backend.run_pipeline

    def held(*args):
        release.wait(60)
        return real_run(*args)

    monkeypatch.setattr(space_backend, "run_pipeline", held)
    clip = make_clip(tmp_path / "talk.mp4", seconds=1.0)
    jobs = [backend.submit("corrupt", "", CORRUPT, {"video": str(clip)}, browser(s)) for s in "abc"]
    while backend.poll(jobs[0]).status != "running":  # the first holds the one runner
        time.sleep(0.01)
    assert [(backend.poll(j).status, backend.poll(j).ahead) for j in jobs] == [
        ("running", None),
        ("queued", 0),
        ("queued", 1),
    ]
    release.set()
    assert [follow(backend, j)[-1].status for j in jobs] == ["succeeded"] * 3
