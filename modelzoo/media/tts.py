"""Text to speech with espeak-ng: the one place that runs it, for spoken generator input and babble.

espeak-ng (GPL-3.0, run as a separate program, never linked) writes 22050 Hz mono WAV; `speak`
converts that to the 16 kHz mono the generators' mel features expect. The text goes in on stdin,
so it is never parsed as a command-line option and its length is not limited by the argument list.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from modelzoo.errors import UserError
from modelzoo.media import io

MAX_TEXT_CHARS = 1000  # about a minute of speech at the default rate
MIN_RATE, MAX_RATE = 80, 450  # espeak-ng's accepted words per minute
DEFAULT_RATE = 175  # espeak-ng's own default
MIN_SPEECH_SECONDS = 0.2  # one mel window of the generators
SILENCE = 1e-3  # peak amplitude below which the output holds no speech


class SpeechError(UserError):
    """Text that cannot be spoken: empty, too long, an unknown voice, or no espeak-ng."""


def espeak(
    text: str,
    out_wav: Path,
    *,
    voice: str = "en-us",
    rate: int = DEFAULT_RATE,
    pitch: int | None = None,
    word_gap: int | None = None,
    timeout: float = 120,
) -> None:
    """Run espeak-ng on `text`, writing its native 22050 Hz mono WAV to `out_wav`.

    `voice` may carry a variant (`en-us+f3`); `pitch` is 0..99, `word_gap` is in units of 10 ms.
    """
    if shutil.which("espeak-ng") is None:
        raise SpeechError("espeak-ng is not installed; speaking text and babble noise need it")
    _check_voice(voice)
    args = ["espeak-ng", "--stdin", "-v", voice, "-s", str(rate), "-w", str(out_wav)]
    args += [] if pitch is None else ["-p", str(pitch)]
    args += [] if word_gap is None else ["-g", str(word_gap)]
    proc = subprocess.run(args, input=text.encode(), capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        if any("voice does not exist" in line for line in detail):
            raise SpeechError(f"voice {voice!r} is not an espeak-ng voice (try en-us or en-gb)")
        raise SpeechError(f"espeak-ng failed: {detail[-1] if detail else 'no message'}")


def speak(text: str, out_wav: Path, *, voice: str = "en-us", rate: int = DEFAULT_RATE) -> Path:
    """Speak `text` into `out_wav` as 16 kHz mono 16-bit WAV; returns `out_wav`.

    `rate` is in words per minute. Empty text, text over MAX_TEXT_CHARS characters, a rate out of
    range or text that gives no speech (e.g. only punctuation) raise SpeechError.
    """
    out_wav = Path(out_wav)
    text = text.strip() if isinstance(text, str) else ""
    if not text:
        raise SpeechError("the text to speak is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise SpeechError(
            f"the text to speak has {len(text)} characters; the limit is {MAX_TEXT_CHARS}"
        )
    if isinstance(rate, bool) or not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
        raise SpeechError(f"speech rate {rate!r} must be {MIN_RATE} to {MAX_RATE} words a minute")
    with tempfile.TemporaryDirectory(prefix="synclab-tts-") as tmp:
        native = Path(tmp) / "espeak.wav"
        espeak(text, native, voice=voice, rate=rate)
        audio = io.read_audio(native, sample_rate=io.AUDIO_RATE, mono=True)
    # Punctuation alone gives a short stretch of digital silence.
    if len(audio) < MIN_SPEECH_SECONDS * io.AUDIO_RATE or np.abs(audio).max() < SILENCE:
        raise SpeechError(f"the text {text[:40]!r} gives no speech to lip-sync")
    io.write_wav(out_wav, audio, io.AUDIO_RATE)
    return out_wav


def _check_voice(voice: str) -> None:
    # Voice names are letters, digits, '-', '_' and '+' (variant); anything else is not a voice
    # and could be read as an option or a path.
    ok = isinstance(voice, str) and voice[:1].isalnum()
    if not ok or not all(c.isalnum() or c in "-+_" for c in voice):
        raise SpeechError(f"voice {voice!r} is not an espeak-ng voice name (like en-us)")
