"""Train the SyncNet critic on in-sync vs offset windows (Wav2Lip `color_syncnet_train.py` recipe).

Half the samples pair a mel window with its own five frames (label 1), half with five frames from
elsewhere in the clip (label 0); the loss is the cosine BCE. Adam, lr 1e-4; batch 64 in Wav2Lip,
256 for the SyncTalkFace 128-px expert. Batches of "syncnet_offsets" windows (one window of
frames with the mels of every offset) train with `offset_contrast` instead.

    python -m modelzoo.syncnet.train --data ROOT --out RUN_DIR [--config paper|wav2lip|demo]
"""

import argparse
from pathlib import Path

import torch

from modelzoo.alm.data import TalkingFaceDataset, folder_clips
from modelzoo.alm.loop import LoopConfig, fit
from modelzoo.syncnet.model import CONFIGS, SyncNet, SyncNetConfig, cosine_bce, offset_contrast


class SyncNetTask:
    score_key = "loss"

    def __init__(self, config: SyncNetConfig, lr: float = 1e-4):
        self.syncnet = SyncNet(config)
        self.modules = {"syncnet": self.syncnet}
        self.optimizers = {"syncnet": torch.optim.Adam(self.syncnet.parameters(), lr=lr)}

    def loss(self, batch) -> torch.Tensor:
        faces = SyncNet.stack_lower_half(batch["frames"])
        if "mels" in batch:  # "syncnet_offsets" windows: every offset at once
            return offset_contrast(self.syncnet, batch["mels"], faces, batch["valid"])
        a, v = self.syncnet(batch["mel"], faces)
        return cosine_bce(a, v, batch["label"])

    def train_step(self, batch) -> dict[str, float]:
        optimizer = self.optimizers["syncnet"]
        optimizer.zero_grad()
        loss = self.loss(batch)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item()}

    def validate(self, batch) -> dict[str, float]:
        return {"loss": float(self.loss(batch))}

    def export(self, folder: Path) -> None:
        self.syncnet.save_pretrained(folder)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Train the SyncNet lip-sync critic.")
    parser.add_argument("--data", type=Path, required=True, help="Wav2Lip-layout dataset root")
    parser.add_argument("--out", type=Path, required=True, help="run folder (resumed if present)")
    parser.add_argument("--config", default="paper", choices=sorted(CONFIGS))
    parser.add_argument("--steps", type=int, default=LoopConfig.steps)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--val-every", type=int, default=10_000)
    parser.add_argument("--num-workers", type=int, default=4)
    args = parser.parse_args(argv)
    config = CONFIGS[args.config]
    loop = LoopConfig(args.steps, args.batch_size, args.val_every, num_workers=args.num_workers)
    clips = {split: folder_clips(args.data, split, config.img_size) for split in ("train", "val")}
    train = TalkingFaceDataset(clips["train"], "syncnet", loop.steps * loop.batch_size)
    val = TalkingFaceDataset(clips["val"], "syncnet", loop.val_batches * loop.batch_size, seed=1)
    fit(SyncNetTask(config), train, val, args.out, loop)


if __name__ == "__main__":
    main()
