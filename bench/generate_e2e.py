"""End-to-end generation speed for issue 6: seconds of work per second of output video.

    .venv/bin/python bench/generate_e2e.py [--model alm|cals] [--config paper] [--seconds 10]

Speaks a text long enough with espeak-ng, cuts the speech to `--seconds`, writes skimage's astronaut
photograph as a PNG, and times `modelzoo.generation.generate` on them: speech decoding, the mel,
face tracking, the generator on every frame, paste-back and H.264/AAC encoding all count. Random
weights run at the same speed as trained ones. Prints wall and CPU seconds per output second (the
CPU figure is steadier on the shared 2-core machine) and the peak RSS of this process and of its
children (espeak-ng, the ffmpeg decoders and encoder), from getrusage. `end_to_end(model, seconds)`
is the measurement, for `bench/generate.py` to call.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from PIL import Image
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modelzoo.generation import generate  # noqa: E402
from modelzoo.media.tts import speak  # noqa: E402
from modelzoo.zoo.registry import architecture_class, named_config  # noqa: E402

TEXT = (
    "Could you pass me the salt and the pepper, please? The train to the coast leaves at half "
    "past seven every morning. I think we should paint the kitchen a lighter shade of green. "
    "Nobody remembered where the spare keys had been hidden."
)


def speech_of_length(path: Path, seconds: float) -> Path:
    """espeak-ng speech of TEXT (repeated as needed), cut to exactly `seconds` at 16 kHz."""
    needed, pieces = int(seconds * 16000), []
    while sum(map(len, pieces)) < needed:
        speak(TEXT, path)
        pieces.append(sf.read(path, dtype="float32")[0])
    sf.write(path, np.concatenate(pieces)[:needed], 16000)
    return path


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def end_to_end(model, seconds: float = 10.0) -> dict:
    """Generate a `seconds` clip from the astronaut photo and espeak-ng speech; time it."""
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        tmp = Path(tmp)
        Image.fromarray(data.astronaut()).save(tmp / "face.png")
        speech = speech_of_length(tmp / "speech.wav", seconds)
        stages: dict[str, float] = {}
        started, cpu_started = time.perf_counter(), cpu_seconds()

        def progress(frac: float, msg: str) -> None:
            stage = msg.split(":")[0]
            stages.setdefault(stage, time.perf_counter() - started)

        generate(model, tmp / "face.png", speech, tmp / "out.mp4", progress=progress)
        wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    return {
        "seconds_of_video": seconds,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "wall_s_per_video_s": round(wall / seconds, 3),
        "cpu_s_per_video_s": round(cpu / seconds, 3),
        "stage_starts_s": {k: round(v, 2) for k, v in stages.items()},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "children_peak_rss_mib": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="alm", choices=("alm", "cals"))
    parser.add_argument("--config", default="paper")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = architecture_class(args.model)(named_config(args.model, args.config))
    report = {"model": args.model, "config": args.config, "threads": torch.get_num_threads()}
    print(json.dumps({**report, **end_to_end(model, args.seconds)}, indent=2))


if __name__ == "__main__":
    main()
