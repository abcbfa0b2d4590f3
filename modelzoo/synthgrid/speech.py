"""Speech with phone timings from espeak-ng and flite, the only two engines SynthGrid uses.

espeak-ng is driven through its C library (libespeak-ng.so.1) with ctypes: initialised with
espeakINITIALIZE_PHONEME_EVENTS, it reports an event per phone with the sample where it starts, so
no forced aligner or MBROLA voice is needed. The struct and constant values below are those of
espeak-ng's public header `speak_lib.h` (API version 1.51). The library holds global state: one
process synthesises one utterance at a time, and each utterance is said by a fresh process (see
`_espeak`). flite is run as a program: `-psdur` prints each segment
with its end time, and its CMU phones are renamed to espeak-ng's mnemonics so that one phone
inventory (and one viseme table) serves both engines.

A clip's talker is a `Voice` (engine, voice, speed, pitch) heard through a `Channel` (a room's
reverberation and a band-limited, coloured line), both drawn per clip. The voices in HELD_OUT_* are
said only in the test split, so a model is tested on talkers it never heard.
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf

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
ESPEAK_DEFAULT_WPM = 175

ESPEAK, FLITE = "espeak-ng", "flite"
ENGINES = (ESPEAK, FLITE)
# espeak-ng's English voices (`espeak-ng --voices=en`) without the MBROLA ones, which need
# databases that are not installed; espeak_SetVoiceByName knows British English as "en".
ESPEAK_VOICES = (
    "en", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029",
    "en-us-nyc",
)  # fmt: skip
# All its voice variants (`espeak-ng --voices=variant`), by file name: robots and whispers too.
ESPEAK_VARIANTS = (
    "adam", "Alex", "Alicia", "Andrea", "Andy", "anika", "anikaRobot", "Annie", "announcer",
    "antonio", "AnxiousAndy", "aunty", "belinda", "benjamin", "boris", "caleb", "croak", "david",
    "Demonic", "Denis", "Diogo", "ed", "edward", "edward2", "f1", "f2", "f3", "f4", "f5", "fast",
    "Gene", "Gene2", "grandma", "grandpa", "gustave", "Henrique", "Hugo", "iven", "iven2", "iven3",
    "iven4", "Jacky", "john", "kaukovalta", "klatt", "klatt2", "klatt3", "klatt4", "klatt5",
    "klatt6", "Lee", "linda", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "marcelo", "Marco",
    "Mario", "max", "Michael", "michel", "miguel", "Mike", "Mr serious", "Nguyen", "norbert",
    "pablo", "paul", "pedro", "quincy", "RicishayMax", "RicishayMax2", "RicishayMax3", "rob",
    "robert", "robosoft", "robosoft2", "robosoft3", "robosoft4", "robosoft5", "robosoft6",
    "robosoft7", "robosoft8", "sandro", "shelby", "steph", "steph2", "steph3", "Storm", "travis",
    "Tweaky", "UniRobot", "victor", "whisper", "whisperf", "zac",
)  # fmt: skip
# flite's voices (`flite -lv`) less awb_time, a limited-domain voice that only tells the time.
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
# Test-only talkers: an espeak-ng voice is held out when its accent or its variant is listed here
# (the test split uses both listed together); a flite voice when it is listed.
HELD_OUT_ESPEAK_VOICES = ("en-gb-x-gbcwmd", "en-us-nyc")
HELD_OUT_ESPEAK_VARIANTS = ("f4", "m6", "steph2", "travis")
HELD_OUT_FLITE_VOICES = ("rms",)
FLITE_SHARE = 0.35  # of clips said by flite: it has few voices, espeak-ng many

# flite's CMU phones as espeak-ng mnemonics (stress is not marked by flite).
CMU_TO_ESPEAK = {
    "pau": "_", "aa": "A:", "ae": "a", "ah": "@", "ao": "O:", "aw": "aU", "ay": "aI", "eh": "E",
    "er": "3:", "ey": "eI", "ih": "I", "iy": "i:", "ow": "oU", "oy": "OI", "uh": "U", "uw": "u:",
    "ch": "tS", "dh": "D", "hh": "h", "jh": "dZ", "ng": "N", "sh": "S", "th": "T", "y": "j",
    "zh": "Z",
}  # fmt: skip


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


def _pick(rng: np.random.Generator, options) -> str:
    return str(options[int(rng.integers(len(options)))])


def voice_pool(held_out: bool) -> dict[str, tuple[str, ...]]:
    """Voices by engine: the training pool, or the test split's held-out one."""
    if held_out:
        espeak = [f"{v}+{x}" for v in HELD_OUT_ESPEAK_VOICES for x in HELD_OUT_ESPEAK_VARIANTS]
        return {ESPEAK: tuple(espeak), FLITE: HELD_OUT_FLITE_VOICES}
    accents = [v for v in ESPEAK_VOICES if v not in HELD_OUT_ESPEAK_VOICES]
    variants = [x for x in ESPEAK_VARIANTS if x not in HELD_OUT_ESPEAK_VARIANTS]
    espeak = [f"{v}+{x}" for v in accents for x in variants]
    flite = tuple(v for v in FLITE_VOICES if v not in HELD_OUT_FLITE_VOICES)
    return {ESPEAK: tuple(espeak), FLITE: flite}


def is_held_out(engine: str, name: str) -> bool:
    if engine == FLITE:
        return name in HELD_OUT_FLITE_VOICES
    accent, _, variant = name.partition("+")
    return accent in HELD_OUT_ESPEAK_VOICES or variant in HELD_OUT_ESPEAK_VARIANTS


@dataclass(frozen=True)
class Voice:
    """A talker: an engine's voice ("en-us+f3" for espeak-ng, "slt" for flite), its speed and
    pitch as factors of the voice's own, and (espeak-ng only) its pitch range 0-99."""

    engine: str
    name: str
    speed: float = 1.0
    pitch: float = 1.0
    pitch_range: int = 50

    @classmethod
    def random(cls, rng: np.random.Generator, held_out: bool = False) -> Voice:
        engine = FLITE if rng.random() < FLITE_SHARE else ESPEAK
        return cls(
            engine,
            _pick(rng, voice_pool(held_out)[engine]),
            speed=round(float(rng.uniform(0.78, 1.15)), 3),
            pitch=round(float(np.exp(rng.uniform(-0.25, 0.25))), 3),
            pitch_range=int(rng.integers(25, 85)),
        )


@dataclass(frozen=True)
class Channel:
    """What lies between the talker and the file: a room (an exponentially decaying noise tail
    of `reverb_s` seconds to -60 dB, mixed in at `reverb_wet`; 0 s is a dry room), a band limit
    and one peaking filter's colouring. `tail_seed` makes the room's tail."""

    reverb_s: float = 0.0
    reverb_wet: float = 0.0
    highpass_hz: float = 0.0  # 0: no high-pass
    lowpass_hz: float = 0.0  # 0: no low-pass
    eq_hz: float = 1000.0
    eq_gain_db: float = 0.0
    tail_seed: int = 0

    @classmethod
    def random(cls, rng: np.random.Generator) -> Channel:
        reverb = rng.random() < 0.7
        band = rng.random() < 0.6
        return cls(
            reverb_s=round(float(rng.uniform(0.15, 0.8)), 3) if reverb else 0.0,
            reverb_wet=round(float(rng.uniform(0.05, 0.35)), 3) if reverb else 0.0,
            highpass_hz=round(float(rng.uniform(60, 350)), 1) if band else 0.0,
            lowpass_hz=round(float(rng.uniform(3200, 7500)), 1) if band else 0.0,
            eq_hz=round(float(np.exp(rng.uniform(np.log(300), np.log(5000)))), 1),
            eq_gain_db=round(float(rng.uniform(-8, 8)), 2),
            tail_seed=int(rng.integers(2**31)),
        )

    def apply(self, audio: np.ndarray) -> np.ndarray:
        """The 16 kHz `audio` as this channel passes it on; same length, float32."""
        out = audio.astype(np.float64)
        if self.reverb_s > 0:
            n = int(self.reverb_s * SAMPLE_RATE)
            t = np.arange(n) / SAMPLE_RATE
            noise = np.random.default_rng(self.tail_seed).normal(size=n)
            tail = noise * np.exp(-6.9 * t / self.reverb_s)  # -60 dB at reverb_s
            tail[: int(0.003 * SAMPLE_RATE)] = 0.0  # the first reflection arrives after 3 ms
            tail *= self.reverb_wet / np.sqrt((tail**2).sum())
            tail[0] = 1.0  # the direct sound
            out = scipy.signal.fftconvolve(out, tail)[: len(out)]
        if self.highpass_hz > 0:
            out = scipy.signal.sosfilt(_butter(self.highpass_hz, "highpass"), out)
        if self.lowpass_hz > 0:
            out = scipy.signal.sosfilt(_butter(self.lowpass_hz, "lowpass"), out)
        if self.eq_gain_db:
            out = scipy.signal.lfilter(*_peaking(self.eq_hz, self.eq_gain_db), out)
        return out.astype(np.float32)


def _butter(hz: float, kind: str) -> np.ndarray:
    return scipy.signal.butter(4, hz, kind, fs=SAMPLE_RATE, output="sos")


def _peaking(hz: float, gain_db: float, q: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A peaking equaliser's (b, a), from the Audio EQ Cookbook (R. Bristow-Johnson)."""
    gain = 10 ** (gain_db / 40)
    w = 2 * np.pi * hz / SAMPLE_RATE
    alpha = np.sin(w) / (2 * q)
    b = np.array([1 + alpha * gain, -2 * np.cos(w), 1 - alpha * gain])
    a = np.array([1 + alpha / gain, -2 * np.cos(w), 1 - alpha / gain])
    return b / a[0], a / a[0]


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
            (PARAM_RATE, round(ESPEAK_DEFAULT_WPM * voice.speed)),
            (PARAM_PITCH, int(np.clip(round(50 * voice.pitch), 0, 99))),
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


def _phones(events: list[tuple[str, float]], duration: float) -> tuple[Phone, ...]:
    """Phones from (symbol, start s) events; each lasts until the next one starts."""
    starts = [min(start, duration) for _, start in events]
    ends = [*starts[1:], duration]
    return tuple(
        Phone(symbol, start, end)
        for (symbol, _), start, end in zip(events, starts, ends, strict=True)
        if end > start
    )


def _espeak_here(text: str, voice: Voice) -> Speech:
    ctypes.CDLL(None).srand(1)  # variants with noise sources (whispers, klatt) draw from rand()
    engine = _engine()
    audio, events = engine.synthesize(text, voice)
    duration = len(audio) / engine.rate
    phones = _phones([(symbol, sample / engine.rate) for symbol, sample in events], duration)
    return Speech(resample(audio, engine.rate, SAMPLE_RATE), phones)


def _espeak(text: str, voice: Voice) -> Speech:
    """espeak-ng's speech, said in a forked process: the library carries state from one
    utterance to the next (its length and waveform change with what was said before), so a
    library that has said nothing yet gives the same samples for the same text every time."""
    fork = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(1, mp_context=fork) as one_utterance:
        return one_utterance.submit(_espeak_here, text, voice).result()


def _flite(text: str, voice: Voice) -> Speech:
    """flite's speech and its segments ("pau:0.240 b:0.337 ...", end times in seconds)."""
    features = [
        ("duration_stretch", 1.0 / voice.speed),
        ("f0_shift", voice.pitch),  # clustergen voices
        ("int_f0_target_mean", 100.0 * voice.pitch),  # diphone voices (kal's mean is about 100 Hz)
    ]
    settings = [arg for name, value in features for arg in ("--setf", f"{name}={value:.4f}")]
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        try:
            done = subprocess.run(
                ["flite", "-voice", voice.name, *settings, "-psdur", "-t", text, "-o", str(wav)],
                capture_output=True, text=True, check=True, timeout=60,
            )  # fmt: skip
        except FileNotFoundError:
            raise UserError("synthgrid needs flite (apt-get install flite)") from None
        except subprocess.CalledProcessError as err:
            raise RuntimeError(f"flite could not say {text!r}: {err.stderr.strip()}") from None
        audio, rate = sf.read(wav, dtype="float32")
    duration = len(audio) / rate
    segments = [token.rpartition(":") for token in done.stdout.split()]
    ends = [float(end) for _, _, end in segments]
    events = [
        (CMU_TO_ESPEAK.get(cmu, cmu), start)
        for (cmu, _, _), start in zip(segments, [0.0, *ends[:-1]], strict=True)
    ]
    return Speech(resample(audio, rate, SAMPLE_RATE), _phones(events, duration))


def synthesize(text: str, voice: Voice) -> Speech:
    """16 kHz speech of `text` in `voice` and its phones (espeak-ng mnemonics)."""
    if voice.engine == ESPEAK:
        return _espeak(text, voice)
    if voice.engine == FLITE:
        return _flite(text, voice)
    raise UserError(f"unknown speech engine {voice.engine!r}: SynthGrid uses {', '.join(ENGINES)}")
