"""The public corruption parameters (DESIGN.md 'Corrupt params'): parsing, validation and needs.

Schema: `{"audio": {"noise": "white|pink|babble", "snr_db": 5, "partial": false},
"video": {"kind": "occlusion|gaussian|blur", "fraction": 0.3}, "seed": 0}`. Either part may be
absent, not both. Every error names the field and what it accepts, so a page can show it as is.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from modelzoo.errors import InvalidParamsError
from modelzoo.safe_json import loads_params

NOISE_KINDS = ("white", "pink", "babble")
VIDEO_KINDS = ("occlusion", "gaussian", "blur")
SNR_RANGE_DB = (-20.0, 40.0)
MAX_SEED = 2**32 - 1

_TOP_KEYS = ("audio", "video", "seed")
_AUDIO_KEYS = ("noise", "snr_db", "partial")
_VIDEO_KEYS = ("kind", "fraction")


@dataclass(frozen=True)
class AudioNoiseParams:
    noise: str
    snr_db: float = 5.0
    partial: bool = False


@dataclass(frozen=True)
class VideoCorruptionParams:
    kind: str
    fraction: float = 0.3


@dataclass(frozen=True)
class CorruptionParams:
    audio: AudioNoiseParams | None = None
    video: VideoCorruptionParams | None = None
    seed: int = 0

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
        return cls(
            audio=AudioNoiseParams(**audio) if audio else None,
            video=VideoCorruptionParams(**video) if video else None,
            seed=canonical["seed"],
        )

    def as_json(self) -> dict:
        """The canonical JSON form with defaults filled in; parse_corruption_params reads it."""
        out: dict = {"seed": self.seed}
        if self.audio is not None:
            out["audio"] = asdict(self.audio)
        if self.video is not None:
            out["video"] = asdict(self.video)
        return out


def parse_corruption_params(raw: dict | str | None) -> CorruptionParams:
    """Validate `raw` (a dict or its JSON text) against the schema; raise InvalidParamsError."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise InvalidParamsError("params: missing; give 'audio' and/or 'video' corruption")
    if isinstance(raw, (str, bytes)):
        raw = loads_params(raw)
    if not isinstance(raw, dict):
        raise InvalidParamsError("params: must be a JSON object")
    _reject_unknown(raw, _TOP_KEYS, "params")
    audio = _parse_audio(raw.get("audio"))
    video = _parse_video(raw.get("video"))
    if audio is None and video is None:
        raise InvalidParamsError("params: give 'audio' and/or 'video' corruption; both are absent")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InvalidParamsError(f"seed: must be an integer within [0, {MAX_SEED}], got {seed!r}")
    return CorruptionParams(audio=audio, video=video, seed=seed)


def _parse_audio(raw) -> AudioNoiseParams | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidParamsError('audio: must be an object like {"noise": "white", "snr_db": 5}')
    _reject_unknown(raw, _AUDIO_KEYS, "audio")
    noise = raw.get("noise")
    if noise not in NOISE_KINDS:
        raise InvalidParamsError(
            f"audio.noise: must be one of {', '.join(NOISE_KINDS)}; got {noise!r}"
        )
    lo, hi = SNR_RANGE_DB
    snr = _number(raw.get("snr_db", AudioNoiseParams.snr_db), "audio.snr_db")
    if not lo <= snr <= hi:
        raise InvalidParamsError(f"audio.snr_db: must be within [{lo:g}, {hi:g}] dB; got {snr:g}")
    partial = raw.get("partial", False)
    if not isinstance(partial, bool):
        raise InvalidParamsError(f"audio.partial: must be true or false; got {partial!r}")
    return AudioNoiseParams(noise=noise, snr_db=snr, partial=partial)


def _parse_video(raw) -> VideoCorruptionParams | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidParamsError('video: must be an object like {"kind": "blur", "fraction": 0.3}')
    _reject_unknown(raw, _VIDEO_KEYS, "video")
    kind = raw.get("kind")
    if kind not in VIDEO_KINDS:
        raise InvalidParamsError(
            f"video.kind: must be one of {', '.join(VIDEO_KINDS)}; got {kind!r}"
        )
    fraction = _number(raw.get("fraction", VideoCorruptionParams.fraction), "video.fraction")
    if not 0.0 < fraction <= 1.0:
        raise InvalidParamsError(f"video.fraction: must be within (0, 1]; got {fraction:g}")
    return VideoCorruptionParams(kind=kind, fraction=fraction)


def _number(value, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidParamsError(f"{field}: must be a number; got {value!r}")
    return float(value)


def _reject_unknown(raw: dict, known: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise InvalidParamsError(
            f"{where}: unknown key {unknown[0]!r}; allowed keys are {', '.join(known)}"
        )
