"""Speech with phone timings from espeak-ng's C library (libespeak-ng.so.1) through ctypes.

Initialised with espeakINITIALIZE_PHONEME_EVENTS, the library reports an event per phone with the
sample at which it starts, so no forced aligner or MBROLA voice is needed. The struct and constant
values below are those of espeak-ng's public header `speak_lib.h` (API version 1.51). Audio comes at
the library's native 22,050 Hz and is resampled to 16 kHz. The library holds global state: one
process synthesises one utterance at a time.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass

import numpy as np

from modelzoo.corruption.babble import resample
from modelzoo.errors import UserError
from modelzoo.media.mel import SAMPLE_RATE

LIBRARY = "libespeak-ng.so.1"
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
INITIALIZE_DONT_EXIT = 0x8000  # report errors instead of calling exit()
EVENT_LIST_TERMINATED, EVENT_PHONEME = 0, 7
POS_CHARACTER, CHARS_UTF8 = 1, 1
PARAM_RATE, PARAM_PITCH, PARAM_RANGE = 1, 3, 4

# espeak_SetVoiceByName knows British English as "en", not "en-gb".
VOICES = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan")
VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4", "f5")


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """speak_lib.h `espeak_EVENT`; `sample` is the output sample where the event happens."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice ("en-us+f3"), rate in words per minute, pitch and pitch range 0-99."""

    name: str
    rate: int = 160
    pitch: int = 50
    pitch_range: int = 50

    @classmethod
    def random(cls, rng: np.random.Generator) -> Voice:
        voice = VOICES[int(rng.integers(len(VOICES)))]
        variant = VARIANTS[int(rng.integers(len(VARIANTS)))]
        return cls(
            f"{voice}+{variant}",
            rate=int(rng.integers(130, 190)),
            pitch=int(rng.integers(30, 70)),
            pitch_range=int(rng.integers(30, 80)),
        )

    def jittered(self, rng: np.random.Generator) -> Voice:
        """The same talker on another take: a little faster or slower, higher or lower."""
        return Voice(
            self.name,
            rate=self.rate + int(rng.integers(-12, 13)),
            pitch=int(np.clip(self.pitch + rng.integers(-6, 7), 0, 99)),
            pitch_range=self.pitch_range,
        )


@dataclass(frozen=True)
class Phone:
    """An espeak-ng phoneme mnemonic ("aI", "t#", "_:" for a pause) and its span in seconds."""

    symbol: str
    start: float
    end: float


@dataclass(frozen=True)
class Speech:
    audio: np.ndarray  # (samples,) float32 at 16 kHz
    phones: tuple[Phone, ...]


class _Engine:
    """The initialised library and the callback that collects samples and phone events."""

    def __init__(self):
        try:
            self.lib = ctypes.CDLL(LIBRARY)
        except OSError as err:
            raise UserError(f"synthgrid needs espeak-ng's library {LIBRARY}: {err}") from None
        options = INITIALIZE_PHONEME_EVENTS | INITIALIZE_DONT_EXIT
        self.rate = self.lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None, options)
        if self.rate <= 0:
            raise UserError(f"espeak-ng failed to initialise ({LIBRARY} returned {self.rate})")
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[str, int]] = []
        self._callback = _CALLBACK(self._collect)  # kept: the library holds only a pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, count, events) -> int:
        if count > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, (count,)).copy())
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            if events[i].type == EVENT_PHONEME:
                self.events.append((events[i].id.string.decode(), events[i].sample))
            i += 1
        return 0  # go on synthesising

    def synthesize(self, text: str, voice: Voice) -> tuple[np.ndarray, list[tuple[str, int]]]:
        if self.lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise UserError(f"espeak-ng has no voice {voice.name!r}")
        for parameter, value in (
            (PARAM_RATE, voice.rate),
            (PARAM_PITCH, voice.pitch),
            (PARAM_RANGE, voice.pitch_range),
        ):
            self.lib.espeak_SetParameter(parameter, value, 0)
        self.chunks, self.events = [], []
        data = text.encode()
        status = self.lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8,
                                       None, None)  # fmt: skip
        self.lib.espeak_Synchronize()
        if status != 0 or not self.chunks:
            raise RuntimeError(f"espeak-ng could not say {text!r} (status {status})")
        audio = np.concatenate(self.chunks).astype(np.float32) / 32768.0
        return audio, self.events


@functools.lru_cache(maxsize=1)
def _engine() -> _Engine:
    return _Engine()


def synthesize(text: str, voice: Voice) -> Speech:
    """16 kHz speech of `text` and its phones; each phone lasts until the next one starts."""
    engine = _engine()
    audio, events = engine.synthesize(text, voice)
    duration = len(audio) / engine.rate
    starts = [min(sample / engine.rate, duration) for _, sample in events]
    ends = [*starts[1:], duration]
    phones = tuple(
        Phone(symbol, start, end)
        for (symbol, _), start, end in zip(events, starts, ends, strict=True)
        if end > start
    )
    return Speech(resample(audio, engine.rate, SAMPLE_RATE), phones)
