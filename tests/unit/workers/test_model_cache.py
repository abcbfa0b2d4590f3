"""ModelCache: each (id, revision) is loaded once per process and the budget evicts the least recent."""

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
