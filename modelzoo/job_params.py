"""Params of the transcribe, generate and evaluate jobs: parsed and checked before a job is stored.

The web form, the Space and the pipelines all call these, so a bad value is refused with the same
message everywhere (a 4xx before any work, never a failed job). Corruption params have their own
module, modelzoo.corruption.params, because their schema is nested.
"""

from __future__ import annotations

import math

from modelzoo.errors import InvalidParamsError
from modelzoo.safe_json import loads_params

DECODERS = ("greedy", "beam")
BEAM_SIZES = (1, 64)
MAX_TEXT_CHARS = 1000
MAX_BATCH = 256


def _as_object(params: dict | str | None, kind: str) -> dict:
    if params is None:
        return {}
    if isinstance(params, str):
        params = loads_params(params or "{}")
    if not isinstance(params, dict):
        raise InvalidParamsError(f"params of {kind} must be a JSON object")
    return params


def _check_keys(params: dict, allowed: tuple[str, ...], kind: str) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InvalidParamsError(
            f"params: unknown key '{unknown[0]}' for {kind} (known: {', '.join(allowed)})"
        )


def _number(params: dict, key: str, low: float, high: float, *, integer: bool) -> float | int:
    value = params[key]
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or not math.isfinite(value) or not low <= value <= high:
        what = "an integer" if integer else "a number"
        raise InvalidParamsError(f"params: '{key}' must be {what} from {low} to {high}")
    return value


def parse_transcribe_params(params: dict | str | None) -> dict:
    """{"decoder": "greedy"|"beam", "beam_size": 1..64, "ctc_weight": 0..1} with defaults."""
    params = _as_object(params, "transcribe")
    _check_keys(params, ("decoder", "beam_size", "ctc_weight"), "transcribe")
    out = {"decoder": "greedy", "beam_size": 10, "ctc_weight": 0.1}
    if "decoder" in params:
        if params["decoder"] not in DECODERS:
            raise InvalidParamsError(f"params: 'decoder' must be one of {', '.join(DECODERS)}")
        out["decoder"] = params["decoder"]
    if "beam_size" in params:
        out["beam_size"] = int(_number(params, "beam_size", *BEAM_SIZES, integer=True))
    if "ctc_weight" in params:
        out["ctc_weight"] = float(_number(params, "ctc_weight", 0.0, 1.0, integer=False))
    return out


def parse_generate_params(params: dict | str | None) -> dict:
    """{"text": words for espeak-ng, "voice": an espeak-ng voice name, "batch_size": frames}."""
    params = _as_object(params, "generate")
    _check_keys(params, ("text", "voice", "batch_size"), "generate")
    out: dict = {}
    if "text" in params:
        text = params["text"]
        if not isinstance(text, str) or not text.strip():
            raise InvalidParamsError("params: 'text' must be a non-empty string")
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidParamsError(f"params: 'text' is longer than {MAX_TEXT_CHARS} characters")
        out["text"] = text.strip()
    if "voice" in params:
        voice = params["voice"]
        # espeak-ng voice names: a letter, then letters, digits, '-', '+' (variant), '_'; never a
        # path, and never a leading '-' that espeak-ng would read as an option.
        if (
            not isinstance(voice, str)
            or not voice[:1].isalpha()
            or not all(c.isalnum() or c in "-+_" for c in voice)
        ):
            raise InvalidParamsError("params: 'voice' must be an espeak-ng voice name like en-us")
        out["voice"] = voice
    if "batch_size" in params:
        out["batch_size"] = int(_number(params, "batch_size", 1, MAX_BATCH, integer=True))
    return out


EVALUATE_SPLITS = ("train", "val", "test")
MAX_EVALUATE_CLIPS = 500


def parse_evaluate_params(params: dict | str | None) -> dict:
    """{"corpus": a corpus folder's name on the server (required), "split": "test", "limit":
    clips (1..500, default modelzoo.evaluation.DEFAULT_LIMIT), "seed": 0, "syncnet": a zoo id}."""
    from modelzoo.evaluation.corpus import DEFAULT_LIMIT

    params = _as_object(params, "evaluate")
    _check_keys(params, ("corpus", "split", "limit", "seed", "syncnet"), "evaluate")
    corpus = params.get("corpus")
    # a name, never a path: the server resolves it inside its own corpora folder
    if (
        not isinstance(corpus, str)
        or not corpus[:1].isalnum()
        or len(corpus) > 100
        or not all(c.isalnum() or c in "._-" for c in corpus)
    ):
        raise InvalidParamsError("params: 'corpus' must name a corpus folder, like synthgrid-test")
    out = {"corpus": corpus, "split": "test", "limit": DEFAULT_LIMIT, "seed": 0}
    out["syncnet"] = "syncnet-demo"
    if "split" in params:
        if params["split"] not in EVALUATE_SPLITS:
            raise InvalidParamsError(f"params: 'split' must be one of {', '.join(EVALUATE_SPLITS)}")
        out["split"] = params["split"]
    if "limit" in params:
        out["limit"] = int(_number(params, "limit", 1, MAX_EVALUATE_CLIPS, integer=True))
    if "seed" in params:
        out["seed"] = int(_number(params, "seed", 0, 2**32 - 1, integer=True))
    if "syncnet" in params:
        from modelzoo.zoo.registry import REGISTRY

        syncnet = params["syncnet"]
        if syncnet not in REGISTRY or REGISTRY[syncnet].architecture != "syncnet":
            raise InvalidParamsError(f"params: 'syncnet' must be a zoo SyncNet id, not {syncnet!r}")
        out["syncnet"] = syncnet
    return out
