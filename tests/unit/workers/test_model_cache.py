"""ModelCache: each (id, revision) loads once per process; the budget evicts the least recent."""

import pytest
import torch

from workers.model_cache import ModelCache, model_bytes


def _loader(calls):
    def load(model_id, revision):
        calls.append((model_id, revision))
        return torch.nn.Linear(100, 100)  # 10,100 float32 parameters = 40,400 bytes

    return load


def test_same_model_is_loaded_once():
    calls = []
    cache = ModelCache(_loader(calls), budget_bytes=10**9)
    first = cache.get("a", "r1")
    assert cache.get("a", "r1") is first
    assert calls == [("a", "r1")]


def test_another_revision_is_another_model():
    calls = []
    cache = ModelCache(_loader(calls), budget_bytes=10**9)
    assert cache.get("a", "r1") is not cache.get("a", "r2")
    assert len(calls) == 2


def test_budget_evicts_least_recently_used():
    calls = []
    one_model = model_bytes(torch.nn.Linear(100, 100))
    cache = ModelCache(_loader(calls), budget_bytes=2 * one_model)
    cache.get("a")
    cache.get("b")
    cache.get("a")  # b is now the least recently used
    cache.get("c")
    assert ("a", "") in cache and ("c", "") in cache and ("b", "") not in cache
    assert cache.used_bytes <= 2 * one_model


def test_a_model_over_the_budget_still_stays_alone():
    cache = ModelCache(_loader([]), budget_bytes=1)
    model = cache.get("big")
    assert ("big", "") in cache and cache.get("big") is model


def test_process_cache_loads_registry_models_once_and_refuses_a_stale_revision(
    monkeypatch, settings
):
    from modelzoo.errors import UserError
    from modelzoo.zoo import loading, registry
    from workers import model_cache as module

    entry = registry.ZooEntry(
        id="test-model", architecture="alm", config="demo", repo_id="x/y", revision="a" * 40
    )
    monkeypatch.setitem(registry.REGISTRY, entry.id, entry)
    monkeypatch.setattr(module, "_process_cache", None)
    settings.SYNCLAB_DEVICE = "cpu"
    loads = []
    monkeypatch.setattr(
        loading, "load_for_inference", lambda i, device: loads.append((i, device)) or object()
    )

    cache = module.model_cache()
    first = cache.get("test-model", "a" * 40)
    assert cache.get("test-model", "a" * 40) is first and module.model_cache() is cache
    assert loads == [("test-model", "cpu")]
    with pytest.raises(UserError, match="submit it again"):  # never other weights than asked
        cache.get("test-model", "b" * 40)
