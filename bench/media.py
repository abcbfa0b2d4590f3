"""The media pipeline's figures for issue 4: decode + track + crop speed at 720p, peak memory long.

    .venv/bin/python bench/media.py [--seconds 10] [--long-seconds 60] [--size 1280x720]

1. Generates a `--seconds` clip of skimage's astronaut photograph panning and zooming (H.264), then
   times one streamed pass of decode + track + mouth crops (`crops.mouth_crops_video`) and of
   decode + track, then decode + face crops (`faces.track_video` + `crops.face_crops_video`).
2. Loops that clip (stream copy, no re-encode) to `--long-seconds` (600 for the 10-minute figure)
   and runs decode + track + mouth crops on it in a fresh Python process, which reports its own
   peak RSS and that of its ffmpeg decoder (getrusage), so no earlier allocation counts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modelzoo.media import crops, faces  # noqa: E402
from modelzoo.media.io import VideoWriter  # noqa: E402


def write_clip(path: Path, count: int, width: int, height: int) -> None:
    """The astronaut panning and zooming, made and encoded a frame at a time (bounded memory)."""
    photo = data.astronaut()
    base = height / 512 * 1.4  # face about a third of the frame height
    with VideoWriter(path, width, height, preset="ultrafast") as writer:
        for t in range(count):
            scale = base * (1 + 0.15 * np.sin(t / 20))
            x = width / 2 - scale * 222 + 0.15 * width * np.sin(t / 31)
            y = height / 2 - scale * 125 + 0.05 * height * np.cos(t / 17)
            matrix = np.array([[scale, 0, x], [0, scale, y]])
            writer.write(cv2.warpAffine(photo, matrix, (width, height),
                                        borderMode=cv2.BORDER_REFLECT))  # fmt: skip


def loop_clip(src: Path, dst: Path, seconds: float) -> None:
    """`src` repeated up to `seconds` by stream copy: a long input without a long encode."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(src)]
        + ["-t", str(seconds), "-c", "copy", str(dst)],
        check=True,
    )


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the ffmpeg decoders), user + system."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def timed(run) -> tuple[object, tuple[float, float]]:
    """run()'s result and its (wall, CPU) seconds; on a shared machine CPU time is the steadier."""
    start, cpu = time.perf_counter(), cpu_seconds()
    result = run()
    return result, (time.perf_counter() - start, cpu_seconds() - cpu)


def report(label: str, count: int, seconds: tuple[float, float]) -> None:
    wall, cpu = seconds
    print(f"{label:<46} {count / wall:7.1f} fps wall, {count / cpu:7.1f} per CPU-s"
          f"  ({wall:.2f} s wall, {cpu:.2f} s CPU, {count} frames)")  # fmt: skip


def face_pass(path: Path) -> int:
    track = faces.track_video(path)
    return sum(1 for _ in crops.face_crops_video(path, track))


def measure_child(path: Path) -> None:
    """Run in the fresh process: decode + track + mouth crops, then print figures as JSON."""
    faces.detect_faces(data.astronaut())
    (patches, track), seconds = timed(lambda: crops.mouth_crops_video(path))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    decoder = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    figures = {"frames": len(patches), "track": len(track), "seconds": seconds}
    print(json.dumps({**figures, "python_kib": own, "ffmpeg_kib": decoder}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the speed clip")
    parser.add_argument("--long-seconds", type=float, default=60.0, help="length for memory")
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child's mode
    args = parser.parse_args()
    if args.measure:
        measure_child(args.measure)
        return
    width, height = (int(v) for v in args.size.split("x"))
    count = round(args.seconds * 25)
    print(f"{args.size}, {count} frames; cv2 threads {cv2.getNumThreads()}")
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        write_clip(clip, count, width, height)
        faces.detect_faces(data.astronaut())  # loads dlib's 100 MB predictor outside the timing
        (patches, _), seconds = timed(lambda: crops.mouth_crops_video(clip))
        report("decode + track + mouth crops (one pass)", len(patches), seconds)
        frames, seconds = timed(lambda: face_pass(clip))
        report("decode + track, decode + face crops (two)", frames, seconds)

        long = Path(tmp) / "long.mp4"
        loop_clip(clip, long, args.long_seconds)
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(long)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        figures = json.loads(child.stdout)
        report(f"long input, {args.long_seconds:g} s: mouth crops", figures["frames"],
               figures["seconds"])  # fmt: skip
        python, ffmpeg = figures["python_kib"] / 2**20, figures["ffmpeg_kib"] / 2**20
        print(f"{'':<46} peak RSS: python {python:.2f} GiB, ffmpeg decoder {ffmpeg:.2f} GiB,"
              f" sum {python + ffmpeg:.2f} GiB")  # fmt: skip


if __name__ == "__main__":
    main()
