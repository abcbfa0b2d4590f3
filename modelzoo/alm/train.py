"""Train Audio-Lip Memory (SyncTalkFace) as jinny960812/SyncTalkFace@9d5d08d `train.py` does.

L_G = 10 L1 + 0.2 (AV sync + VV sync + GAN + memory), each term on both the key-path and the
value-path output; L_D = BCE(D(y), 1) + BCE(D(g_key), 0) + BCE(D(g_value), 0). Adam(0.5, 0.999),
lr 1e-4 for the generator, 5e-4 for the discriminator. The SyncNet expert is frozen.

A term whose weight is 0 is not computed: with `memory` and `vv_sync` at 0 the value path (and the
lip encoder on 5-frame windows, the costliest part on a CPU) is skipped, and with `gan` at 0 the
discriminator is not stepped. `train_demo`'s reconstruction stage trains that way first.

    python -m modelzoo.alm.train --data ROOT --syncnet SYNCNET_DIR --out RUN_DIR [--config demo]
"""

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from modelzoo.alm.data import TalkingFaceDataset, folder_clips
from modelzoo.alm.loop import LoopConfig, fit
from modelzoo.alm.model import CONFIGS, ALMConfig, AudioLipMemoryModel, QualityDiscriminator
from modelzoo.syncnet import SyncNet, sync_loss


@dataclass(frozen=True)
class ALMLossWeights:
    l1: float = 10.0
    av_sync: float = 0.2
    vv_sync: float = 0.2
    gan: float = 0.2
    memory: float = 0.2  # on L_align + L_store
    lr: float = 1e-4
    disc_lr: float = 5e-4
    clip: float | None = None  # generator gradient-norm clip (the paper has none; the demo's
    # higher learning rate spikes without one)


def to_unit(frames: torch.Tensor) -> torch.Tensor:
    return (frames + 1) / 2


def real_or_fake(disc, frames: torch.Tensor, real: bool) -> torch.Tensor:
    pred = disc(frames)  # (B*T, 1) probabilities
    return F.binary_cross_entropy(pred, torch.full_like(pred, float(real)))


def path_losses(model, disc, syncnet, batch, frames, lip_target, weights: ALMLossWeights):
    """The per-path terms with a non-zero weight for one output (B, 3, 5, H, W) in [-1, 1]."""
    terms = {
        "l1": lambda: F.l1_loss(to_unit(frames), to_unit(batch["target"])),
        "av_sync": lambda: sync_loss(syncnet, batch["sync_mel"], to_unit(frames)),
        "vv_sync": lambda: F.l1_loss(model.lip_sync_embedding(frames), lip_target),
        "gan": lambda: real_or_fake(disc, frames, real=True),
    }
    return {name: term() for name, term in terms.items() if getattr(weights, name)}


def uses_value_path(weights: ALMLossWeights) -> bool:
    return bool(weights.memory or weights.vv_sync)


def generator_loss(model, disc, syncnet, batch, weights: ALMLossWeights):
    """-> (total loss, ALMOutput, per-term figures summed over both paths)."""
    if not uses_value_path(weights):
        out = model(batch["mels"], batch["faces"])
        terms = path_losses(model, disc, syncnet, batch, out.key_frames, None, weights)
        total = sum(getattr(weights, name) * term for name, term in terms.items())
        return total, out, {name: term.item() for name, term in terms.items()}
    out = model(batch["mels"], batch["faces"], batch["lips"])
    # The visual-visual target is the GT mouth window centred on the middle target frame; it is
    # not detached in the reference code, so the lip encoder also learns from this term.
    lip_target = out.lip_embedding[:, out.lip_embedding.size(1) // 2]
    key = path_losses(model, disc, syncnet, batch, out.key_frames, lip_target, weights)
    value = path_losses(model, disc, syncnet, batch, out.value_frames, lip_target, weights)
    terms = {name: key[name] + value[name] for name in key}
    terms["memory"] = out.align_loss + out.store_loss
    total = sum(getattr(weights, name) * term for name, term in terms.items())
    figures = {name: term.item() for name, term in terms.items()}
    figures.update(align=out.align_loss.item(), store=out.store_loss.item())
    return total, out, figures


def discriminator_loss(disc, target, out) -> torch.Tensor:
    loss = real_or_fake(disc, target, real=True)
    for frames in (out.key_frames, out.value_frames):
        if frames is not None:
            loss = loss + real_or_fake(disc, frames.detach(), real=False)
    return loss


class ALMTask:
    score_key = "l1"

    def __init__(self, config: ALMConfig, syncnet: SyncNet, weights: ALMLossWeights):
        self.model, self.disc = AudioLipMemoryModel(config), QualityDiscriminator(config)
        self.syncnet = syncnet.eval().requires_grad_(False)
        self.weights = weights
        self.modules = {"model": self.model, "disc": self.disc}
        betas = (0.5, 0.999)
        self.optimizers = {
            "model": torch.optim.Adam(self.model.parameters(), lr=weights.lr, betas=betas),
            "disc": torch.optim.Adam(self.disc.parameters(), lr=weights.disc_lr, betas=betas),
        }

    def train_step(self, batch) -> dict[str, float]:
        self.syncnet.eval()  # the frozen expert keeps its running statistics
        opt_g, opt_d = self.optimizers["model"], self.optimizers["disc"]
        opt_g.zero_grad()
        loss, out, figures = generator_loss(
            self.model, self.disc, self.syncnet, batch, self.weights
        )
        loss.backward()
        if self.weights.clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.weights.clip)
        opt_g.step()
        if not self.weights.gan:
            return {"loss": loss.item(), **figures}
        opt_d.zero_grad()
        disc_loss = discriminator_loss(self.disc, batch["target"], out)
        disc_loss.backward()
        opt_d.step()
        return {"loss": loss.item(), "disc": disc_loss.item(), **figures}

    def validate(self, batch) -> dict[str, float]:
        out = self.model(batch["mels"], batch["faces"])  # the key path: what inference runs
        frames = to_unit(out.key_frames)
        return {
            "l1": float(F.l1_loss(frames, to_unit(batch["target"]))),
            "sync": float(sync_loss(self.syncnet, batch["sync_mel"], frames)),
        }

    def export(self, folder: Path) -> None:
        self.model.save_pretrained(folder)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Train Audio-Lip Memory (SyncTalkFace).")
    parser.add_argument("--data", type=Path, required=True, help="Wav2Lip-layout dataset root")
    parser.add_argument("--syncnet", type=Path, required=True, help="trained SyncNet Hub folder")
    parser.add_argument("--out", type=Path, required=True, help="run folder (resumed if present)")
    parser.add_argument("--config", default="paper", choices=sorted(CONFIGS))
    parser.add_argument("--steps", type=int, default=LoopConfig.steps)
    parser.add_argument("--batch-size", type=int, default=LoopConfig.batch_size)
    parser.add_argument("--val-every", type=int, default=LoopConfig.val_every)
    parser.add_argument("--num-workers", type=int, default=4)
    args = parser.parse_args(argv)
    loop = LoopConfig(args.steps, args.batch_size, args.val_every, num_workers=args.num_workers)
    syncnet = SyncNet.from_pretrained(args.syncnet, strict=True)
    task = ALMTask(CONFIGS[args.config], syncnet, ALMLossWeights())
    train = TalkingFaceDataset(
        folder_clips(args.data, "train"), "generator", loop.steps * loop.batch_size
    )
    val = TalkingFaceDataset(
        folder_clips(args.data, "val"), "generator", loop.val_batches * loop.batch_size, seed=1
    )
    fit(task, train, val, args.out, loop)


if __name__ == "__main__":
    main()
