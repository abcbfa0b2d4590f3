"""The resumable train / validate / checkpoint loop shared by the SyncNet critic and generators.

A task (`SyncNetTask`, `ALMTask`, the CALS tasks) holds its modules and optimisers and says how to
take one step and how to score a validation batch; `fit` does the rest. Sample i of the training set
is drawn for global step i // batch_size, so a run resumed from `last.pt` sees the same batches as
one that never stopped. The best validation score exports the task's Hub folder to `out/best/`.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader


@dataclass(frozen=True)
class LoopConfig:
    steps: int = 100_000
    batch_size: int = 40  # SyncTalkFace's generator batch; the critic used 256
    val_every: int = 1000  # steps between validations (and `last.pt` checkpoints)
    val_batches: int = 8
    num_workers: int = 0
    log_every: int = 50
    device: str = "cpu"  # where the task's modules (critic included) and batches go


def _loader(dataset, batch_size: int, start: int, stop: int, num_workers: int) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=range(start * batch_size, stop * batch_size),
        num_workers=num_workers,
        drop_last=True,
        # Its own generator: a loader drawing its base seed from the global one would shift
        # dropout and masking after a resume.
        generator=torch.Generator().manual_seed(0),
    )


def to_device(task, device: str) -> None:
    """Move every module the task holds (its trained modules and any frozen critic)."""
    for value in vars(task).values():
        if isinstance(value, torch.nn.Module):
            value.to(device)


def batch_to(batch: dict, device: str) -> dict:
    return {
        k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()
    }


def validate(task, dataset, loop: LoopConfig) -> dict[str, float]:
    """Mean of the task's per-batch validation figures over the validation set."""
    totals: dict[str, float] = {}
    batches = 0
    for module in task.modules.values():
        module.eval()
    with torch.no_grad():
        for batch in _loader(dataset, loop.batch_size, 0, loop.val_batches, loop.num_workers):
            for name, value in task.validate(batch_to(batch, loop.device)).items():
                totals[name] = totals.get(name, 0.0) + float(value)
            batches += 1
    return {name: total / max(batches, 1) for name, total in totals.items()}


def save_checkpoint(path: Path, task, step: int, best: float) -> None:
    state = {
        "step": step,
        "best": best,
        "modules": {name: m.state_dict() for name, m in task.modules.items()},
        "optimizers": {name: o.state_dict() for name, o in task.optimizers.items()},
        "rng": torch.get_rng_state(),  # dropout and masking continue as if never stopped
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # a crash mid-write leaves the previous checkpoint intact


def load_checkpoint(path: Path, task) -> tuple[int, float]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    for name, module in task.modules.items():
        module.load_state_dict(state["modules"][name], strict=True)
    for name, optimizer in task.optimizers.items():
        optimizer.load_state_dict(state["optimizers"][name])
    torch.set_rng_state(state["rng"])
    return state["step"], state["best"]


def fit(
    task, train_set, val_set, out_dir: Path, loop: LoopConfig, log: Callable = print
) -> list[dict]:
    """Train `task` to `loop.steps`, resuming from `out_dir/last.pt` if it exists."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last = out_dir / "last.pt"
    to_device(task, loop.device)  # before loading, so optimiser state lands beside its weights
    step, best = load_checkpoint(last, task) if last.exists() else (0, math.inf)
    history = []
    loader = _loader(train_set, loop.batch_size, step, loop.steps, loop.num_workers)
    for batch in loader:
        for module in task.modules.values():
            module.train()
        figures = {"step": step + 1, **task.train_step(batch_to(batch, loop.device))}
        step += 1
        history.append(figures)
        if step % loop.log_every == 0:
            log({k: round(v, 5) if isinstance(v, float) else v for k, v in figures.items()})
        if step % loop.val_every == 0 or step == loop.steps:
            scores = validate(task, val_set, loop)
            log({"step": step, **{f"val_{k}": v for k, v in scores.items()}})
            if scores[task.score_key] < best:
                best = scores[task.score_key]
                task.export(out_dir / "best")
            save_checkpoint(last, task, step, best)
    return history
