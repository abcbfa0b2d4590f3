"""AV-RelScore speed on CPU for issue 5: parameters, encoder real-time factor, decoding per token.

    .venv/bin/python bench/avsr.py [--threads N] [--config paper] [--repeats 3] [--plain]

The paper-size model (random weights: speed does not depend on them), as jobs serve it
(`avrelscore.inference.optimize_for_inference`; as trained with --plain), encodes a 3 s and a
10 s clip (88x88 mouth crops + 16 kHz waveform); then greedy CTC and the joint CTC/attention beam
search (CTC weight 0.1, beam 10 and 40) decode the 3 s clip. Real-time factor = encoder seconds /
clip seconds. Beam search time is given per decoding step: each step extends every hypothesis by one
output token, the last by <eos>; with random weights the search runs to its cap of one token per
encoder frame, a pessimistic length (later steps attend over longer caches). Each figure is the
best of --repeats runs (wall clock), with the CPU seconds of that run, since other processes on a
shared machine inflate wall time.

    .venv/bin/python bench/avsr.py --end-to-end 10 600 [--model avrelscore-demo]

instead times `python -m modelzoo transcribe` (decode, track, crop, encode, greedy) in a fresh
process on 720p clips of the given lengths in seconds (the astronaut photograph with espeak-ng
speech looped under it), with each process's peak resident memory: it should not grow with the
clip's length, since the crops are streamed window by window.
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
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modelzoo import cpu_linear  # noqa: E402
from modelzoo.avrelscore import decoding  # noqa: E402
from modelzoo.avrelscore.decoding import beam_search, greedy_ctc  # noqa: E402
from modelzoo.avrelscore.inference import optimize_for_inference  # noqa: E402
from modelzoo.avrelscore.model import CONFIGS, SAMPLES_PER_FRAME, AVRelScore  # noqa: E402

FPS = 25


def timed(run, repeats: int) -> tuple[float, float, object]:
    """(wall s, CPU s, result) of the fastest of `repeats` calls of `run`, after one warm-up."""
    result = run()
    best = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if best is None or wall < best[0]:
            best = (wall, cpu)
    return *best, result


def clip(seconds: float, generator: torch.Generator):
    frames = round(seconds * FPS)
    video = torch.randn(1, frames, 1, 88, 88, generator=generator)
    audio = torch.randn(1, frames * SAMPLES_PER_FRAME, generator=generator)
    return video, audio, torch.tensor([frames])


def decoder_steps(run) -> int:
    """Decoder steps (one output token for every hypothesis) that `run()` takes."""
    with mock.patch.object(decoding, "decoder_step", wraps=decoding.decoder_step) as step:
        run()
    return step.call_count


# Runs the CLI in this process and reports its peak resident set size (kB on Linux) last.
PEAK_MEMORY_RUN = (
    "import resource, sys\n"
    "from modelzoo.__main__ import main\n"
    "code = main(sys.argv[1:])\n"
    "print('peak_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def talking_still(path: Path, seconds: float, folder: Path) -> Path:
    """A 720p 25 fps H.264 clip of the astronaut photograph with speech looped for `seconds`."""
    from PIL import Image
    from skimage import data

    from modelzoo.media.tts import speak

    photo = folder / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    speech = speak("bin blue at f two now. place red by g nine soon.", folder / "speech.wav")
    command = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-loop", "1", "-framerate", "25",
               "-i", str(photo), "-stream_loop", "-1", "-i", str(speech), "-t", str(seconds),
               "-vf", "scale=720:720,pad=1280:720:280:0", "-c:v", "libx264", "-pix_fmt",
               "yuv420p", "-c:a", "aac", str(path)]  # fmt: skip
    subprocess.run(command, check=True)
    return path


def end_to_end(lengths: list[float], model: str) -> None:
    """Wall time, real-time factor and peak memory of the transcribe CLI per clip length."""
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in lengths:
            clip_path = talking_still(Path(tmp) / f"clip-{seconds:g}s.mp4", seconds, Path(tmp))
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", PEAK_MEMORY_RUN, "transcribe", "--model", model,
                 str(clip_path)],
                capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1],
            )  # fmt: skip
            wall = time.perf_counter() - start
            peak = int(done.stderr.rsplit("peak_kib", 1)[1].split()[0])
            timings = json.loads(done.stdout)["timings"]
            row = {"seconds": seconds, "size": "1280x720", "wall_s": round(wall, 1),
                   "real_time_factor": round(wall / seconds, 3),
                   "peak_rss_gib": round(peak / 2**20, 3), "timings": timings}  # fmt: skip
            print(json.dumps(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    parser.add_argument("--config", default="paper", choices=sorted(CONFIGS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--plain", action="store_true", help="time the model as trained")
    parser.add_argument(
        "--end-to-end",
        type=float,
        nargs="+",
        metavar="SECONDS",
        help="time the transcribe CLI on 720p clips of these lengths instead",
    )
    parser.add_argument("--model", default="avrelscore-demo", help="for --end-to-end")
    args = parser.parse_args()
    if args.end_to_end:
        end_to_end(args.end_to_end, args.model)
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = AVRelScore(CONFIGS[args.config]).eval()
    if not args.plain:
        model = optimize_for_inference(model, inplace=True)
    generator = torch.Generator().manual_seed(1)
    report = {
        "config": args.config,
        "threads": torch.get_num_threads(),
        "cpu": cpu_linear.cpu_info("model name") or cpu_linear.cpu_vendor(),
        "cpu_linear": "aten" if args.plain else cpu_linear.backend(),  # ran the dense layers
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    with torch.inference_mode():
        for seconds in (3, 10):
            inputs = clip(seconds, generator)
            wall, cpu, encoded = timed(lambda inputs=inputs: model.encode(*inputs), args.repeats)
            report[f"encoder_{seconds}s"] = {
                "wall_s": round(wall, 3),
                "cpu_s": round(cpu, 3),
                "real_time_factor": round(wall / seconds, 3),
            }
        encoded = model.encode(*clip(3, generator))
        lengths = encoded.mask.sum(1)
        wall, cpu, _ = timed(
            lambda: greedy_ctc(model.ctc_log_probs(encoded), lengths), args.repeats
        )
        report["greedy_3s"] = {"wall_ms": round(1000 * wall, 2), "cpu_ms": round(1000 * cpu, 2)}
    for beam in (10, 40):

        def search(beam=beam):
            return beam_search(model, encoded, beam=beam, ctc_weight=0.1)

        n = decoder_steps(search)
        wall, cpu, _ = timed(search, args.repeats)
        report[f"beam{beam}_3s"] = {
            "steps": n,
            "wall_ms_per_token": round(1000 * wall / n, 2),
            "cpu_ms_per_token": round(1000 * cpu / n, 2),
            "wall_s": round(wall, 3),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
