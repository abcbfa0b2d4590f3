"""The public corruption parameters (DESIGN.md 'Corrupt params') as pydantic models: their one
definition of keys, defaults and bounds, their checking, canonical form and needs.

Schema: `{"audio": {"noise": "white|pink|babble", "snr_db": 5, "partial": false},
"video": {"kind": "occlusion|gaussian|blur", "fraction": 0.3}, "seed": 0}`. Either part may be
absent, not both. Every error names the field and what it accepts, so a page can show it as is.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modelzoo.errors import InvalidParamsError
from modelzoo.safe_json import loads_params


class _Strict(BaseModel):
    # strict: no "5" for 5 and no true for 1; no unknown keys; no NaN or infinity
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class AudioNoiseParams(_Strict):
    noise: Literal["white", "pink", "babble"]
    snr_db: float = Field(5.0, ge=-20.0, le=40.0)
    partial: bool = False  # False: the noise covers the whole clip at exactly snr_db


class VideoCorruptionParams(_Strict):
    kind: Literal["occlusion", "gaussian", "blur"]
    fraction: float = Field(0.3, gt=0.0, le=1.0)  # the share of frames corrupted


class CorruptionParams(_Strict):
    audio: AudioNoiseParams | None = None
    video: VideoCorruptionParams | None = None
    seed: int = Field(0, ge=0, le=2**32 - 1)

    @model_validator(mode="after")
    def _some_corruption(self) -> CorruptionParams:
        if self.audio is None and self.video is None:
            raise ValueError("params: give 'audio' and/or 'video' corruption; both are absent")
        return self

    @property
    def needs_audio(self) -> bool:
        """True when the input must have an audio stream (audio noise was asked for)."""
        return self.audio is not None

    @property
    def needs_video(self) -> bool:
        """True when the input must have a video stream (a visual corruption was asked for)."""
        return self.video is not None

    @classmethod
    def from_json(cls, canonical: dict) -> CorruptionParams:
        """The params whose canonical form `as_json` wrote (already checked, so not again)."""
        audio, video = canonical.get("audio"), canonical.get("video")
        return cls.model_construct(
            audio=AudioNoiseParams.model_construct(**audio) if audio else None,
            video=VideoCorruptionParams.model_construct(**video) if video else None,
            seed=canonical["seed"],
        )

    def as_json(self) -> dict:
        """The canonical JSON form with defaults filled in; parse_corruption_params reads it."""
        return {"seed": self.seed, **self.model_dump(exclude={"seed"}, exclude_none=True)}


NOISE_KINDS: tuple[str, ...] = get_args(AudioNoiseParams.model_fields["noise"].annotation)
VIDEO_KINDS: tuple[str, ...] = get_args(VideoCorruptionParams.model_fields["kind"].annotation)
_PARTS: dict[str, type[BaseModel]] = {"audio": AudioNoiseParams, "video": VideoCorruptionParams}


def _bounds(model: type[BaseModel], name: str) -> tuple[Any, Any]:
    """(lowest, highest) of a numeric field of `model`, as its definition gives them."""
    low = high = None
    for rule in model.model_fields[name].metadata:
        low = getattr(rule, "ge", getattr(rule, "gt", low))
        high = getattr(rule, "le", getattr(rule, "lt", high))
    return low, high


def parse_corruption_params(raw: dict | str | None) -> CorruptionParams:
    """Validate `raw` (a dict or its JSON text) against the schema; raise InvalidParamsError."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise InvalidParamsError("params: missing; give 'audio' and/or 'video' corruption")
    if isinstance(raw, (str, bytes)):
        raw = loads_params(raw)
    if not isinstance(raw, dict):
        raise InvalidParamsError("params: must be a JSON object")
    try:
        return CorruptionParams.model_validate(raw)
    except ValidationError as err:
        raise InvalidParamsError(_first_problem(err)) from None


def _first_problem(err: ValidationError) -> str:
    """One line naming the first bad field (`audio.snr_db`) and what it accepts."""
    problem = err.errors()[0]
    loc = [str(part) for part in problem["loc"]]
    if problem["type"] == "value_error":
        return str(problem["ctx"]["error"])
    parent = _PARTS[loc[0]] if len(loc) > 1 else CorruptionParams
    if problem["type"] == "extra_forbidden":
        where = loc[0] if len(loc) > 1 else "params"
        return (
            f"{where}: unknown key {loc[-1]!r}; allowed keys are {', '.join(parent.model_fields)}"
        )
    if len(loc) == 1 and loc[0] in _PARTS:
        keys = ", ".join(_PARTS[loc[0]].model_fields)
        return f"{loc[0]}: must be a JSON object with keys {keys}; got {problem['input']!r}"
    accepts = _accepts(parent, loc[-1])
    if problem["type"] == "missing":
        return f"{'.'.join(loc)}: missing; must be {accepts}"
    return f"{'.'.join(loc)}: must be {accepts}; got {problem['input']!r}"


def _accepts(model: type[BaseModel], name: str) -> str:
    """What a field accepts, in words, from its definition: its values or its type and bounds."""
    field = model.model_fields[name]
    if field.annotation is bool:
        return "true or false"
    choices = get_args(field.annotation)
    if choices:
        return f"one of {', '.join(choices)}"
    what = "an integer" if field.annotation is int else "a number"
    low, high = _bounds(model, name)
    opens = "(" if any(hasattr(rule, "gt") for rule in field.metadata) else "["
    return f"{what} within {opens}{_figure(low)}, {_figure(high)}]"


def _figure(bound: float) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)
