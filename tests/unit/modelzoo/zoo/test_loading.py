"""Zoo building and strict loading: local folders, a hand-made offline Hub cache, clear errors."""

import json
import subprocess
import sys

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import modelzoo
from modelzoo import syncnet
from modelzoo.errors import UserError
from modelzoo.zoo import registry
from modelzoo.zoo.loading import file_sha256, save
from modelzoo.zoo.registry import ARCHITECTURES, REGISTRY, ZooEntry

from .conftest import assert_same_weights, hub_cache, replace_entry


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


def test_bundled_folder_loads_before_the_hub_cache(saved, tiny, weights_dir, monkeypatch):
    model, folder = saved
    folder.rename(weights_dir / "syncnet-tiny")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # and no cache holds this revision
    replace_entry(monkeypatch, tiny, bundled="syncnet-tiny")
    assert_same_weights(model, modelzoo.load(tiny.id))


def test_bundled_folder_with_a_wrong_checksum_is_an_error(saved, tiny, weights_dir, monkeypatch):
    _, folder = saved
    folder.rename(weights_dir / "syncnet-tiny")
    sums = {"model.safetensors": "0" * 64}
    replace_entry(monkeypatch, tiny, bundled="syncnet-tiny", sha256=sums)
    with pytest.raises(UserError, match=r"checksum mismatch .*syncnet-tiny/model\.safetensors"):
        modelzoo.load(tiny.id)


def test_missing_bundled_demo_weights_say_how_to_build_them(weights_dir):
    with pytest.raises(UserError, match="python -m modelzoo.synthgrid.train_demo") as err:
        modelzoo.load("avrelscore-demo")
    assert str(weights_dir / "avrelscore-demo") in str(err.value)


def test_float16_save_stores_half_tensors_and_loads_strictly_into_float32(tiny, tmp_path):
    torch.manual_seed(0)
    model = modelzoo.build(tiny.id)
    folder = save(model, tmp_path / "half", architecture="syncnet", dtype="float16")
    with safe_open(folder / "model.safetensors", "pt") as f:
        stored = {key: f.get_tensor(key).dtype for key in f.keys()}
    assert {d for d in stored.values() if d.is_floating_point} == {torch.float16}
    loaded = modelzoo.load(folder)
    for key, tensor in model.state_dict().items():
        got = loaded.state_dict()[key]
        assert got.dtype == tensor.dtype, key  # upcast back to float32
        expected = tensor.half().to(tensor.dtype) if tensor.is_floating_point() else tensor
        assert torch.equal(got, expected), key
    assert next(model.parameters()).dtype == torch.float32  # the caller's model is untouched


def test_save_rejects_an_unknown_dtype(tiny, tmp_path):
    with pytest.raises(UserError, match="float8"):
        save(modelzoo.build(tiny.id), tmp_path / "m", architecture="syncnet", dtype="float8")


def test_loading_prints_nothing_to_stdout(saved, capsys):
    _, folder = saved
    modelzoo.load(folder)
    assert capsys.readouterr().out == ""
