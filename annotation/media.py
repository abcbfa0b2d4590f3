"""Clips and sounds the study makes itself: clean copies of stimuli, side-by-side clips, spoken
words and trap clips.

Every clip a rater plays is a clean copy: its streams in an MP4 without metadata (titles could
name the system), moov first, and without sound where no question needs it. Side-by-side clips
are stacked with ffmpeg's hstack as microsoft/P.910 prepares its avatar Template B
(annotation-research.md §2.5): the rated video left, the other right, the left one's sound.
Speech comes from espeak-ng through `modelzoo.media.tts` (the audio check's number, a trap's
instruction); a trap clip is the first seconds of a real clip whose sound asks for a given
answer, as in P.808's trapping stimuli, so answering it right proves the rater hears the sound.
Inputs are opened through `modelzoo.media.probe`'s guard, as uploads are: one local file in an
accepted container.
"""

import subprocess
import tempfile
from pathlib import Path

from modelzoo.errors import InvalidMediaError
from modelzoo.media import tts
from modelzoo.media.probe import input_args, probe

HEIGHT = 360  # both halves of a side-by-side clip are scaled to this height
SPEECH_RATE = 140  # words a minute: slower than espeak-ng's 175, for raters of every ear


class MediaError(Exception):
    """ffmpeg or espeak-ng could not make the clip; the message says why."""


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise MediaError(f"{Path(cmd[0]).name} failed: {done.stderr.strip()[-300:]}")


def clean_copy(src: Path, out: Path, *, drop_audio: bool) -> Path:
    """`src`'s first video stream, and its first audio stream unless `drop_audio`, in a clean
    MP4: the streams copied where MP4 takes them, else encoded to H.264 and AAC.

    Lip-reading clips lose their audio here, so unmuting in the browser reveals nothing.
    """
    audio = ["-an"] if drop_audio else ["-map", "0:a:0?"]
    head = ["ffmpeg", "-nostdin", "-y", "-v", "error", *input_args(src), "-map", "0:v:0", *audio]
    tail = ["-map_metadata", "-1", "-movflags", "+faststart", str(out)]
    try:
        _run([*head, "-c", "copy", *tail])
    except MediaError:
        encode = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"]
        try:
            _run([*head, *encode, *tail])
        except MediaError as exc:
            raise MediaError(f"{src.name}: not a usable video ({exc})") from None
    return out


def duration_s(path: Path) -> float | None:
    """The clip's length in seconds; None when ffprobe cannot tell."""
    try:
        return probe(path).duration_s or None
    except InvalidMediaError:
        return None


def side_by_side(left: Path, right: Path, out: Path) -> Path:
    """`left` and `right` scaled to one height and stacked, with the left clip's sound; as long
    as the shorter of the two."""
    graph = (
        f"[0:v]scale=-2:{HEIGHT},setsar=1[l];[1:v]scale=-2:{HEIGHT},setsar=1[r];"
        "[l][r]hstack=inputs=2,format=yuv420p[v]"
    )
    _run(
        [
            "ffmpeg", "-nostdin", "-y", "-v", "error", *input_args(left), *input_args(right),
            "-filter_complex", graph, "-map", "[v]", "-map", "0:a:0?", "-shortest",
            "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", str(out),
        ]
    )  # fmt: skip
    return out


def _speak(text: str, out: Path) -> Path:
    try:
        tts.espeak(text, out, rate=SPEECH_RATE)
    except tts.SpeechError as exc:
        raise MediaError(str(exc)) from exc
    return out


def speech_wav(text: str) -> bytes:
    """`text` spoken by espeak-ng, as the bytes of a WAV file."""
    with tempfile.TemporaryDirectory() as tmp:
        return _speak(text, Path(tmp) / "speech.wav").read_bytes()


def trap_clip(video: Path, instruction: str, out: Path) -> Path:
    """The picture of `video` (looped if short) with `instruction` spoken as its only sound,
    half a second longer than the speech."""
    with tempfile.TemporaryDirectory() as tmp:
        speech = _speak(instruction, Path(tmp) / "instruction.wav")
        _run(
            [
                "ffmpeg", "-nostdin", "-y", "-v", "error", "-stream_loop", "-1",
                *input_args(video), *input_args(speech),
                "-filter_complex", "[1:a]apad=pad_dur=0.5[a]", "-map", "0:v:0", "-map", "[a]",
                "-shortest", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                "-c:a", "aac", str(out),
            ]
        )  # fmt: skip
    return out
