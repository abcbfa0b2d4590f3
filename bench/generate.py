"""Generator speed on CPU for issue 6: Audio-Lip Memory and CALS at 128 px, eager vs optimised.

Prints the parameter counts (ALM paper, CALS paper and lrs2, SyncNet paper), then for each model,
path and batch size the generator's frames per second (best and median of `--repeats` timed runs
after a warm-up), the CPU seconds per frame (steadier when other work shares the cores) and the
peak RSS. "eager" is the model as trained, under inference mode; "optimised" is
`modelzoo.alm.inference.optimize_for_inference` (batch norm folded, channels-last, fused oneDNN
convolutions). Each measurement runs in its own process, so each peak RSS is its own. Random
weights run at the speed of trained ones. Inputs are the pipeline's: ALM takes one mel window and
one 6-channel face per frame; CALS takes a run of frames with the +-W audio tokens around it. With
`--still` every frame of a batch shows the same face, as when the input is a photo. The whole job
(tracking, paste-back, encoding) is timed by `bench/generate_e2e.py`.

    .venv/bin/python bench/generate.py [--models alm cals] [--batch-sizes 8 16 32] [--repeats 5]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modelzoo.alm.inference import optimize_for_inference  # noqa: E402
from modelzoo.zoo.registry import architecture_class, named_config  # noqa: E402

IMG_SIZE = 128
PATHS = ("eager", "optimised")


def parameter_counts() -> dict[str, int]:
    counts = {}
    for arch, config in [
        ("alm", "paper"),
        ("cals", "paper"),
        ("cals", "lrs2"),
        ("syncnet", "paper"),
    ]:
        with torch.device("meta"):  # shapes only
            model = architecture_class(arch)(named_config(arch, config))
        counts[f"{arch}/{config}"] = sum(p.numel() for p in model.parameters())
    return counts


def build(arch: str, path: str):
    torch.manual_seed(0)
    model = architecture_class(arch)(named_config(arch, "paper")).eval()
    return optimize_for_inference(model, inplace=True) if path == "optimised" else model


def generator_call(model, arch: str, batch: int, still: bool):
    """A zero-argument call that generates `batch` frames as the generation pipeline does."""
    faces = torch.rand(1 if still else batch, 6, IMG_SIZE, IMG_SIZE) * 2 - 1
    faces = faces.expand(batch, -1, -1, -1).contiguous()
    if arch == "alm":
        mels = torch.randn(batch, 1, 80, 16)
        return lambda: model.generate(mels, faces)
    w = model.config.context
    run = faces.transpose(0, 1).unsqueeze(0)  # (1, 6, N, S, S): one run of frames
    mels = torch.randn(1, batch + 2 * w, 1, 80, 16)
    valid = torch.ones(1, batch + 2 * w, dtype=torch.bool)
    return lambda: model(run, mels, valid)


def measure(arch: str, path: str, batch: int, repeats: int, still: bool) -> dict:
    """Frames per second of one model, path and batch size; run in a fresh process."""
    model = build(arch, path)
    call = generator_call(model, arch, batch, still)
    fps, cpu = [], []
    with torch.inference_mode():
        call()  # warm-up: oneDNN picks kernels and packs weights on the first call
        for _ in range(repeats):
            wall, process = time.perf_counter(), time.process_time()
            call()
            fps.append(batch / (time.perf_counter() - wall))
            cpu.append((time.process_time() - process) / batch)
    return {
        "fps_best": max(fps),
        "fps_median": statistics.median(fps),
        "cpu_s_per_frame": min(cpu),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def in_child(fn, *args):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["alm", "cals"], choices=("alm", "cals"))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[8, 16, 32])
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--still", action="store_true", help="the same face in every frame")
    args = parser.parse_args(argv)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("parameters:")
    for name, count in parameter_counts().items():
        print(f"  {name:<14} {count / 1e6:8.2f} M")
    print(f"generator at {IMG_SIZE} px ({'one face per batch' if args.still else 'video'}):")
    print(f"  {'model':<5} {'path':<10} {'batch':>5} {'best fps':>9} {'median':>7} "
          f"{'cpu s/frame':>12} {'peak RSS MiB':>13}")  # fmt: skip
    for arch in args.models:
        for path in args.paths:
            for batch in args.batch_sizes:
                r = in_child(measure, arch, path, batch, args.repeats, args.still)
                print(
                    f"  {arch:<5} {path:<10} {batch:>5} {r['fps_best']:>9.2f} "
                    f"{r['fps_median']:>7.2f} {r['cpu_s_per_frame']:>12.4f} "
                    f"{r['peak_rss_mib']:>13.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
