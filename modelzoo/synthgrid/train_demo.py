"""Train the four demo checkpoints on a SynthGrid corpus, each for a wall-clock budget, on CPU.

    python -m modelzoo.synthgrid.train_demo --out modelzoo/zoo/weights [--minutes 12]
        [--models syncnet alm cals avrelscore] [--record]

Order: the SyncNet critic (frozen by both generators), Audio-Lip Memory, CALS (stage a2l with the
ALM lip encoder as its target encoder, then stage l2f), AV-RelScore. Each uses its architecture's
own task and loop; a budget is spent in chunks of steps, each chunk a resumed run of that loop
(validation and `last.pt` at its end), sized from the time the previous chunk took. The weights of
the best validation score are written with `modelzoo.zoo.loading.save` in float16 to
OUT/<id>-demo/, and a JSON summary (steps, first and last losses, validation figures, AV-RelScore's
greedy-CTC WER on the held-out test clips) is printed and written to WORK/demo_training.json.
The corpus is built once and cached under WORK/synthgrid/; run folders go to WORK/train_demo/
(WORK is var/ unless --work says otherwise).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import torch

from modelzoo.alm.data import TalkingFaceDataset, folder_clips
from modelzoo.alm.loop import LoopConfig, fit
from modelzoo.alm.model import CONFIGS as ALM_CONFIGS
from modelzoo.alm.model import AudioLipMemoryModel
from modelzoo.alm.train import ALMLossWeights, ALMTask
from modelzoo.avrelscore import train as avsr_train
from modelzoo.avrelscore.model import CONFIGS as AVSR_CONFIGS
from modelzoo.avrelscore.model import AVRelScore
from modelzoo.cals import train as cals_train
from modelzoo.cals.model import CONFIGS as CALS_CONFIGS
from modelzoo.cals.model import CALSModel
from modelzoo.errors import UserError
from modelzoo.syncnet import CONFIGS as SYNCNET_CONFIGS
from modelzoo.syncnet import SyncNet
from modelzoo.syncnet.train import SyncNetTask
from modelzoo.synthgrid.build import VERSION, build
from modelzoo.synthgrid.datasets import AVSRClips
from modelzoo.zoo import registry
from modelzoo.zoo.loading import file_sha256, load, save, weights_folder

ARCHITECTURES = ("syncnet", "alm", "cals", "avrelscore")  # in training order
ENDLESS = 10**9  # training-set length: windows are drawn at random, the budget ends the run
CHUNKS_PER_BUDGET = 6  # validations per model
BATCH = {"syncnet": 32, "alm": 8, "a2l": 8, "l2f": 8, "avrelscore": 8}
# The reference Noam warm-up (25k steps) never ends within minutes on CPU; this one peaks at
# about 1e-3 after 200 steps for d_model 128.
AVSR_TRAIN = avsr_train.TrainConfig(batch_size=BATCH["avrelscore"], warmup=200, lr_factor=0.16)


def corpus_folder(cache: Path, utterances: int, seed: int) -> Path:
    """The cached corpus for these settings, built first if it is not there (or half-built)."""
    folder = cache / f"{VERSION}-n{utterances}-s{seed}"
    if not (folder / "corpus.json").is_file():
        if folder.exists():
            import shutil

            shutil.rmtree(folder)  # an interrupted build: start over
        build(folder, utterances=utterances, seed=seed, workers=2)
    return folder


def spend(budget_s: float, run_until: Callable[[int], None], first_chunk: int = 10) -> int:
    """Call run_until(steps) with growing step targets until `budget_s` is spent; final steps."""
    start, steps, chunk = time.monotonic(), 0, first_chunk
    while True:
        began = time.monotonic()
        steps += chunk
        run_until(steps)
        per_step = (time.monotonic() - began) / chunk
        left = budget_s - (time.monotonic() - start)
        chunk = min(int(budget_s / CHUNKS_PER_BUDGET / per_step), int(left / per_step))
        if chunk < 1:
            return steps


def ends_of_curve(losses: list[float], key: str = "loss") -> dict[str, float]:
    """Mean loss over the first and the last quarter of the steps (at most 20 steps each)."""
    window = max(1, min(20, len(losses) // 4))
    return {
        f"first_{key}": sum(losses[:window]) / window,
        f"last_{key}": sum(losses[-window:]) / window,
    }


class LoopRun:
    """A task trained with the shared loop in resumable chunks; keeps every step's figures."""

    def __init__(self, task, train_set, val_set, run_dir: Path, batch_size: int):
        self.task, self.train_set, self.val_set = task, train_set, val_set
        self.run_dir, self.batch_size = run_dir, batch_size
        self.history: list[dict] = []
        self.validations: list[dict] = []

    def __call__(self, steps: int) -> None:
        loop = LoopConfig(steps, self.batch_size, val_every=ENDLESS, val_batches=4, log_every=25)
        self.history += fit(self.task, self.train_set, self.val_set, self.run_dir, loop, self.log)

    def log(self, figures: dict) -> None:
        if any(key.startswith("val_") for key in figures):
            self.validations.append(figures)
        print(json.dumps(figures), flush=True)

    def summary(self, key: str = "loss") -> dict:
        losses = [h[key] for h in self.history]
        return {
            "steps": len(losses),
            "batch_size": self.batch_size,
            **ends_of_curve(losses, key),
            "validations": self.validations,
        }


def windows(corpus: Path, kind: str, context: int = 0):
    clips = {split: folder_clips(corpus, split) for split in ("train", "val")}
    return (
        TalkingFaceDataset(clips["train"], kind, ENDLESS, context),
        TalkingFaceDataset(clips["val"], kind, ENDLESS, context, seed=1),
    )


def train_syncnet(corpus: Path, runs: Path, budget_s: float):
    task = SyncNetTask(SYNCNET_CONFIGS["demo"])
    run = LoopRun(task, *windows(corpus, "syncnet"), runs / "syncnet", BATCH["syncnet"])
    spend(budget_s, run)
    return SyncNet.from_pretrained(runs / "syncnet" / "best", strict=True), run.summary()


def train_alm(corpus: Path, runs: Path, budget_s: float, syncnet: SyncNet):
    task = ALMTask(ALM_CONFIGS["demo"], syncnet, ALMLossWeights())
    run = LoopRun(task, *windows(corpus, "generator"), runs / "alm", BATCH["alm"])
    spend(budget_s, run)
    best = runs / "alm" / "best"
    return AudioLipMemoryModel.from_pretrained(best, strict=True), run.summary()


def train_cals(corpus: Path, runs: Path, budget_s: float, syncnet: SyncNet, alm_folder: Path):
    """Stage a2l for a third of the budget, stage l2f for the rest."""
    config = CALS_CONFIGS["demo"]
    model = CALSModel(config)
    cals_train.lip_encoder_from_alm(model, alm_folder)
    a2l = LoopRun(
        cals_train.A2LTask(model),
        *windows(corpus, "a2l", config.context),
        runs / "cals-a2l",
        BATCH["a2l"],
    )
    spend(budget_s / 3, a2l)
    model = CALSModel.from_pretrained(runs / "cals-a2l" / "best", strict=True)
    l2f = LoopRun(
        cals_train.L2FTask(model, syncnet, cals_train.CALSLossWeights()),
        *windows(corpus, "l2f", config.context),
        runs / "cals-l2f",
        BATCH["l2f"],
    )
    spend(budget_s * 2 / 3, l2f)
    model = CALSModel.from_pretrained(runs / "cals-l2f" / "best", strict=True)
    return model, {"a2l": a2l.summary(), "l2f": l2f.summary()}


def train_avrelscore(corpus: Path, runs: Path, budget_s: float):
    model = AVRelScore(AVSR_CONFIGS["demo"])
    train_set = AVSRClips(corpus, "train", train=True)
    val_set = AVSRClips(corpus, "val")
    history, validations = [], []

    def progress(step: int, logs: dict) -> None:
        history.append(logs["loss"])
        if "val_wer" in logs:
            validations.append({"step": step, "val_loss": logs["val_loss"], "wer": logs["val_wer"]})
            print(json.dumps(validations[-1]), flush=True)

    def run_until(steps: int) -> None:
        config = avsr_train.TrainConfig(**{**AVSR_TRAIN.__dict__, "steps": steps})
        avsr_train.train(model, train_set, runs / "avrelscore", config=config, val_set=val_set,
                         progress=progress)  # fmt: skip

    spend(budget_s, run_until)
    best = AVRelScore.from_pretrained(runs / "avrelscore" / "best", strict=True)
    loader = torch.utils.data.DataLoader(
        AVSRClips(corpus, "test"), batch_size=8, collate_fn=avsr_train.collate
    )
    test = avsr_train.validate(best, loader)
    summary = {
        "steps": len(history),
        "batch_size": BATCH["avrelscore"],
        **ends_of_curve(history),
        "validations": validations,
        "test_greedy_ctc_wer": test["wer"],
        "test_clips": len(loader.dataset),
    }
    return best, summary


def export(model, out: Path, architecture: str) -> dict:
    model_id = f"{architecture}-demo"
    folder = save(model, out / model_id, architecture=architecture, model_id=model_id,
                  dtype="float16")  # fmt: skip
    return {name: file_sha256(folder / name) for name in ("config.json", "model.safetensors")}


def record_digests(source: str, architecture: str, digests: dict[str, str]) -> str:
    """registry.py's text with `demo_entry("<architecture>", sha256={...})` holding `digests`."""
    call = re.compile(rf'demo_entry\(\s*"{re.escape(architecture)}",\s*sha256=\{{[^}}]*\}},?\s*\)')
    if len(call.findall(source)) != 1:
        raise UserError(f'registry.py has no single demo_entry("{architecture}", sha256=...) call')
    # Laid out as `ruff format` lays out the call, so the file stays formatted.
    pairs = "".join(f'{" " * 16}"{name}": "{digest}",\n' for name, digest in digests.items())
    indent = " " * 12
    entry = (
        f'demo_entry(\n{indent}"{architecture}",\n{indent}sha256={{\n{pairs}{indent}}},\n{" " * 8})'
    )
    return call.sub(lambda _: entry, source)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="weights root, e.g. zoo/weights")
    parser.add_argument("--minutes", type=float, default=12.0, help="training budget per model")
    parser.add_argument("--utterances", type=int, default=1000, help="corpus size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("var"), help="corpus cache and runs")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--models",
        nargs="+",
        choices=ARCHITECTURES,
        default=list(ARCHITECTURES),
        help="the demo checkpoints to train (default all); generators trained without syncnet"
        " (or CALS without alm) in the same run use the bundled syncnet-demo (alm-demo)",
    )
    parser.add_argument(
        "--record", action="store_true", help="write the new sha256 digests into registry.py"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    budget = args.minutes * 60
    corpus = corpus_folder(args.work / "synthgrid", args.utterances, args.seed)
    runs = args.work / "train_demo"
    report: dict = {"corpus": str(corpus), "minutes_per_model": args.minutes, "models": {}}

    models = report["models"]

    registry_file = Path(registry.__file__)

    def done(architecture: str, model, summary: dict) -> None:
        summary["sha256"] = export(model, args.out, architecture)
        models[f"{architecture}-demo"] = summary
        if args.record:  # the bundled folder is checked against these on every load
            source = registry_file.read_text()
            registry_file.write_text(record_digests(source, architecture, summary["sha256"]))

    wanted = set(args.models)
    if "syncnet" in wanted:
        syncnet, summary = train_syncnet(corpus, runs, budget)
        done("syncnet", syncnet, summary)
    elif wanted & {"alm", "cals"}:
        syncnet = load("syncnet-demo")
    alm_folder = runs / "alm" / "best"
    if "alm" in wanted:
        done("alm", *train_alm(corpus, runs, budget, syncnet))
    elif "cals" in wanted:
        alm_folder = weights_folder(registry.entry("alm-demo"))
    if "cals" in wanted:
        done("cals", *train_cals(corpus, runs, budget, syncnet, alm_folder))
    if "avrelscore" in wanted:
        done("avrelscore", *train_avrelscore(corpus, runs, budget))
    text = json.dumps(report, indent=2)
    (args.work / "demo_training.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
