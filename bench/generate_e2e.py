"""End-to-end generation speed on the path jobs take: wall and CPU seconds per second of video.

    .venv/bin/python bench/generate_e2e.py [--models alm-demo cals-demo] [--inputs photo video]
        [--seconds 10] [--repeats 2] [--threads N]

Loads each model as a worker does (`modelzoo.zoo.loading.load_for_inference`: strict load, then the
fused inference copy) and runs generate jobs through `webapp.jobs.kinds.run`, the entry point
the Celery task and the Space share (the CLI's `generate` calls the same `pipelines.generate`):
speech decoding, the mel, face tracking, the generator on every frame, paste-back and H.264/AAC
encoding all count. The photo is also generated once by `python -m modelzoo generate` in its own
process ("cli_photo": the CLI's own "seconds" figure, which counts oneDNN's first-call packing, and
the process's wall time with start-up and loading), so the two paths can be compared in one run.
Inputs: skimage's astronaut photograph as a PNG ("photo"), and a `--seconds` 1280x720 25 fps H.264
clip of that face panning and zooming ("video", `bench/faces.py`'s clip), each with espeak-ng speech
cut to `--seconds`. One short job warms the model first (oneDNN packs its weights on the first call;
a worker keeps them packed between jobs); its time is reported apart.

Prints one JSON document: per model and input, the best and each run's wall seconds, CPU seconds
(this process and its children: ffmpeg and espeak-ng), both per second of output video, and the
stage start times from the job's progress messages; the load average before and after says how
busy the machine was (wall figures on a shared machine count other work too). To measure another
checkout of the code with the same script (before/after), run this file from that checkout's
bench/ folder: it imports the `modelzoo` next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from PIL import Image
from skimage import data

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from faces import make_clip  # noqa: E402  (bench/faces.py)

from modelzoo.media.io import FPS, VideoWriter  # noqa: E402
from modelzoo.media.tts import speak  # noqa: E402
from modelzoo.zoo.loading import load_for_inference  # noqa: E402
from webapp.jobs import kinds  # noqa: E402

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


def face_video(path: Path, seconds: float, width: int = 1280, height: int = 720) -> Path:
    """A silent H.264 clip of the astronaut's face panning and zooming (see bench/faces.py)."""
    frames, _ = make_clip(round(seconds * FPS), width, height)
    with VideoWriter(path, width, height) as writer:
        writer.write(frames)
    return path


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def job(model, face_role: str, face: Path, speech: Path, out_dir: Path) -> dict:
    """Run one generate job as a worker does; its wall and CPU seconds and stage start times."""
    stages: dict[str, float] = {}
    started, cpu_started = time.perf_counter(), cpu_seconds()

    def progress(frac: float, msg: str) -> None:
        stages.setdefault(msg.split(":")[0], round(time.perf_counter() - started, 2))

    files = {face_role: face, "audio": speech}
    params = kinds.parse_params("generate", {})
    kinds.run("generate", model=model, params=params, files=files, probes={}, out_dir=out_dir,
              progress=progress)  # fmt: skip
    return {
        "wall_s": round(time.perf_counter() - started, 2),
        "cpu_s": round(cpu_seconds() - cpu_started, 2),
        "stage_starts_s": stages,
    }


def cli_job(model_id: str, face: Path, speech: Path, out: Path) -> dict:
    """`python -m modelzoo generate` of this checkout in its own process: its "seconds" and the
    process's wall seconds."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "modelzoo", "generate", "--model", model_id, "--face", str(face),
         "--audio", str(speech), "--out", str(out)],
        env={**os.environ, "PYTHONPATH": str(BENCH.parent)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {
        "seconds": json.loads(done.stdout)["seconds"],
        "process_wall_s": round(time.perf_counter() - started, 2),
    }


def measure(model_id: str, faces: dict, speech: Path, warm_up: Path, args, tmp: Path) -> dict:
    """Load `model_id` as a worker does, warm it up, time `args.repeats` jobs per face input."""
    started = time.perf_counter()
    model = load_for_inference(model_id)
    report: dict = {"load_s": round(time.perf_counter() - started, 2)}
    role, face = next(iter(faces.values()))
    report["warm_up_job_1s"] = job(model, role, face, warm_up, tmp / "warm-up")
    for name, (role, face) in faces.items():
        runs = [job(model, role, face, speech, tmp / f"{name}{i}") for i in range(args.repeats)]
        report[name] = {
            "wall_s_per_video_s": round(min(r["wall_s"] for r in runs) / args.seconds, 3),
            "cpu_s_per_video_s": round(min(r["cpu_s"] for r in runs) / args.seconds, 3),
            "runs": runs,
        }
    if "photo" in faces:
        report["cli_photo"] = cli_job(model_id, faces["photo"][1], speech, tmp / "cli.mp4")
    return report


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["alm-demo", "cals-demo"])
    inputs = ("photo", "video")
    parser.add_argument("--inputs", nargs="+", default=list(inputs), choices=inputs)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    report: dict = {
        "code": str(BENCH.parent),
        "seconds_of_video": args.seconds,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 1) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        tmp = Path(tmp)
        speech = speech_of_length(tmp / "speech.wav", args.seconds)
        warm_up = speech_of_length(tmp / "warm-up.wav", 1.0)
        faces = {}
        if "photo" in args.inputs:
            Image.fromarray(data.astronaut()).save(tmp / "face.png")
            faces["photo"] = ("image", tmp / "face.png")
        if "video" in args.inputs:
            faces["video"] = ("video", face_video(tmp / "face.mp4", args.seconds))
        for model_id in args.models:
            report[model_id] = measure(model_id, faces, speech, warm_up, args, tmp)
    report["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
