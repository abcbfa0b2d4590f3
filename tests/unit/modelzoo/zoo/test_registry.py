"""Registry look-ups for the pages and the job form: availability, revisions, model cards."""

import pytest

from modelzoo.zoo import loading, registry
from modelzoo.zoo.loading import model_card

from .conftest import REVISION, hub_cache, replace_entry

DEMO_IDS = ["avrelscore-demo", "alm-demo", "cals-demo", "syncnet-demo"]


@pytest.mark.parametrize("model_id", DEMO_IDS)
def test_demo_entries_are_bundled_demo_checkpoints_on_the_demo_config(model_id):
    e = registry.entry(model_id)
    assert (e.kind, e.config, e.bundled) == ("demo", "demo", model_id)
    assert registry.named_config(e.architecture, e.config) is not None
    assert "synthetic" in e.licence_notes and "train_demo" in e.where_to_get


def test_entry_without_bundled_or_cached_weights_is_not_available(weights_dir):
    assert not loading.weights_available(registry.entry("avrelscore-demo"))
    assert not loading.weights_available(registry.entry("avrelscore-lrs3"))


def test_bundled_folder_with_weights_is_available(saved, tiny, weights_dir, monkeypatch):
    _, folder = saved
    e = replace_entry(monkeypatch, tiny, revision=None, bundled="syncnet-tiny")
    assert not loading.weights_available(e)
    folder.rename(weights_dir / "syncnet-tiny")
    assert loading.weights_available(e)


def test_hub_cache_at_the_pinned_revision_is_available(saved, tiny, tmp_path, monkeypatch):
    _, folder = saved
    hub_cache(tmp_path, monkeypatch, folder, tiny.repo_id, REVISION)
    assert loading.weights_available(tiny)
    other_revision = replace_entry(monkeypatch, tiny, revision="f" * 40)
    assert not loading.weights_available(other_revision)


def test_pinned_revision_is_the_hub_commit_or_the_bundled_checksum(tiny, monkeypatch):
    assert registry.pinned_revision(tiny) == REVISION
    bundled = replace_entry(
        monkeypatch, tiny, revision=None, bundled="x", sha256={"model.safetensors": "ab" * 32}
    )
    assert registry.pinned_revision(bundled) == "bundled:" + "ab" * 8
    assert registry.pinned_revision(registry.entry("avrelscore-lrs3")) == ""


def test_demo_entry_card_carries_the_demo_licence_and_data():
    card = model_card(registry.entry("syncnet-demo"))
    assert card.data.license == "other" and card.data.datasets == ["synthgrid"]
    assert "demo-checkpoint" in card.data.tags


@pytest.mark.parametrize(
    ("model_id", "variant"),
    [("avsr-av-demo", "av_concat"), ("avsr-audio-demo", "audio_only"),
     ("avsr-video-demo", "video_only")],
)  # fmt: skip
def test_avsr_baseline_demos_are_the_demo_network_on_one_variant(model_id, variant):
    e = registry.entry(model_id)
    config = registry.named_config(e.architecture, e.config)
    demo = registry.named_config("avrelscore", "demo")
    assert (e.kind, e.bundled, e.architecture) == ("demo", model_id, "avrelscore")
    assert config.variant == variant and config.d_model == demo.d_model
