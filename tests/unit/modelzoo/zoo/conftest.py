"""A tiny registered SyncNet entry, its saved folder and a hand-made offline Hub cache."""

import shutil

import pytest
import torch

import modelzoo
from modelzoo import syncnet
from modelzoo.zoo import registry
from modelzoo.zoo.loading import save
from modelzoo.zoo.registry import REGISTRY, ZooEntry

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def tiny(monkeypatch):
    """A registered test entry for a SyncNet small enough to save and load in milliseconds."""
    monkeypatch.setitem(syncnet.CONFIGS, "tiny", syncnet.SyncNetConfig(img_size=96, width=16))
    e = ZooEntry(
        id="syncnet-tiny",
        architecture="syncnet",
        config="tiny",
        repo_id="synclab-test/syncnet-tiny",
        revision=REVISION,
        kind="demo",
        where_to_get="train it with modelzoo.syncnet.train",
    )
    monkeypatch.setitem(REGISTRY, e.id, e)
    return e


@pytest.fixture
def saved(tiny, tmp_path):
    """A tiny SyncNet with random weights saved in zoo format."""
    torch.manual_seed(0)
    model = modelzoo.build(tiny.id)
    return model, save(model, tmp_path / "saved", architecture="syncnet", model_id=tiny.id)


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    """An empty stand-in for modelzoo/zoo/weights, so tests neither see nor touch the real one."""
    folder = tmp_path / "bundled-weights"
    folder.mkdir()
    monkeypatch.setattr(registry, "WEIGHTS_DIR", folder)
    return folder


def replace_entry(monkeypatch, e: ZooEntry, **changes) -> ZooEntry:
    """Register a copy of `e` with `changes` under the same id for this test."""
    changed = ZooEntry(**{**e.__dict__, **changes})
    monkeypatch.setitem(REGISTRY, e.id, changed)
    return changed


def hub_cache(tmp_path, monkeypatch, folder, repo_id, revision):
    """Copy `folder` into a Hub cache laid out as huggingface_hub writes it, and go offline."""
    cache = tmp_path / "hf" / "hub"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / revision)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return repo / "snapshots" / revision


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
