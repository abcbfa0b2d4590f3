"""Per-process model cache: each (model id, revision) loads once; a byte budget bounds them.

Pure Python, so the Celery workers (`workers.model_cache`) and the in-process Space share it
without the Space importing Celery or Django.
"""

from collections import OrderedDict
from collections.abc import Callable


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
