"""Clips and sounds the study makes itself: side-by-side clips, spoken words and trap clips.

Side-by-side clips are stacked with ffmpeg's hstack as microsoft/P.910 prepares its avatar
Template B (annotation-research.md §2.5): the rated video left, the other right, the left one's
sound. Speech comes from espeak-ng (the audio check's number, a trap's instruction); a trap clip
is the first seconds of a real clip whose sound asks for a given answer, as in P.808's trapping
stimuli, so answering it right proves the rater hears the sound.
"""

import subprocess
from pathlib import Path

HEIGHT = 360  # both halves of a side-by-side clip are scaled to this height


class MediaError(Exception):
    """ffmpeg or espeak-ng could not make the clip; the message says why."""


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise MediaError(f"{Path(cmd[0]).name} failed: {done.stderr.strip()[-300:]}")


def side_by_side(left: Path, right: Path, out: Path) -> Path:
    """`left` and `right` scaled to one height and stacked, with the left clip's sound; as long
    as the shorter of the two."""
    graph = (
        f"[0:v]scale=-2:{HEIGHT},setsar=1[l];[1:v]scale=-2:{HEIGHT},setsar=1[r];"
        "[l][r]hstack=inputs=2,format=yuv420p[v]"
    )
    _run(
        [
            "ffmpeg", "-nostdin", "-y", "-v", "error", "-i", str(left), "-i", str(right),
            "-filter_complex", graph, "-map", "[v]", "-map", "0:a:0?", "-shortest",
            "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", str(out),
        ]
    )  # fmt: skip
    return out


def speech_wav(text: str, out: Path | None = None) -> bytes:
    """`text` spoken by espeak-ng as WAV bytes (also written to `out` if given)."""
    done = subprocess.run(["espeak-ng", "-s", "140", "--stdout", text], capture_output=True)
    if done.returncode != 0 or not done.stdout:
        raise MediaError(f"espeak-ng failed: {done.stderr.decode(errors='replace')[-200:]}")
    if out is not None:
        out.write_bytes(done.stdout)
    return done.stdout


def trap_clip(video: Path, instruction: str, out: Path) -> Path:
    """The picture of `video` (looped if short) with `instruction` spoken as its only sound,
    half a second longer than the speech."""
    speech = out.with_suffix(".wav")
    speech_wav(instruction, speech)
    _run(
        [
            "ffmpeg", "-nostdin", "-y", "-v", "error", "-stream_loop", "-1", "-i", str(video),
            "-i", str(speech), "-filter_complex", "[1:a]apad=pad_dur=0.5[a]",
            "-map", "0:v:0", "-map", "[a]", "-shortest", "-c:v", "libx264", "-preset",
            "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out),
        ]
    )  # fmt: skip
    speech.unlink(missing_ok=True)
    return out
