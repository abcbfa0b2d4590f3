"""Training loop for AV-RelScore after ms-dot-k/AVSR@2a287f5 `train.py` (CC BY-NC 4.0), rewritten.

As in the reference: Adam(0.9, 0.98, eps 1e-9) under the Noam schedule
lr = factor * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5) (peak about 3.95e-4 at step 25k
for d_model 256), the joint loss of the model, gradient accumulation, and validation with a
checkpoint every `eval_every` steps. The reference's config names a gradient clip of 5.0 that
its loop never applies, so clipping is off unless asked for.

`train_curriculum` runs it over stages of growing clip length (the authors' 0_100 ... 0_600 lists,
or `length_stages` of any dataset); `modelzoo.avrelscore.data` reads LRS2/LRS3 in the authors'
layout and folders of (video, transcript) pairs.

A dataset yields (video, waveform, text): video (T, 1, 88, 88) or (T, 88, 88) normalised gray crops,
the 16 kHz waveform (S,), and the transcript. `last.pt` in the output folder holds everything
needed to resume; the best model by validation WER is saved with `save_pretrained` under `best/`.
"""

import argparse
import functools
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import jiwer
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from modelzoo.avrelscore import vocab
from modelzoo.avrelscore.augment import TrainingCorruption
from modelzoo.avrelscore.data import LRSClips, PairFolder
from modelzoo.avrelscore.decoding import greedy_ctc
from modelzoo.avrelscore.model import CONFIGS, SAMPLES_PER_FRAME, AVRelScore, AVRelScoreConfig
from modelzoo.errors import UserError

log = logging.getLogger(__name__)

# the authors' curriculum lists hold clips of at most 100, 150, 300, 450 and 600 frames
CURRICULUM_FRAMES = (100, 150, 300, 450, 600)


class CheckpointMismatchError(UserError):
    """A checkpoint to resume from was written for a different model config."""


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1_000_000  # optimiser updates; the README's 200 epochs are counted the same way
    batch_size: int = 2
    accumulate: int = 1  # batches per optimiser update (the reference's update_frequency)
    warmup: int = 25_000
    lr_factor: float = 1.0
    grad_clip: float = 0.0  # 0 turns clipping off, as the reference effectively runs
    eval_every: int = 5_000
    max_text_len: int = 150  # characters, as the reference cuts transcripts
    num_workers: int = 0
    seed: int = 1


@dataclass
class Batch:
    video: torch.Tensor  # (B, T, 1, H, W) zero-padded
    audio: torch.Tensor  # (B, T * 640) each clip cut or zero-padded to its own frames first
    lengths: torch.Tensor  # (B,) valid video frames
    targets: torch.Tensor  # (B, L) character ids padded with vocab.IGNORE
    texts: list[str]
    corrupted: dict[str, torch.Tensor] | None = None  # per stream (B, T), True where corrupted


def collate(samples: Iterable[tuple], max_text_len: int = 150) -> Batch:
    """Pad (video, waveform, text) samples into one batch; audio is aligned to video frames. A
    training sample may add a fourth item, {"video": (T,), "audio": (T,)} True at the frames
    whose stream was corrupted, which the batch keeps zero-padded."""
    videos, audios, texts, labels = [], [], [], []
    for video, audio, text, *corrupted in samples:
        labels += corrupted
        video = torch.as_tensor(video, dtype=torch.float32)
        videos.append(video if video.dim() == 4 else video[:, None])
        n = video.size(0) * SAMPLES_PER_FRAME
        audio = torch.as_tensor(audio, dtype=torch.float32)[:n]
        audios.append(torch.nn.functional.pad(audio, (0, n - audio.size(0))))
        texts.append(text)
    lengths = torch.tensor([v.size(0) for v in videos])
    frames = int(lengths.max())
    video = videos[0].new_zeros((len(videos), frames, *videos[0].shape[1:]))
    audio = torch.zeros(len(videos), frames * SAMPLES_PER_FRAME)
    for i, (v, a) in enumerate(zip(videos, audios, strict=True)):
        video[i, : v.size(0)] = v
        audio[i, : a.size(0)] = a
    ids = [vocab.encode(t)[:max_text_len] for t in texts]
    targets = torch.full((len(ids), max(1, max(map(len, ids)))), vocab.IGNORE)
    for i, row in enumerate(ids):
        targets[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    corrupted = None
    if labels and len(labels) == len(videos):
        corrupted = {
            stream: torch.nn.utils.rnn.pad_sequence(
                [torch.as_tensor(label[stream], dtype=torch.bool)[:frames] for label in labels],
                batch_first=True,
            )
            for stream in ("video", "audio")
        }
    return Batch(video, audio, lengths, targets, texts, corrupted)


def noam_lr(step: int, d_model: int, warmup: int, factor: float = 1.0) -> float:
    step = max(step, 1)
    return factor * d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


def _inputs(model: AVRelScore, batch: Batch, device):
    cfg = model.config
    video = batch.video.to(device) if cfg.uses_video else None
    audio = batch.audio.to(device) if cfg.uses_audio else None
    return video, audio, batch.lengths.to(device)


@torch.no_grad()
def validate(model: AVRelScore, loader: DataLoader, device="cpu") -> dict:
    """Mean loss per utterance and word error rate of greedy CTC transcripts."""
    model.eval()
    total, count, refs, hyps = 0.0, 0, [], []
    for batch in loader:
        out = model(*_inputs(model, batch, device), batch.targets.to(device))
        total += out.loss.item() * len(batch.texts)
        count += len(batch.texts)
        log_probs = model.ctc_log_probs(out.encoded)
        hyps += [vocab.decode(ids) for ids in greedy_ctc(log_probs, batch.lengths)]
        refs += [vocab.decode(vocab.encode(t)) for t in batch.texts]
    model.train()
    return {"loss": total / max(count, 1), "wer": jiwer.wer(refs, [h or "-" for h in hyps])}


def warm_start(model: AVRelScore, source: AVRelScore, prefix: str = "") -> list[str]:
    """Copy into `model` every tensor of `source` with the same name and shape (the variants share
    all but their stream scorers and unused front-end) whose name starts with `prefix`; the names
    copied. A run that resumes from `last.pt` overwrites them, so warm-starting a resumed run
    changes nothing."""
    own = model.state_dict()
    shared = {
        name: tensor
        for name, tensor in source.state_dict().items()
        if name.startswith(prefix) and name in own and own[name].shape == tensor.shape
    }
    model.load_state_dict(shared, strict=False)
    return sorted(shared)


def _save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a crash mid-write leaves the previous checkpoint intact


def _resume(model, optimizer, path: Path) -> tuple[int, float]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    # read through the config class, so that a field added since takes its default
    if AVRelScoreConfig(**state["config"]) != model.config:
        raise CheckpointMismatchError(
            f"{path} was written for config {state['config']}, not {asdict(model.config)}"
        )
    model.load_state_dict(state["model"], strict=True)
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
    return state["step"], state["best_wer"]


def train(
    model: AVRelScore,
    train_set: Dataset,
    out_dir: Path,
    *,
    config: TrainConfig = TrainConfig(),
    val_set: Dataset | None = None,
    device: str = "cpu",
    progress: Callable[[int, dict], None] = lambda step, logs: None,
) -> dict:
    """Train until `config.steps` updates, resuming from `out_dir/last.pt` if it exists."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.0, betas=(0.9, 0.98), eps=1e-9)
    step, best_wer = 0, math.inf
    if (out_dir / "last.pt").exists():
        step, best_wer = _resume(model, optimizer, out_dir / "last.pt")
        log.info("resumed from %s at step %d", out_dir / "last.pt", step)

    def batches(data, shuffle):
        return DataLoader(
            data,
            batch_size=config.batch_size,
            shuffle=shuffle,
            num_workers=config.num_workers,
            collate_fn=functools.partial(collate, max_text_len=config.max_text_len),
        )

    val_loader = batches(val_set, False) if val_set is not None else None
    logs: dict = {}
    while step < config.steps:
        for i, batch in enumerate(batches(train_set, True)):
            corrupted = batch.corrupted and {k: v.to(device) for k, v in batch.corrupted.items()}
            out = model(*_inputs(model, batch, device), batch.targets.to(device), corrupted)
            (out.loss / config.accumulate).backward()
            if (i + 1) % config.accumulate:
                continue
            step += 1
            logs = _update(model, optimizer, step, config)
            logs.update(loss=out.loss.item(), ctc=out.ctc_loss.item(), att=out.att_loss.item())
            if out.reliability_loss is not None:
                logs["reliability"] = out.reliability_loss.item()
            if step % config.eval_every == 0 or step == config.steps:
                if val_loader is not None:
                    logs.update(
                        {f"val_{k}": v for k, v in validate(model, val_loader, device).items()}
                    )
                best_wer = _checkpoint(model, optimizer, step, best_wer, logs, out_dir)
            progress(step, logs)
            if step >= config.steps:
                break
    return logs


def train_curriculum(
    model: AVRelScore,
    stages: Sequence[tuple[Dataset, int]],
    out_dir: Path,
    *,
    config: TrainConfig = TrainConfig(),
    val_set: Dataset | None = None,
    device: str = "cpu",
    progress: Callable[[int, dict], None] = lambda step, logs: None,
) -> dict:
    """`train` on each (dataset, updates) stage in turn, shortest clips first, as the authors'
    curriculum goes through their 0_100 ... 0_600 lists; the Noam schedule and the optimiser run
    on across stages. A restart resumes in the stage it stopped in (`config.steps` is unused)."""
    logs, end = {}, 0
    for data, updates in stages:
        end += updates
        stage_config = replace(config, steps=end)
        logs = (
            train(
                model,
                data,
                out_dir,
                config=stage_config,
                val_set=val_set,
                device=device,
                progress=progress,
            )
            or logs
        )
    return logs


def length_stages(
    frame_counts: Sequence[int], bounds: Sequence[int] = CURRICULUM_FRAMES
) -> list[list[int]]:
    """Indices of the clips of at most each bound's frames (cumulative, like the authors' lists);
    bounds that add no clip are left out. Use with `torch.utils.data.Subset`."""
    stages, seen = [], 0
    for bound in sorted(bounds):
        members = [i for i, n in enumerate(frame_counts) if n <= bound]
        if len(members) > seen:
            stages.append(members)
            seen = len(members)
    return stages


def _update(model, optimizer, step: int, config: TrainConfig) -> dict:
    lr = noam_lr(step, model.config.d_model, config.warmup, config.lr_factor)
    for group in optimizer.param_groups:
        group["lr"] = lr
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    optimizer.zero_grad()
    return {"lr": lr}


def _checkpoint(model, optimizer, step, best_wer, logs, out_dir: Path) -> float:
    # without validation data the latest model counts as the best one
    if "val_wer" not in logs or logs["val_wer"] < best_wer:
        best_wer = logs.get("val_wer", best_wer)
        model.save_pretrained(out_dir / "best")
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "best_wer": best_wer,
        "config": asdict(model.config),
        "rng": torch.get_rng_state(),
    }
    _save_atomic(state, out_dir / "last.pt")
    log.info("step %d: %s", step, logs)
    return best_wer


def _stages(args) -> tuple[list[Dataset], Dataset | None]:
    """Training sets from shortest to longest clips, and the validation set, of the CLI's args."""
    corruption = None
    if args.corrupt:
        corruption = TrainingCorruption(occluders=args.occluders, noise_file=args.noise_file)
    elif args.occluders or args.noise_file:
        raise UserError("--occluders and --noise-file only apply with --corrupt")
    if args.folder is not None:
        clips = PairFolder(args.folder, train=True, corruption=corruption)
        stages = [Subset(clips, ids) for ids in length_stages(clips.frame_counts())]
        val = PairFolder(args.val_folder) if args.val_folder else None
        return stages, val
    lists = args.lists or args.lrs
    files = [lists / f"0_{n}.txt" for n in CURRICULUM_FRAMES if (lists / f"0_{n}.txt").is_file()]
    if not files:
        raise UserError(f"{lists} has none of the curriculum lists 0_100.txt ... 0_600.txt")
    stages = [
        LRSClips(args.lrs, f, corpus=args.corpus, train=True, corruption=corruption) for f in files
    ]
    val = None
    if args.val_list:
        val = LRSClips(args.lrs, args.val_list, corpus=args.corpus, validation=True)
    return stages, val


def _model_config(name: str) -> AVRelScoreConfig:
    if name in CONFIGS:
        return CONFIGS[name]
    path = Path(name)
    if not path.is_file():
        raise UserError(f"--config: {name} is neither one of {', '.join(CONFIGS)} nor a file")
    return AVRelScoreConfig(**json.loads(path.read_text()))


def main(argv: list[str] | None = None) -> int:
    """`python -m modelzoo.avrelscore.train`: the authors' curriculum on LRS2/LRS3 or a folder."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--lrs", type=Path, help="LRS2/LRS3 root holding Video/, Audio/, Text/")
    source.add_argument("--folder", type=Path, help="folder of NAME.mp4 + NAME.txt pairs")
    parser.add_argument("--lists", type=Path, help="folder of 0_100.txt ... 0_600.txt (--lrs)")
    parser.add_argument("--corpus", choices=("LRS2", "LRS3"), default="LRS3")
    parser.add_argument("--val-list", type=Path, help="validation split file (--lrs)")
    parser.add_argument("--val-folder", type=Path, help="validation folder of pairs (--folder)")
    parser.add_argument("--out", required=True, type=Path, help="checkpoints; rerun to resume")
    parser.add_argument("--config", default="paper", help="a CONFIGS name or a config JSON file")
    parser.add_argument("--epochs-per-stage", type=float, default=50.0)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--accumulate", type=int, default=TrainConfig.accumulate)
    parser.add_argument("--warmup", type=int, default=TrainConfig.warmup)
    parser.add_argument("--eval-every", type=int, default=TrainConfig.eval_every)
    parser.add_argument(
        "--corrupt",
        action="store_true",
        help="the paper's training corruption: occluders (face videos only), noise, blur, babble",
    )
    parser.add_argument("--occluders", type=Path, help="occluder folder (--corrupt)")
    parser.add_argument("--noise-file", type=Path, help="noise recording for --corrupt")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        stages, val = _stages(args)
        model = AVRelScore(_model_config(args.config))
    except UserError as err:
        parser.exit(2, f"error: {err}\n")
    per_update = args.batch_size * args.accumulate
    plan = [(d, max(1, math.ceil(args.epochs_per_stage * len(d) / per_update))) for d in stages]
    config = TrainConfig(
        batch_size=args.batch_size,
        accumulate=args.accumulate,
        warmup=args.warmup,
        eval_every=args.eval_every,
    )
    logs = train_curriculum(model, plan, args.out, config=config, val_set=val, device=args.device)
    print(json.dumps({"out": str(args.out), "updates": sum(n for _, n in plan), **logs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
