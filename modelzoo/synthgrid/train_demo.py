"""Train the demo checkpoints on a SynthGrid corpus in fixed, resumable stages; export each only
if it passes its gate.

    python -m modelzoo.synthgrid.train_demo --out modelzoo/zoo/weights
        [--models syncnet alm cals avrelscore] [--scale 1.0] [--threads 1] [--record]
        [--device cuda --workers 8]   # on a lent GPU (more steps there: --scale 4)

Each model trains for a fixed number of steps per stage (times `--scale`), never for a wall-clock
budget, so a slow machine trains as long as a fast one, only later. A stage is a run folder under
WORK/train_demo/ resumed from its `last.pt`, so a killed run goes on where it stopped; a stage
starts from the previous stage's best weights. The generators train first on reconstruction
alone (the key path, L1: cheap, and what makes the mouth follow the audio), then with the sync
critic added. CALS's Audio-to-Lip transformer learns inside Lip-to-Face (no masked pretraining:
that needs a converged lip encoder, which the demo's short reconstruction stage does not train).
After training, `modelzoo.synthgrid.gates` judges the best weights on validation windows; only a
checkpoint that passes is written, in float16, to OUT/<id>-demo/ with `training.json` (command,
seed, corpus fingerprint, steps, time, gate figures) beside its model card. The summary of the
whole run is printed and written to WORK/demo_training.json. The corpus is built once and cached
under WORK/synthgrid/ (WORK is var/ unless --work says otherwise).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from modelzoo.alm.data import TalkingFaceDataset, folder_clips
from modelzoo.alm.loop import LoopConfig, fit
from modelzoo.alm.model import CONFIGS as ALM_CONFIGS
from modelzoo.alm.train import ALMLossWeights, ALMTask
from modelzoo.avrelscore import train as avsr_train
from modelzoo.avrelscore.augment import ModalityDropout, TrainingCorruption
from modelzoo.avrelscore.model import CONFIGS as AVSR_CONFIGS
from modelzoo.avrelscore.model import AVRelScore
from modelzoo.cals import train as cals_train
from modelzoo.cals.model import CONFIGS as CALS_CONFIGS
from modelzoo.cals.model import CALSModel
from modelzoo.errors import UserError
from modelzoo.syncnet import CONFIGS as SYNCNET_CONFIGS
from modelzoo.syncnet import SyncNet
from modelzoo.syncnet.train import SyncNetTask
from modelzoo.synthgrid import gates
from modelzoo.synthgrid.build import VERSION, build
from modelzoo.synthgrid.datasets import AVSRClips
from modelzoo.zoo import registry
from modelzoo.zoo.loading import file_sha256, load, save

# The demos, named by their model id less "-demo", in training order (the critic first).
DEMOS = ("syncnet", "alm", "cals", "avrelscore", "avsr-av", "avsr-audio", "avsr-video")
ENDLESS = 10**9  # training-set length: windows are drawn at random, the steps end the run
CHECKPOINT_EVERY = 100  # steps between validations and `last.pt`
BATCH = {"syncnet": 32, "alm": 4, "cals": 4, "avrelscore": 8}
# The reference Noam warm-up (25k steps) never ends within minutes on CPU; this one peaks at
# about 1e-3 after 200 steps for d_model 128.
AVSR_TRAIN = avsr_train.TrainConfig(batch_size=BATCH["avrelscore"], warmup=200, lr_factor=0.16)
# Steps at --scale 1. The AVSR demos start from the previous demo checkpoint's tensors
# (--init-avsr), which already hold a lip reader and the vocabulary, so they need fewer.
AVSR_STEPS = 1600
# The recipe puts babble on every clip; a demo visitor mostly brings clean speech, which a model
# that never heard it reads worse than speech at 15 dB (0.67 against 0.55 WER, 1600 steps).
CLEAN_AUDIO_SHARE = 0.3


@dataclass(frozen=True)
class Stage:
    name: str
    steps: int
    weights: object  # the task's loss weights (ALMLossWeights, CALSLossWeights) or its lr
    augment: bool = False  # the critic's windows vary in colour and placement (`augment_faces`)


# Reconstruction first at a demo learning rate (clipped: 1e-3 spiked, 3e-4..5e-4 does not), then
# the paper's weights with the sync critic; the GAN stays off, as its discriminator needs far
# more steps than a CPU demo run has to do more than add noise.
RECON = {"l1": 1.0, "av_sync": 0.0, "vv_sync": 0.0, "gan": 0.0, "lr": 5e-4, "clip": 1.0}
SYNC = {"l1": 10.0, "av_sync": 0.3, "vv_sync": 0.0, "gan": 0.0, "lr": 2e-4, "clip": 1.0}
STAGES = {
    # Timing on the corpus's faces first; then faces varied, at a lower rate, so that the critic
    # judges faces it has not seen (added after the first stage had run: from scratch untried).
    "syncnet": [Stage("syncnet", 3000, 3e-4), Stage("syncnet-augmented", 2500, 1e-4, True)],
    "alm": [
        Stage("alm-recon", 2000, ALMLossWeights(**RECON, memory=0.0)),
        Stage("alm-sync", 600, ALMLossWeights(**SYNC, memory=0.0)),
    ],
    "cals": [
        Stage("cals-recon", 2000, cals_train.CALSLossWeights(**RECON, finetune_a2l=True)),
        Stage("cals-sync", 600, cals_train.CALSLossWeights(**SYNC, finetune_a2l=True)),
    ],
}
MIN_STEPS_SHARE = 0.5  # a checkpoint with fewer steps than half its schedule is never exported


def corpus_folder(cache: Path, utterances: int, seed: int) -> Path:
    """The cached corpus for these settings, built first if it is not there (or half-built)."""
    folder = cache / f"{VERSION}-n{utterances}-s{seed}"
    if not (folder / "corpus.json").is_file():
        if folder.exists():
            shutil.rmtree(folder)  # an interrupted build: start over
        build(folder, utterances=utterances, seed=seed, workers=2)
    return folder


def corpus_fingerprint(corpus: Path) -> str:
    """The fingerprint the corpus's build recorded, else the sha256 of its recipe file."""
    recipe = (corpus / "corpus.json").read_bytes()
    return json.loads(recipe).get("fingerprint") or hashlib.sha256(recipe).hexdigest()


def ends_of_curve(losses: list[float], key: str = "loss") -> dict[str, float]:
    """Mean loss over the first and the last quarter of the steps (at most 20 steps each)."""
    window = max(1, min(20, len(losses) // 4))
    return {
        f"first_{key}": sum(losses[:window]) / window,
        f"last_{key}": sum(losses[-window:]) / window,
    }


def windows(corpus: Path, kind: str, context: int = 0, augment: bool = False):
    clips = {split: folder_clips(corpus, split) for split in ("train", "val")}
    return (
        TalkingFaceDataset(clips["train"], kind, ENDLESS, context, 0, augment),
        TalkingFaceDataset(clips["val"], kind, ENDLESS, context, 1),
    )


@dataclass(frozen=True)
class Hardware:
    device: str = "cpu"
    workers: int = 0  # data-loader processes (0: in the training process, as on 2 CPU cores)


def run_stage(task, data, run_dir: Path, steps: int, batch_size: int, hw: Hardware) -> dict:
    """`fit` the task to `steps` (resuming), logging JSON lines to stdout and to the run folder's
    `log.jsonl`; the stage's summary over every process that trained it (a run is often killed
    and resumed, so one process's figures are not the stage's)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log_file = run_dir / "log.jsonl"

    def log(figures: dict) -> None:
        line = json.dumps({"run": run_dir.name, **figures})
        print(line, flush=True)
        record = {**figures, "time": round(time.time(), 1), "pid": os.getpid()}
        with log_file.open("a") as out:
            out.write(json.dumps(record) + "\n")

    loop = LoopConfig(steps, batch_size, CHECKPOINT_EVERY, 4, hw.workers, 25, hw.device)
    fit(task, *data, run_dir, loop, log)
    records = (
        [json.loads(line) for line in log_file.read_text().splitlines()]
        if log_file.exists()
        else []
    )
    losses = [r["loss"] for r in records if "loss" in r]
    spans: dict[int, list[float]] = {}
    for r in records:
        if "time" in r:  # lines copied in from an earlier stdout log carry none
            spans.setdefault(r["pid"], []).append(r["time"])
    return {
        "steps": steps,
        "batch_size": batch_size,
        # From each process's first to last log line: a lower bound of the training time.
        "logged_seconds": round(sum(max(t) - min(t) for t in spans.values())),
        **(ends_of_curve(losses) if losses else {}),
        "validations": [r for r in records if any(k.startswith("val_") for k in r)][-3:],
    }


def trained_syncnet(runs: Path, corpus: Path) -> tuple[SyncNet, str]:
    """The critic for the generators' sync loss: this run's once it has finished and separates
    shifted windows better than the bundled syncnet-demo does (it need not reach the export gate
    to be the better teacher), else the bundled one; with a line saying which it is."""
    bundled = load("syncnet-demo")
    final = runs / STAGES["syncnet"][-1].name
    gate = final / "gate.json"
    if not gate.is_file():
        return bundled, "bundled syncnet-demo (no critic trained in this run)"
    bundled_auc = gates.syncnet_gate(bundled, folder_clips(corpus, "val")).auc
    auc = json.loads(gate.read_text())["auc"]
    if auc <= bundled_auc:
        return bundled, f"bundled syncnet-demo (AUC {bundled_auc:.3f} >= this run's {auc:.3f})"
    syncnet = SyncNet.from_pretrained(final / "best", strict=True)
    return syncnet, f"this run's critic (AUC {auc:.3f}; bundled syncnet-demo {bundled_auc:.3f})"


def train_syncnet(corpus: Path, runs: Path, scale: float, hw: Hardware):
    summaries, critic = {}, None
    for stage in STAGES["syncnet"]:
        run_dir = runs / stage.name
        task = SyncNetTask(SYNCNET_CONFIGS["demo"], lr=stage.weights)
        if critic is not None and not (run_dir / "last.pt").exists():
            task.syncnet.load_state_dict(critic.state_dict(), strict=True)
        # Every offset at once: pair-wise windows (Wav2Lip's draw, half of them 2..15 frames
        # away) reached an AUC of 0.80 against 6-frame shifts after 3000 steps.
        data = windows(corpus, "syncnet_offsets", augment=stage.augment)
        steps = math.ceil(stage.steps * scale)
        summaries[stage.name] = run_stage(task, data, run_dir, steps, BATCH["syncnet"], hw)
        critic = SyncNet.from_pretrained(run_dir / "best", strict=True)
    gate = gates.syncnet_gate(critic, folder_clips(corpus, "val"))
    (run_dir / "gate.json").write_text(json.dumps(gate.figures()))
    return critic, summaries, gate


def train_generator(architecture: str, corpus: Path, runs: Path, scale: float, hw: Hardware):
    """Every stage of ALM or CALS in turn; (best model, per-stage summaries, gate)."""
    summaries, critics, model = {}, {}, None

    def critic(stage: Stage) -> SyncNet:
        # Only a stage that uses the sync loss needs a good one (the gate costs a minute).
        syncnet, critics[stage.name] = (
            trained_syncnet(runs, corpus)
            if stage.weights.av_sync
            else (load("syncnet-demo"), "none (no sync loss)")
        )
        return syncnet

    for stage in STAGES[architecture]:
        run_dir = runs / stage.name
        if architecture == "alm":
            task = ALMTask(ALM_CONFIGS["demo"], critic(stage), stage.weights)
            data = windows(corpus, "generator")
        else:
            config = CALS_CONFIGS["demo"]
            cals = model if model is not None else CALSModel(config)
            task = cals_train.L2FTask(cals, critic(stage), stage.weights)
            data = windows(corpus, "l2f", config.context)
        if model is not None and not (run_dir / "last.pt").exists():
            task.model.load_state_dict(model.state_dict(), strict=True)
        steps = math.ceil(stage.steps * scale)
        summaries[stage.name] = run_stage(task, data, run_dir, steps, BATCH[architecture], hw)
        summaries[stage.name]["critic"] = critics[stage.name]
        model = type(task.model).from_pretrained(run_dir / "best", strict=True)
    model.eval()
    if architecture == "alm":
        gate = gates.generator_gate(
            lambda b: model(b["mels"], b["faces"]).key_frames, data[1], ["mels"]
        )
    else:
        gate = gates.generator_gate(
            lambda b: model(b["faces"], b["context_mels"], b["context_valid"]),
            data[1],
            ["context_mels", "context_valid"],
        )
    return model, summaries, gate


@dataclass(frozen=True)
class AVSRDemo:
    """One of the four speech-recogniser demos: its model config and the WER ceilings of its gate,
    each on the validation clips under one `AVSRClips` condition."""

    config: str
    max_wer: dict[str, float]
    dropout: ModalityDropout | None = None


# The AV models see the paper's corruption plus whole streams withheld; each single-stream
# baseline sees the corruption of its own stream only (withholding its one stream teaches nothing).
# The ceilings keep out a model that has not learnt its task (a lip reader deaf to audio reads a
# still photo at a WER near 1); how far below them a model lands is what evaluate reports.
AV_CEILINGS = {"clean": 0.2, "static_video": 0.5, "silent_audio": 0.9}
AVSR_DEMOS = {
    "avrelscore": AVSRDemo("demo", AV_CEILINGS, ModalityDropout()),
    "avsr-av": AVSRDemo("demo-av-concat", AV_CEILINGS, ModalityDropout()),
    "avsr-audio": AVSRDemo("demo-audio-only", {"clean": 0.3}),
    "avsr-video": AVSRDemo("demo-video-only", {"clean": 0.9}),
}


@dataclass(frozen=True)
class WERGate:
    """A speech recogniser's gate: greedy-CTC WER under each condition below its ceiling."""

    wer: dict[str, float]
    max_wer: dict[str, float]

    @property
    def passed(self) -> bool:
        return all(self.wer[condition] <= ceiling for condition, ceiling in self.max_wer.items())

    def figures(self) -> dict:
        return {"val_greedy_ctc_wer": self.wer, "max_wer": self.max_wer, "passed": self.passed}


def train_avsr(
    name: str,
    corpus: Path,
    runs: Path,
    scale: float,
    hw: Hardware,
    init: Path | None = None,
    init_audio: Path | None = None,
    init_video: Path | None = None,
):
    demo = AVSR_DEMOS[name]
    model = AVRelScore(AVSR_CONFIGS[demo.config])
    warm = avsr_train.warm_start(model, AVRelScore.from_pretrained(init)) if init else []
    for stream, folder in (("audio", init_audio), ("video", init_video)):
        if folder and getattr(model.config, f"uses_{stream}"):
            source = AVRelScore.from_pretrained(folder)
            warm += avsr_train.warm_start(model, source, prefix=f"{stream}_frontend.")
    corrupt = TrainingCorruption(p_clean_audio=CLEAN_AUDIO_SHARE)
    if model.config.variant == "audio_only":  # its video is never read: keep the draws cheap
        corrupt = replace(corrupt, p_clean_video=1.0)
    train_set = AVSRClips(corpus, "train", train=True, corruption=corrupt, dropout=demo.dropout)
    val_set = AVSRClips(corpus, "val")
    history, validations = [], []

    def progress(step: int, logs: dict) -> None:
        history.append(logs["loss"])
        if "val_wer" in logs:
            validations.append({"step": step, "val_loss": logs["val_loss"], "wer": logs["val_wer"]})
            print(json.dumps({"model": f"{name}-demo", **validations[-1]}), flush=True)

    steps = math.ceil(AVSR_STEPS * scale)
    config = replace(
        AVSR_TRAIN, steps=steps, eval_every=CHECKPOINT_EVERY * 2, num_workers=hw.workers
    )
    began = time.monotonic()
    avsr_train.train(model, train_set, runs / name, config=config, val_set=val_set,
                     device=hw.device, progress=progress)  # fmt: skip
    model.cpu()
    best = AVRelScore.from_pretrained(runs / name / "best", strict=True)
    wer = {}
    for condition in demo.max_wer:
        clips = AVSRClips(corpus, "val", condition=condition)
        loader = torch.utils.data.DataLoader(clips, batch_size=8, collate_fn=avsr_train.collate)
        wer[condition] = avsr_train.validate(best, loader)["wer"]
    summary = {
        "steps": steps,
        "batch_size": BATCH["avrelscore"],
        "logged_seconds": round(time.monotonic() - began),  # this process's (no resume log)
        "corruption": asdict(corrupt),
        "modality_dropout": asdict(demo.dropout) if demo.dropout else None,
        "warm_start": {
            "from": str(init) if init else None,
            "audio_frontend_from": str(init_audio) if init_audio else None,
            "video_frontend_from": str(init_video) if init_video else None,
            "tensors": len(set(warm)),
        },
        **(ends_of_curve(history) if history else {}),
        "validations": validations[-3:],
    }
    return best, {name: summary}, WERGate(wer, demo.max_wer)


def export(model, out: Path, name: str, training: dict) -> dict:
    """Write the float16 checkpoint, its training record and the record's figures in its card."""
    model_id = f"{name}-demo"
    folder = save(model, out / model_id, architecture=registry.entry(model_id).architecture,
                  model_id=model_id, dtype="float16")  # fmt: skip
    (folder / "training.json").write_text(json.dumps(training, indent=2) + "\n")
    card = folder / "README.md"
    gate = json.dumps(training["gate"])
    logged = f" in at least {training['logged_seconds']} s" if training["logged_seconds"] else ""
    card.write_text(
        card.read_text()
        + f"\n\n## Training\n\n`{training['command']}` (seed {training['seed']}), corpus "
        + f"`{training['corpus_fingerprint'][:16]}`, {training['steps']} steps{logged}. Export "
        + f"gate on validation windows: `{gate}`. The full record is `training.json`.\n"
    )
    return {name: file_sha256(folder / name) for name in ("config.json", "model.safetensors")}


def record_digests(source: str, name: str, digests: dict[str, str]) -> str:
    """registry.py's text with `demo_entry("<name>", sha256={...})` holding `digests`."""
    call = re.compile(rf'demo_entry\(\s*"{re.escape(name)}",\s*sha256=\{{[^}}]*\}},?\s*\)')
    if len(call.findall(source)) != 1:
        raise UserError(f'registry.py has no single demo_entry("{name}", sha256=...) call')
    # Laid out as `ruff format` lays out the call, so the file stays formatted.
    pairs = "".join(f'{" " * 16}"{name}": "{digest}",\n' for name, digest in digests.items())
    indent = " " * 12
    entry = f'demo_entry(\n{indent}"{name}",\n{indent}sha256={{\n{pairs}{indent}}},\n{" " * 8})'
    return call.sub(lambda _: entry, source)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="weights root, e.g. zoo/weights")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every stage's steps")
    parser.add_argument("--utterances", type=int, default=1000, help="corpus size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, help="an existing SynthGrid corpus to train on")
    parser.add_argument("--work", type=Path, default=Path("var"), help="corpus cache and runs")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda where a GPU is lent")
    parser.add_argument("--workers", type=int, default=0, help="data-loader processes")
    parser.add_argument(
        "--models",
        nargs="+",
        choices=DEMOS,
        default=list(DEMOS),
        help="the demo checkpoints to train (default all); generators use this run's critic"
        " once it has passed its gate, else the bundled syncnet-demo",
    )
    parser.add_argument(
        "--init-avsr",
        type=Path,
        help="a speech-recogniser checkpoint folder whose matching tensors start the AVSR demos",
    )
    parser.add_argument(
        "--init-avsr-audio",
        type=Path,
        help="a speech-recogniser checkpoint folder (say, avsr-audio's) whose audio front-end"
        " starts the AVSR demos' in place of --init-avsr's",
    )
    parser.add_argument(
        "--init-avsr-video",
        type=Path,
        help="a speech-recogniser checkpoint folder (say, avsr-video's) whose video front-end"
        " starts the AVSR demos' in place of --init-avsr's",
    )
    parser.add_argument(
        "--record", action="store_true", help="write the new sha256 digests into registry.py"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    corpus = args.corpus or corpus_folder(args.work / "synthgrid", args.utterances, args.seed)
    runs = args.work / "train_demo"
    fingerprint = corpus_fingerprint(corpus)
    report: dict = {"corpus": str(corpus), "corpus_fingerprint": fingerprint, "models": {}}
    registry_file = Path(registry.__file__)
    hw = Hardware(args.device, args.workers)
    trainers = {
        "syncnet": lambda: train_syncnet(corpus, runs, args.scale, hw),
        "alm": lambda: train_generator("alm", corpus, runs, args.scale, hw),
        "cals": lambda: train_generator("cals", corpus, runs, args.scale, hw),
        **{
            name: functools.partial(
                train_avsr,
                name,
                corpus,
                runs,
                args.scale,
                hw,
                args.init_avsr,
                args.init_avsr_audio,
                args.init_avsr_video,
            )  # fmt: skip
            for name in AVSR_DEMOS
        },
    }
    for name in (d for d in DEMOS if d in args.models):
        model, stages, gate = trainers[name]()
        steps = sum(stage["steps"] for stage in stages.values())
        planned = sum(s.steps for s in STAGES.get(name, [])) or AVSR_STEPS
        training = {
            "command": "python -m modelzoo.synthgrid.train_demo " + " ".join(sys.argv[1:]),
            "seed": args.seed,
            "corpus_fingerprint": fingerprint,
            "steps": steps,
            "logged_seconds": sum(stage["logged_seconds"] for stage in stages.values()),
            "stages": stages,
            "gate": gate.figures(),
        }
        exported = gate.passed and steps >= MIN_STEPS_SHARE * planned
        training["exported"] = exported
        if exported:
            training["sha256"] = export(model, args.out, name, training)
            if args.record:  # the bundled folder is checked against these on every load
                source = record_digests(registry_file.read_text(), name, training["sha256"])
                registry_file.write_text(source)
        report["models"][f"{name}-demo"] = training
        print(json.dumps({"model": f"{name}-demo", **training["gate"]}), flush=True)
    text = json.dumps(report, indent=2)
    (args.work / "demo_training.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
