"""`python -m modelzoo zoo ...`: JSON on stdout, exit 2 with one line on bad input, and converted
authors' checkpoints that round-trip to identical tensors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import modelzoo
from modelzoo.__main__ import main
from modelzoo.alm import model as alm_model
from modelzoo.avrelscore.convert import export
from modelzoo.avrelscore.model import AVRelScore
from modelzoo.zoo.loading import file_sha256
from modelzoo.zoo.registry import REGISTRY, ZooEntry

from ..alm.test_convert import TINY as TINY_ALM
from ..alm.test_convert import authors_checkpoint
from ..avrelscore.conftest import tiny_config
from .conftest import REVISION, assert_same_weights, hub_cache, replace_entry

ROOT = str(Path(modelzoo.__file__).resolve().parents[1])


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "modelzoo", "zoo", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT, "HF_HUB_OFFLINE": "1"},
    )


def run(capsys, *args) -> tuple[int, dict | list | None, str]:
    """(exit status, parsed stdout JSON or None, stderr) of the zoo verb run in this process."""
    status = main(["zoo", *map(str, args)])
    out, err = capsys.readouterr()
    return status, json.loads(out) if out else None, err


@pytest.fixture
def alm_tiny(monkeypatch):
    monkeypatch.setitem(alm_model.CONFIGS, "tiny", TINY_ALM)
    e = ZooEntry("alm-tiny", "alm", "tiny", "synclab-test/alm-tiny", None)
    monkeypatch.setitem(REGISTRY, e.id, e)
    return e


def avsr_checkpoint(path: Path) -> AVRelScore:
    """An ms-dot-k/AVSR `{'state_dict'}` file of a tiny model; returns that model."""
    torch.manual_seed(0)
    model = AVRelScore(tiny_config()).eval()
    torch.save({"state_dict": export(model.state_dict(), "avrelscore")}, path)
    return model


def test_list_prints_every_entry_as_clean_json():
    result = cli("list")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert {e["id"] for e in entries} == set(REGISTRY)
    demo = next(e for e in entries if e["id"] == "avrelscore-demo")
    assert set(demo) == {"id", "architecture", "kind", "licence", "revision", "available"}
    assert demo["kind"] == "demo"


def test_unknown_id_exits_2_with_one_line_naming_it():
    result = cli("info", "no-such-model")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "no-such-model" in result.stderr


def test_info_says_where_to_get_weights_that_are_missing(capsys):
    status, info, _ = run(capsys, "info", "avrelscore-lrs3")
    assert status == 0
    assert info["licence"] == "cc-by-nc-4.0" and not info["weights"]["available"]
    assert "ms-dot-k/AVSR" in info["weights"]["where_to_get"]


def test_avsr_convert_then_load_gives_identical_tensors(tmp_path, capsys):
    source = avsr_checkpoint(tmp_path / "Best.ckpt")
    out = tmp_path / "zoo"
    status, report, err = run(
        capsys, "convert", "--format", "avsr", tmp_path / "Best.ckpt",
        "--model", "avrelscore-lrs3", "--out", out,
    )  # fmt: skip
    assert status == 0, err
    assert report["variant"] == "avrelscore" and not report["config_matches_entry"]
    assert report["renamed"] == len(source.state_dict()) and report["kept"] == 0
    assert report["dropped"] == 4  # the reference's unused after_norm_vid/aud LayerNorms
    assert_same_weights(source, modelzoo.load(out))


def test_synctalkface_convert_then_load_gives_identical_tensors(alm_tiny, tmp_path, capsys):
    checkpoint = authors_checkpoint(TINY_ALM)
    torch.save(checkpoint, tmp_path / "Epoch_1.ckpt")
    status, report, err = run(
        capsys, "convert", "--format", "synctalkface", tmp_path / "Epoch_1.ckpt",
        "--model", alm_tiny.id, "--out", tmp_path / "zoo",
    )  # fmt: skip
    assert status == 0, err
    generator = {**checkpoint["model_state_dict"], **checkpoint["dec_state_dict"]}
    assert (report["kept"], report["renamed"]) == (len(generator), 0)
    assert report["dropped"] == len(checkpoint["disc_state_dict"])  # the training discriminator
    loaded = modelzoo.load(tmp_path / "zoo").state_dict()
    assert loaded.keys() == generator.keys()
    for key, tensor in generator.items():
        assert torch.equal(loaded[key], tensor), key


def test_data_parallel_prefixes_count_as_renamed(alm_tiny, tmp_path, capsys):
    checkpoint = authors_checkpoint(TINY_ALM)
    checkpoint["dec_state_dict"] = {
        f"module.{k}": v for k, v in checkpoint["dec_state_dict"].items()
    }
    torch.save(checkpoint, tmp_path / "dp.ckpt")
    status, report, err = run(
        capsys, "convert", "--format", "synctalkface", tmp_path / "dp.ckpt",
        "--model", alm_tiny.id, "--out", tmp_path / "zoo",
    )  # fmt: skip
    assert status == 0, err
    assert report["renamed"] == len(checkpoint["dec_state_dict"])


def test_convert_of_a_checkpoint_missing_a_key_names_it(alm_tiny, tmp_path, capsys):
    checkpoint = authors_checkpoint(TINY_ALM)
    missing = "output_block.1.weight"
    del checkpoint["dec_state_dict"][missing]
    torch.save(checkpoint, tmp_path / "short.ckpt")
    status, _, err = run(
        capsys, "convert", "--format", "synctalkface", tmp_path / "short.ckpt",
        "--model", alm_tiny.id, "--out", tmp_path / "zoo",
    )  # fmt: skip
    assert status == 2 and missing in err


def test_convert_of_an_unmapped_key_names_it(tmp_path, capsys):
    avsr_checkpoint(tmp_path / "x.ckpt")
    checkpoint = torch.load(tmp_path / "x.ckpt")
    checkpoint["state_dict"]["encoders.fusion.gate.weight"] = torch.zeros(1)
    torch.save(checkpoint, tmp_path / "x.ckpt")
    status, _, err = run(
        capsys, "convert", "--format", "avsr", tmp_path / "x.ckpt",
        "--model", "avrelscore-lrs2", "--out", tmp_path / "zoo",
    )  # fmt: skip
    assert status == 2 and "encoders.fusion.gate.weight" in err


@pytest.mark.parametrize(
    ("fmt", "model_id", "message"),
    [("avsr", "alm-lrw", "alm model"), ("synctalkface", "avrelscore-lrs3", "avrelscore model")],
)
def test_convert_refuses_a_format_that_does_not_hold_the_models_architecture(
    tmp_path, capsys, fmt, model_id, message
):
    avsr_checkpoint(tmp_path / "x.ckpt")
    status, _, err = run(
        capsys, "convert", "--format", fmt, tmp_path / "x.ckpt", "--model", model_id,
        "--out", tmp_path / "zoo",
    )  # fmt: skip
    assert status == 2 and message in err


def test_convert_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    avsr_checkpoint(tmp_path / "x.ckpt")
    (tmp_path / "zoo").mkdir()
    (tmp_path / "zoo" / "notes.txt").write_text("mine")
    status, _, err = run(
        capsys, "convert", "--format", "avsr", tmp_path / "x.ckpt", "--model", "avrelscore-lrs2",
        "--out", tmp_path / "zoo",
    )  # fmt: skip
    assert status == 2 and "not an empty folder" in err


def test_verify_folder_checks_its_entrys_checksums(saved, tiny, monkeypatch, capsys):
    _, folder = saved
    sums = {n: file_sha256(folder / n) for n in ("config.json", "model.safetensors")}
    replace_entry(monkeypatch, tiny, sha256=sums)
    status, result, err = run(capsys, "verify", folder)
    assert status == 0, err
    assert result["checksums_verified"] == sorted(sums) and result["strict_load"] == "ok"
    replace_entry(monkeypatch, tiny, sha256={**sums, "model.safetensors": "0" * 64})
    status, _, err = run(capsys, "verify", folder)
    assert status == 2 and "checksum mismatch" in err and "model.safetensors" in err


def test_verify_id_reads_the_hub_cache_without_downloading(
    saved, tiny, tmp_path, monkeypatch, capsys
):
    _, folder = saved
    hub_cache(tmp_path, monkeypatch, folder, tiny.repo_id, REVISION)
    monkeypatch.delenv("HF_HUB_OFFLINE")  # verify must not try the network on its own
    status, result, err = run(capsys, "verify", tiny.id)
    assert status == 0, err
    assert REVISION in result["folder"]
    replace_entry(monkeypatch, tiny, revision="f" * 40)
    status, _, err = run(capsys, "verify", tiny.id)
    assert status == 2 and "not in the Hub cache" in err


def test_pull_gives_the_cached_snapshot_at_the_pinned_revision(
    saved, tiny, tmp_path, monkeypatch, capsys
):
    _, folder = saved
    snapshot = hub_cache(tmp_path, monkeypatch, folder, tiny.repo_id, REVISION)
    status, result, err = run(capsys, "pull", tiny.id)
    assert status == 0, err
    assert result == {"id": tiny.id, "source": "hub", "revision": REVISION, "folder": str(snapshot)}


class RecordingHfApi:
    """Stands in for huggingface_hub.HfApi: records the calls a push makes, uploads nothing."""

    calls: list = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def create_branch(self, repo_id, **kwargs):
        self.calls.append(("create_branch", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs["repo_id"], kwargs))

        class Commit:
            oid = "c" * 40
            commit_url = "https://huggingface.co/x/commit/" + oid

        return Commit()


def test_push_uploads_the_folder_with_its_card(saved, monkeypatch, capsys):
    _, folder = saved
    RecordingHfApi.calls = []
    monkeypatch.setattr("huggingface_hub.HfApi", RecordingHfApi)
    status, result, err = run(
        capsys, "push", folder, "--repo", "me/syncnet-tiny", "--revision", "v1", "--private"
    )
    assert status == 0, err
    create, branch, upload = RecordingHfApi.calls
    assert create == ("create_repo", "me/syncnet-tiny", {"private": True, "exist_ok": True})
    assert branch == ("create_branch", "me/syncnet-tiny", {"branch": "v1", "exist_ok": True})
    assert upload[2]["folder_path"] == folder and upload[2]["revision"] == "v1"
    assert result["revision"] == "c" * 40
    assert result["sha256"]["model.safetensors"] == file_sha256(folder / "model.safetensors")


def test_push_refuses_a_folder_without_a_model_card(saved, monkeypatch, capsys):
    _, folder = saved
    (folder / "README.md").unlink()
    RecordingHfApi.calls = []
    monkeypatch.setattr("huggingface_hub.HfApi", RecordingHfApi)
    status, _, err = run(capsys, "push", folder, "--repo", "me/syncnet-tiny")
    assert status == 2 and "README.md" in err
    assert RecordingHfApi.calls == []
