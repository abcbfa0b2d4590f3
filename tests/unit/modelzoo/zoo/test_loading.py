"""Zoo building and strict loading: local folders, a hand-made offline Hub cache, clear errors."""

import json
import shutil
import subprocess
import sys

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file, save_file

import modelzoo
from modelzoo import syncnet
from modelzoo.errors import UserError
from modelzoo.zoo import registry
from modelzoo.zoo.loading import file_sha256, save
from modelzoo.zoo.registry import ARCHITECTURES, REGISTRY, ZooEntry

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


def hub_cache(tmp_path, monkeypatch, folder, repo_id, revision):
    """Copy `folder` into a Hub cache laid out as huggingface_hub writes it, and go offline."""
    cache = tmp_path / "hf" / "hub"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
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


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_build_gives_each_architecture_on_its_demo_config(architecture, monkeypatch):
    e = ZooEntry(f"{architecture}-demo", architecture, "demo", "synclab/x", None, kind="demo")
    monkeypatch.setitem(REGISTRY, e.id, e)
    model = modelzoo.build(e.id)
    assert isinstance(model, ARCHITECTURES[architecture])
    assert model.config == ARCHITECTURES.module(architecture).CONFIGS["demo"]


@pytest.mark.parametrize("model_id", ["avrelscore-lrs2", "avrelscore-lrs3", "alm-lrw", "cals-lrs2"])
def test_paper_entries_name_a_known_architecture_and_config(model_id):
    e = registry.entry(model_id)
    assert e.kind == "paper" and e.licence == "cc-by-nc-4.0"
    assert registry.named_config(e.architecture, e.config) is not None


def test_import_modelzoo_does_not_import_torch():
    code = "import sys, modelzoo; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_save_then_load_folder_gives_equal_tensors(saved):
    model, folder = saved
    loaded = modelzoo.load(folder)
    assert_same_weights(model, loaded)
    assert not loaded.training


def test_saved_registry_model_has_a_card_with_its_licence_and_tags(tiny, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, tiny.id, ZooEntry(**{**tiny.__dict__, "licence": "mit"}))
    folder = save(modelzoo.build(tiny.id), tmp_path / "m", architecture="syncnet", model_id=tiny.id)
    card = ModelCard.load(folder / "README.md")
    assert card.data.license == "mit"
    assert card.data.library_name == "synclab"
    assert "demo-checkpoint" in card.data.tags


def test_folder_without_synclab_json_is_recognised_by_its_config_fields(saved):
    model, folder = saved
    (folder / "synclab.json").unlink()
    assert isinstance(modelzoo.load(folder), syncnet.SyncNet)


def test_missing_weight_key_is_an_error_naming_it(saved):
    _, folder = saved
    weights = load_file(folder / "model.safetensors")
    # not a BatchNorm's num_batches_tracked, which torch fills in when absent
    dropped = next(key for key in sorted(weights) if key.endswith(".weight"))
    del weights[dropped]
    save_file(weights, folder / "model.safetensors")
    with pytest.raises(UserError, match=dropped.replace(".", r"\.")):
        modelzoo.load(folder)


def test_unexpected_weight_key_is_an_error_naming_it(saved):
    _, folder = saved
    weights = load_file(folder / "model.safetensors")
    weights["stray_head.weight"] = torch.zeros(2)
    save_file(weights, folder / "model.safetensors")
    with pytest.raises(UserError, match=r"stray_head\.weight"):
        modelzoo.load(folder)


@pytest.mark.parametrize("change", ["unknown", "missing"])
def test_config_json_fields_must_match_the_config_exactly(saved, change):
    _, folder = saved
    config = json.loads((folder / "config.json").read_text())
    if change == "unknown":
        config["dropout_rate"] = 0.3
    else:
        del config["num_frames"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="dropout_rate" if change == "unknown" else "num_frames"):
        modelzoo.load(folder)


def test_unknown_model_id_lists_the_known_ids():
    with pytest.raises(UserError, match="no-such-model") as err:
        modelzoo.load("no-such-model")
    assert all(model_id in str(err.value) for model_id in REGISTRY)


def test_offline_load_from_hub_cache_at_pinned_revision(saved, tiny, tmp_path, monkeypatch):
    model, folder = saved
    snapshot = hub_cache(tmp_path, monkeypatch, folder, tiny.repo_id, tiny.revision)
    sums = {n: file_sha256(snapshot / n) for n in ("config.json", "model.safetensors")}
    monkeypatch.setitem(REGISTRY, tiny.id, ZooEntry(**{**tiny.__dict__, "sha256": sums}))
    assert_same_weights(model, modelzoo.load(tiny.id))


def test_offline_load_of_an_uncached_revision_is_an_error(saved, tiny, tmp_path, monkeypatch):
    _, folder = saved
    hub_cache(tmp_path, monkeypatch, folder, tiny.repo_id, tiny.revision)
    other = ZooEntry(**{**tiny.__dict__, "revision": "f" * 40})
    monkeypatch.setitem(REGISTRY, tiny.id, other)
    with pytest.raises(UserError, match="not in the Hub cache"):
        modelzoo.load(tiny.id)


def test_wrong_checksum_is_an_error_naming_the_file(saved, tiny, tmp_path, monkeypatch):
    _, folder = saved
    hub_cache(tmp_path, monkeypatch, folder, tiny.repo_id, tiny.revision)
    wrong = ZooEntry(**{**tiny.__dict__, "sha256": {"model.safetensors": "0" * 64}})
    monkeypatch.setitem(REGISTRY, tiny.id, wrong)
    with pytest.raises(UserError, match=r"checksum mismatch .*model\.safetensors"):
        modelzoo.load(tiny.id)


def test_entry_without_weights_says_where_to_get_them():
    with pytest.raises(UserError, match="convert") as err:
        modelzoo.load("avrelscore-lrs3")
    assert "ms-dot-k/AVSR" in str(err.value)
