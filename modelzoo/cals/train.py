"""Train CALS in two stages (arXiv 2305.19556; the recipe is inferred, see papers.md Sec. 3.3).

Stage 1 (`a2l`): pretrain the Audio-to-Lip transformer and the audio encoder by masked learning
against lip-motion units from a frozen lip encoder (taken from a trained Audio-Lip Memory model with
`--lip-encoder`, as both come from the same authors' pipeline). Stage 2 (`l2f`): train the
Lip-to-Face generator with 10 L1 + 0.2 d_av + 0.2 d_vv + 0.2 GAN against a frozen SyncNet.

    python -m modelzoo.cals.train a2l --data ROOT --out RUN1 [--lip-encoder ALM_DIR]
    python -m modelzoo.cals.train l2f --data ROOT --out RUN2 --init RUN1/best --syncnet SYNC_DIR
"""

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from modelzoo.alm.data import TalkingFaceDataset, folder_clips
from modelzoo.alm.loop import LoopConfig, fit
from modelzoo.alm.model import AudioLipMemoryModel, QualityDiscriminator
from modelzoo.alm.train import real_or_fake, to_unit
from modelzoo.cals.model import CONFIGS, CALSModel, discriminative_vv_loss
from modelzoo.syncnet import SyncNet, sync_loss


@dataclass(frozen=True)
class CALSLossWeights:
    l1: float = 10.0
    av_sync: float = 0.2  # d_av
    vv_sync: float = 0.2  # d_vv
    gan: float = 0.2
    lr: float = 1e-4
    disc_lr: float = 5e-4
    finetune_a2l: bool = False  # stage 2 keeps the pretrained A2L frozen unless set
    clip: float | None = None  # generator gradient-norm clip (none in the recipe)


class A2LTask:
    """Stage 1: masked learning of lip-motion units from audio context."""

    score_key = "loss"

    def __init__(self, model: CALSModel, lr: float = 1e-4):
        self.model = model
        self.model.lip_encoder.requires_grad_(False)  # the targets' encoder stays as given
        trained = [*model.a2l.parameters(), *model.audio_encoder.parameters()]
        self.modules = {"model": model}
        self.optimizers = {"a2l": torch.optim.Adam(trained, lr=lr)}

    def loss(self, batch, generator=None) -> torch.Tensor:
        self.model.lip_encoder.eval()  # frozen targets: fixed batch-norm statistics
        loss, _ = self.model.a2l_pretraining_loss(
            batch["mels"], batch["valid"], batch["frames"], batch["target_valid"], generator
        )
        return loss

    def train_step(self, batch) -> dict[str, float]:
        optimizer = self.optimizers["a2l"]
        optimizer.zero_grad()
        loss = self.loss(batch)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item()}

    def validate(self, batch) -> dict[str, float]:
        masks = torch.Generator().manual_seed(0)  # the same masked positions at every validation
        return {"loss": float(self.loss(batch, masks))}

    def export(self, folder: Path) -> None:
        self.model.save_pretrained(folder)


def vv_embeddings(model, syncnet, frames, batch) -> tuple:
    """(generated, GT, negatives) lip embeddings for d_vv; negatives are the reference frames,
    the same face elsewhere in the clip."""
    reference = batch["faces"][:, 3:]  # (B, 3, 5, H, W)
    if model.config.vv_encoder == "lip_encoder":
        with torch.no_grad():
            gt = model.lip_sync_embedding(batch["target"])
            negatives = model.lip_sync_embedding(reference)
        return model.lip_sync_embedding(frames), gt, negatives
    if model.config.vv_encoder != "syncnet":
        raise ValueError(f"unknown vv_encoder {model.config.vv_encoder!r}")

    def embed(x):
        return F.normalize(syncnet.face_encoder(SyncNet.stack_lower_half(to_unit(x))).flatten(1))

    with torch.no_grad():
        gt, negatives = embed(batch["target"]), embed(reference)
    return embed(frames), gt, negatives


class L2FTask:
    """Stage 2: the Lip-to-Face generator with the discriminative sync critic."""

    score_key = "l1"

    def __init__(self, model: CALSModel, syncnet: SyncNet, weights: CALSLossWeights):
        self.model, self.disc = model, QualityDiscriminator(model.config)
        self.syncnet = syncnet.eval().requires_grad_(False)
        self.weights = weights
        model.a2l.requires_grad_(weights.finetune_a2l)
        self.modules = {"model": model, "disc": self.disc}
        betas = (0.5, 0.999)
        self.trained = [p for p in model.parameters() if p.requires_grad]
        self.optimizers = {
            "model": torch.optim.Adam(self.trained, lr=weights.lr, betas=betas),
            "disc": torch.optim.Adam(self.disc.parameters(), lr=weights.disc_lr, betas=betas),
        }

    def generate(self, batch) -> torch.Tensor:
        return self.model(batch["faces"], batch["context_mels"], batch["context_valid"])

    def generator_loss(self, batch, frames) -> tuple[torch.Tensor, dict[str, float]]:
        """The terms with a non-zero weight (a reconstruction stage computes L1 alone)."""
        config = self.model.config

        def vv_sync():
            generated, gt, negatives = vv_embeddings(self.model, self.syncnet, frames, batch)
            return discriminative_vv_loss(
                generated, gt, negatives, config.vv_temperature, config.vv_form
            )

        terms = {
            "l1": lambda: F.l1_loss(to_unit(frames), to_unit(batch["target"])),
            "av_sync": lambda: sync_loss(self.syncnet, batch["sync_mel"], to_unit(frames)),
            "vv_sync": vv_sync,
            "gan": lambda: real_or_fake(self.disc, frames, real=True),
        }
        terms = {name: term() for name, term in terms.items() if getattr(self.weights, name)}
        total = sum(getattr(self.weights, name) * term for name, term in terms.items())
        return total, {name: term.item() for name, term in terms.items()}

    def train_step(self, batch) -> dict[str, float]:
        self.syncnet.eval()
        opt_g, opt_d = self.optimizers["model"], self.optimizers["disc"]
        opt_g.zero_grad()
        frames = self.generate(batch)
        loss, figures = self.generator_loss(batch, frames)
        loss.backward()
        if self.weights.clip:
            torch.nn.utils.clip_grad_norm_(self.trained, self.weights.clip)
        opt_g.step()
        if not self.weights.gan:
            return {"loss": loss.item(), **figures}
        opt_d.zero_grad()
        disc_loss = real_or_fake(self.disc, batch["target"], True) + real_or_fake(
            self.disc, frames.detach(), False
        )
        disc_loss.backward()
        opt_d.step()
        return {"loss": loss.item(), "disc": disc_loss.item(), **figures}

    def validate(self, batch) -> dict[str, float]:
        frames = to_unit(self.generate(batch))
        return {
            "l1": float(F.l1_loss(frames, to_unit(batch["target"]))),
            "sync": float(sync_loss(self.syncnet, batch["sync_mel"], frames)),
        }

    def export(self, folder: Path) -> None:
        self.model.save_pretrained(folder)


def lip_encoder_from_alm(model: CALSModel, alm_folder: Path) -> None:
    """Copy a trained Audio-Lip Memory model's lip encoder (the source of lip-motion units)."""
    alm = AudioLipMemoryModel.from_pretrained(alm_folder, strict=True)
    model.lip_encoder.load_state_dict(alm.lip_encoder.state_dict(), strict=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Train CALS (stage a2l, then l2f).")
    parser.add_argument("stage", choices=["a2l", "l2f"])
    parser.add_argument("--data", type=Path, required=True, help="Wav2Lip-layout dataset root")
    parser.add_argument("--out", type=Path, required=True, help="run folder (resumed if present)")
    parser.add_argument("--config", default="paper", choices=sorted(CONFIGS))
    parser.add_argument("--lip-encoder", type=Path, help="a2l: trained Audio-Lip Memory folder")
    parser.add_argument("--init", type=Path, help="l2f: the stage-1 CALS folder")
    parser.add_argument("--syncnet", type=Path, help="l2f: trained SyncNet folder")
    parser.add_argument("--steps", type=int, default=LoopConfig.steps)
    parser.add_argument("--batch-size", type=int, default=LoopConfig.batch_size)
    parser.add_argument("--val-every", type=int, default=LoopConfig.val_every)
    parser.add_argument("--num-workers", type=int, default=4)
    args = parser.parse_args(argv)
    loop = LoopConfig(args.steps, args.batch_size, args.val_every, num_workers=args.num_workers)
    if args.stage == "a2l":
        model = CALSModel(CONFIGS[args.config])
        if args.lip_encoder:
            lip_encoder_from_alm(model, args.lip_encoder)
        task = A2LTask(model)
    else:
        if not (args.init and args.syncnet):
            parser.error("stage l2f needs --init and --syncnet")
        model = CALSModel.from_pretrained(args.init, strict=True)
        task = L2FTask(model, SyncNet.from_pretrained(args.syncnet, strict=True), CALSLossWeights())
    context, n = task.model.config.context, loop.steps * loop.batch_size
    fit(task, *datasets(args.data, args.stage, context, n, loop), args.out, loop)


def datasets(root: Path, stage: str, context: int, train_items: int, loop: LoopConfig):
    val_items = loop.val_batches * loop.batch_size
    return (
        TalkingFaceDataset(folder_clips(root, "train"), stage, train_items, context),
        TalkingFaceDataset(folder_clips(root, "val"), stage, val_items, context, seed=1),
    )


if __name__ == "__main__":
    main()
