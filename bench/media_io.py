"""Benchmark of modelzoo.media.io: decode and encode frames per second and peak memory, long clip.

Usage: python bench/media_io.py [--seconds 600] [--size 1920x1080] [--encode-seconds 20]

Generates a clip with ffmpeg (testsrc2 + a tone, H.264 ultrafast) in a temp folder, decodes all of
it at 25 fps with `iter_frames`, then encodes the first `--encode-seconds` through `VideoWriter`.
Peak RSS is this Python process's (ffmpeg children are reported apart): it must not grow with the
clip length, since frames are streamed in chunks.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modelzoo.media import io  # noqa: E402
from modelzoo.media.probe import probe  # noqa: E402


def make_clip(path: Path, seconds: float, size: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y"]
        + ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}"]
        + ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
        + ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
        + [str(path)],
        check=True,
    )


def peak_rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--encode-seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-media-io-") as tmp:
        clip = Path(tmp) / "long.mp4"
        start = time.perf_counter()
        make_clip(clip, args.seconds, args.size)
        print(f"generated {args.seconds:g} s of {args.size} in {time.perf_counter() - start:.1f} s")
        info = probe(clip)
        rss_before = peak_rss_mib(resource.RUSAGE_SELF)

        start, frames = time.perf_counter(), 0
        for chunk in io.iter_frames(clip, info=info):
            frames += chunk.shape[0]
        decode_s = time.perf_counter() - start
        print(f"decode: {frames} frames in {decode_s:.1f} s = {frames / decode_s:.1f} fps")

        limit = int(args.encode_seconds * io.FPS)
        start, written = time.perf_counter(), 0
        with io.VideoWriter(Path(tmp) / "out.mp4", info.width, info.height) as writer:
            for chunk in io.iter_frames(clip, info=info):
                writer.write(chunk[: limit - written])
                written += min(chunk.shape[0], limit - written)
                if written >= limit:
                    break
        encode_s = time.perf_counter() - start
        print(f"decode+encode: {written} frames in {encode_s:.1f} s = {written / encode_s:.1f} fps")

        audio_start = time.perf_counter()
        audio = io.read_audio(clip)
        print(
            f"audio 16 kHz mono: {audio.shape[0] / 16000:.1f} s in "
            f"{time.perf_counter() - audio_start:.1f} s ({audio.nbytes / 2**20:.1f} MiB)"
        )
        del audio
        print(
            f"peak RSS, python: {peak_rss_mib(resource.RUSAGE_SELF):.0f} MiB "
            f"(before decoding {rss_before:.0f} MiB); "
            f"largest ffmpeg child: {peak_rss_mib(resource.RUSAGE_CHILDREN):.0f} MiB"
        )


if __name__ == "__main__":
    main()
