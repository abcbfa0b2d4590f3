"""Per-process model cache: each (model id, revision) loads once; a byte budget bounds them."""

from collections import OrderedDict
from collections.abc import Callable

from modelzoo.errors import UserError


def model_bytes(model) -> int:
    """Bytes held by a torch module's parameters and buffers (0 for anything else)."""
    tensors = list(getattr(model, "parameters", lambda: [])()) + list(
        getattr(model, "buffers", lambda: [])()
    )
    return sum(t.numel() * t.element_size() for t in tensors)


class ModelCache:
    """Least-recently-used cache of loaded models, bounded by the bytes their tensors hold.

    The newest model always stays, even alone over the budget: a job needs its model loaded.
    """

    def __init__(self, loader: Callable[[str, str], object], budget_bytes: int):
        self._loader = loader
        self.budget_bytes = budget_bytes
        self._models: OrderedDict[tuple[str, str], tuple[object, int]] = OrderedDict()

    def get(self, model_id: str, revision: str = ""):
        key = (model_id, revision)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key][0]
        model = self._loader(model_id, revision)
        self._models[key] = (model, model_bytes(model))
        self._evict()
        return model

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._models

    @property
    def used_bytes(self) -> int:
        return sum(size for _, size in self._models.values())

    def _evict(self) -> None:
        while len(self._models) > 1 and self.used_bytes > self.budget_bytes:
            self._models.popitem(last=False)


_process_cache: ModelCache | None = None


def model_cache() -> ModelCache:
    """This worker process's cache: zoo models loaded with modelzoo.load, within
    settings.SYNCLAB_MODEL_CACHE_BYTES. Created on first use, so forked children each own theirs."""
    global _process_cache
    if _process_cache is None:
        from django.conf import settings

        import modelzoo

        device = settings.SYNCLAB_DEVICE
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"

        def load(model_id: str, revision: str):
            # The registry pins each id to one revision; a job recorded with another one (the
            # registry changed since it was queued) must not silently run different weights.
            from modelzoo.zoo.registry import entry, pinned_revision

            current = pinned_revision(entry(model_id))
            if revision and revision != current:
                raise UserError(
                    f"{model_id} is now at revision {current}, not {revision} as when this job "
                    "was submitted; submit it again"
                )
            return modelzoo.load(model_id, device=device)

        _process_cache = ModelCache(load, settings.SYNCLAB_MODEL_CACHE_BYTES)
    return _process_cache
