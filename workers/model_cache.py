"""The worker process's model cache: modelzoo.zoo.cache.ModelCache sized by settings."""

from modelzoo.errors import UserError
from modelzoo.zoo.cache import ModelCache, model_bytes

__all__ = ["ModelCache", "model_bytes", "model_cache"]


_process_cache: ModelCache | None = None


def model_cache() -> ModelCache:
    """This worker process's cache: zoo models loaded with modelzoo.load, within
    settings.SYNCLAB_MODEL_CACHE_BYTES. Created on first use, so forked children each own theirs."""
    global _process_cache
    if _process_cache is None:
        from django.conf import settings

        from modelzoo.zoo.loading import load_for_inference

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
            return load_for_inference(model_id, device=device)

        _process_cache = ModelCache(load, settings.SYNCLAB_MODEL_CACHE_BYTES)
    return _process_cache
