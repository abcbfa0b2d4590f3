"""Export gates for demo checkpoints: figures on held-out SynthGrid windows that a model must beat.

A generator must draw a mouth closer to the target than copying the reference frame's mouth does,
and its mouth must change when the audio does; the SyncNet critic must rank in-sync windows above
the same windows with the video shifted by six frames (ROC AUC, by
`modelzoo.metrics.reliability.auroc`). Windows are drawn from a fixed seed, so two checkpoints are
judged on the same ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from modelzoo.alm.data import SYNC_FRAMES, TalkingFaceDataset, to_unit
from modelzoo.media.mel import sync_mel
from modelzoo.metrics.reliability import auroc
from modelzoo.syncnet import SyncNet

SYNCNET_MIN_AUC = 0.9
SYNC_SHIFT = 6  # frames between an in-sync window and its negative
# Mean absolute change of the mouth half (pixels in [0, 1]) when a window's audio is swapped for
# another window's: the untrained demo generators moved it by about 1e-4 (0.03 of a grey level).
MIN_AUDIO_EFFECT = 0.01


@dataclass(frozen=True)
class SyncNetGate:
    auc: float
    windows: int
    shift: int = SYNC_SHIFT

    @property
    def passed(self) -> bool:
        return self.auc >= SYNCNET_MIN_AUC

    def figures(self) -> dict:
        return {**asdict(self), "min_auc": SYNCNET_MIN_AUC, "passed": self.passed}


@torch.no_grad()
def syncnet_gate(syncnet: SyncNet, clips: Sequence, windows: int = 1024, seed: int = 0):
    """AUC of the critic's similarity for (mel at t, frames t..t+4) against frames t+6..t+10."""
    rng = np.random.default_rng(seed)
    syncnet.eval()
    positive, negative = [], []
    while len(positive) < windows:
        clip = clips[rng.integers(len(clips))]
        if clip.num_frames < SYNC_FRAMES + SYNC_SHIFT + 1:
            continue
        t = int(rng.integers(0, clip.num_frames - SYNC_FRAMES - SYNC_SHIFT))
        mel = sync_mel(clip.mel, t)
        if mel is None:
            continue
        mels = torch.from_numpy(np.stack([mel, mel]))[:, None]  # (2, 1, 80, 16)
        frames = torch.stack(
            [to_unit(clip.read(range(s, s + SYNC_FRAMES))) for s in (t, t + SYNC_SHIFT)]
        )  # (2, 3, 5, H, W)
        scores = syncnet.similarity(mels, frames)
        positive.append(float(scores[0]))
        negative.append(float(scores[1]))
    scores = positive + negative  # in-sync windows are the positives
    return SyncNetGate(auroc(scores, [True] * windows + [False] * windows), windows)


@dataclass(frozen=True)
class GeneratorGate:
    mouth_l1: float  # generated lower half against the target's
    copy_l1: float  # the reference frame's lower half against the target's
    audio_effect: float  # change of the generated lower half when the audio is swapped
    windows: int

    @property
    def passed(self) -> bool:
        return self.mouth_l1 < self.copy_l1 and self.audio_effect >= MIN_AUDIO_EFFECT

    def figures(self) -> dict:
        return {**asdict(self), "min_audio_effect": MIN_AUDIO_EFFECT, "passed": bool(self.passed)}


def lower_half(frames: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) in [-1, 1] -> the mouth half in [0, 1]."""
    return (frames[..., frames.size(-2) // 2 :, :] + 1) / 2


@torch.no_grad()
def generator_gate(
    generate: Callable[[dict], torch.Tensor],
    val_set: TalkingFaceDataset,
    audio_keys: Sequence[str],
    batches: int = 8,
    batch_size: int = 8,
) -> GeneratorGate:
    """`generate(batch) -> (B, 3, 5, H, W)` judged on `batches` validation batches; the audio
    swap rolls the tensors named in `audio_keys` by one window within each batch."""
    loader = torch.utils.data.DataLoader(
        val_set, batch_size=batch_size, sampler=range(batches * batch_size)
    )
    sums = np.zeros(3)
    for batch in loader:
        target, reference = lower_half(batch["target"]), lower_half(batch["faces"][:, 3:])
        generated = lower_half(generate(batch))
        swapped = {**batch, **{k: batch[k].roll(1, dims=0) for k in audio_keys}}
        sums += [
            float((generated - target).abs().mean()),
            float((reference - target).abs().mean()),
            float((lower_half(generate(swapped)) - generated).abs().mean()),
        ]
    mouth_l1, copy_l1, audio_effect = (float(v) for v in sums / batches)
    return GeneratorGate(mouth_l1, copy_l1, audio_effect, batches * batch_size)
