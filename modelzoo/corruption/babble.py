"""Multi-talker babble made with espeak-ng, cached on disk, and user-supplied noise recordings.

The papers use NOISEX-92 babble, which cannot be downloaded here. This builds a stand-in: several
talkers (espeak-ng English voices with different variants, speeds and pitches reading varied text)
mixed at equal loudness with random offsets. The recording is made once per BABBLE_VERSION and kept
under `$XDG_CACHE_HOME/synclab` (or ~/.cache/synclab); bump the version when the recipe changes.
"""

from __future__ import annotations

import functools
import os
import tempfile
from math import gcd
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf

from modelzoo.errors import UserError
from modelzoo.media.tts import espeak

BABBLE_VERSION = "espeak-babble-v1"
BABBLE_RATE = 22050  # espeak-ng's native rate
N_TALKERS = 8
TALKER_SECONDS = 45.0

VOICES = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-us-nyc",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3", "f4", "f5")

# Text written for this project; varied phonetic content, no meaning needed.
SENTENCES = (
    "Could you pass me the salt and the pepper, please?",
    "The train to the coast leaves at half past seven every morning.",
    "I think we should paint the kitchen a lighter shade of green.",
    "Nobody remembered where the spare keys had been hidden.",
    "She measured the window twice before ordering new curtains.",
    "Our team finally won the match after three long seasons.",
    "The museum opens late on Thursdays during the summer months.",
    "He forgot his umbrella, so he waited under the bridge.",
    "Seventy two boxes of oranges arrived at the market today.",
    "Please switch off the lights when you leave the office.",
    "The children built a castle of sand beside the harbour wall.",
    "A quiet voice on the radio read the weather for the islands.",
    "My grandmother keeps bees in a garden full of lavender.",
    "We watched the storm roll across the valley from the porch.",
    "Which of these jackets would you rather wear to the party?",
    "The bakery on the corner sells bread until noon on Sundays.",
    "Thousands of birds gathered on the lake before migrating south.",
    "Bring a torch, because the path through the woods is dark.",
    "The engineer checked every bolt on the bridge by hand.",
    "They argued about the film all the way home on the bus.",
    "Fresh snow fell overnight and covered the parked cars.",
    "I would like two tickets for the concert on Friday evening.",
    "The doctor said to drink more water and to sleep early.",
    "Jump over the puddle, or your shoes will be soaked through.",
)


def cache_dir() -> Path:
    """SyncLab's cache folder: $XDG_CACHE_HOME/synclab, else ~/.cache/synclab."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "synclab"


@functools.lru_cache(maxsize=4)
def babble_recording(sample_rate: int) -> np.ndarray:
    """The babble recording, mono float32 at `sample_rate`, made at first use and cached on disk."""
    path = cache_dir() / f"{BABBLE_VERSION}.wav"
    if not path.is_file():
        _write_atomically(path, make_babble(np.random.default_rng(20230308)))
    audio, rate = sf.read(path, dtype="float32", always_2d=False)
    return resample(audio, rate, sample_rate)


def make_babble(rng: np.random.Generator, n_talkers: int = N_TALKERS) -> np.ndarray:
    """`n_talkers` espeak-ng talkers at equal RMS, each shifted at random, summed; peak 0.9."""
    n = int(TALKER_SECONDS * BABBLE_RATE)
    mixture = np.zeros(n, dtype=np.float64)
    with tempfile.TemporaryDirectory(prefix="synclab-babble-") as tmp:
        for talker in range(n_talkers):
            voice = f"{VOICES[talker % len(VOICES)]}+{VARIANTS[int(rng.integers(len(VARIANTS)))]}"
            track = _talker_track(voice, n, rng, Path(tmp))
            track /= max(np.sqrt(np.mean(track**2)), 1e-9)
            mixture += np.roll(track, int(rng.integers(n)))
    return (0.9 * mixture / np.max(np.abs(mixture))).astype(np.float32)


def load_noise_file(path: Path, sample_rate: int) -> np.ndarray:
    """A user's noise recording (any audio or video file), decoded to mono float32 at the rate."""
    from modelzoo.media.io import read_audio

    if not Path(path).is_file():
        raise UserError(f"noise file {Path(path).name}: not found")
    return read_audio(path, sample_rate=sample_rate, mono=True)


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling along the first axis; float32 out."""
    if rate == target:
        return audio.astype(np.float32, copy=False)
    g = gcd(rate, target)
    return scipy.signal.resample_poly(audio, target // g, rate // g, axis=0).astype(np.float32)


def _talker_track(voice: str, n: int, rng: np.random.Generator, tmp: Path) -> np.ndarray:
    """One talker reading shuffled sentences at a random speed and pitch until `n` samples."""
    speed, pitch = int(rng.integers(130, 200)), int(rng.integers(25, 80))
    pieces, total = [], 0
    while total < n:
        text = " ".join(SENTENCES[i] for i in rng.permutation(len(SENTENCES))[:6])
        wav = tmp / "talker.wav"
        espeak(text, wav, voice=voice, rate=speed, pitch=pitch, word_gap=2)
        audio, rate = sf.read(wav, dtype="float64", always_2d=False)
        audio = resample(audio, rate, BABBLE_RATE).astype(np.float64)
        pieces.append(audio)
        total += audio.shape[0]
    return np.concatenate(pieces)[:n]


def _write_atomically(path: Path, audio: np.ndarray) -> None:
    """Write via a temp file and rename, so concurrent workers never read half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".wav")
    os.close(fd)
    try:
        sf.write(tmp, audio, BABBLE_RATE, subtype="FLOAT")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; workers may run as other users
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
