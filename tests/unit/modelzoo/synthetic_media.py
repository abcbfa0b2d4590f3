"""Test media made on the fly with ffmpeg lavfi and espeak-ng: speech and videos of odd kinds."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

SENTENCE = "Bring a torch, the path through the woods is dark and the river is cold."


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def speech(path: Path, *, rate: int = 16000, channels: int = 1, text: str = SENTENCE) -> Path:
    """espeak-ng speech resampled to `rate` Hz with `channels` channels (PCM WAV)."""
    raw = path.with_name(path.stem + "-raw.wav")
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, capture_output=True)
    ffmpeg("-i", str(raw), "-ar", str(rate), "-ac", str(channels), str(path))
    raw.unlink()
    return path


def video(
    path: Path,
    *,
    size: str = "96x64",
    fps: float = 25,
    seconds: float = 2.0,
    audio: Path | None = None,
    extra: tuple[str, ...] = (),
) -> Path:
    """A testsrc2 video (H.264) with `audio` muxed in as AAC when given; `extra` output args."""
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
    if audio is not None:
        args += ["-i", str(audio), "-c:a", "aac", "-b:a", "192k", "-shortest"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *extra, str(path)]
    ffmpeg(*args)
    return path


def rotate_mp4(src: Path, dst: Path, *, clockwise: bool = True) -> Path:
    """Copy of an MP4 whose video track has a 90-degree display matrix, as phones write.

    ffmpeg 5.1 can no longer set it (`-metadata:s:v rotate` is ignored, `-display_rotation` is
    6.0+), so this rewrites the identity matrix in the track header (tkhd) directly.
    """
    data = bytearray(src.read_bytes())
    identity = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    at = data.find(identity, data.find(b"tkhd"))
    assert at > 0, "no identity matrix in the track header"
    b, c = (0x10000, 0xFFFF0000) if clockwise else (0xFFFF0000, 0x10000)
    data[at : at + 36] = struct.pack(">9I", 0, b, 0, c, 0, 0, 0, 0, 0x40000000)
    dst.write_bytes(bytes(data))
    return dst
