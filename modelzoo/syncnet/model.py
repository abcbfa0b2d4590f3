"""SyncNet_color lip-sync expert (Wav2Lip, arXiv 2008.10010) and its 128-px SyncTalkFace variant.

Reference code: Rudrabha/Wav2Lip `models/syncnet.py` (96 px) and
jinny960812/SyncTalkFace@9d5d08d `models/syncnet.py` (128 px: one more stride-2 stage of 512
channels with two residual blocks and a final 4x4 convolution). Module names follow theirs so that
their `{'state_dict'}` files load strictly (see `modelzoo.alm.convert.convert_syncnet`). Both are
research-only code; this file is an independent reimplementation.

Inputs follow Wav2Lip: `faces` are the lower halves of T frames stacked on channels,
(B, 3*T, H/2, W), pixels in [0, 1] in the channel order of the weights (the authors' are BGR);
`mels` are (B, 1, 80, 16). The critic is used frozen by both generators and by the lip-sync metrics.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn


@dataclass(frozen=True)
class SyncNetConfig:
    img_size: int = 128  # 128: SyncTalkFace expert (extra stride-2 stage); 96: Wav2Lip's
    num_frames: int = 5  # video frames per window (0.2 s at 25 fps, 16 mel steps)
    width: int = 512  # embedding size; every conv width scales with it (512 = the papers')


def scaled(channels: int, width: int) -> int:
    """A reference layer width rescaled for a model whose embedding is `width` instead of 512."""
    return max(1, channels * width // 512)


class ConvBlock(nn.Module):
    """Wav2Lip's `Conv2d`: conv + batch norm + ReLU, the residual added before the ReLU."""

    def __init__(self, cin, cout, kernel_size, stride=1, padding=0, residual=False):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout)
        )
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x):
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


def residual_blocks(channels: int, count: int) -> list[nn.Module]:
    return [ConvBlock(channels, channels, 3, 1, 1, residual=True) for _ in range(count)]


def audio_encoder(width: int, last_stage_residuals: int) -> nn.Sequential:
    """Wav2Lip's mel encoder, (B, 1, 80, 16) -> (B, width, 1, 1).

    The SyncNet has two residual blocks after the 256-channel stage, the generators one.
    """
    c32, c64, c128, c256 = (scaled(c, width) for c in (32, 64, 128, 256))
    return nn.Sequential(
        ConvBlock(1, c32, 3, 1, 1),  # 80x16
        *residual_blocks(c32, 2),
        ConvBlock(c32, c64, 3, (3, 1), 1),  # 27x16
        *residual_blocks(c64, 2),
        ConvBlock(c64, c128, 3, 3, 1),  # 9x6
        *residual_blocks(c128, 2),
        ConvBlock(c128, c256, 3, (3, 2), 1),  # 3x3
        *residual_blocks(c256, last_stage_residuals),
        ConvBlock(c256, width, 3, 1, 0),  # 1x1
        ConvBlock(width, width, 1, 1, 0),
    )


def lip_face_encoder(config: SyncNetConfig) -> nn.Sequential:
    """The visual tower, (B, 3*T, H/2, W) -> (B, width, 1, 1)."""
    w = config.width
    c32, c64, c128, c256 = (scaled(c, w) for c in (32, 64, 128, 256))
    layers = [
        ConvBlock(3 * config.num_frames, c32, 7, 1, 3),  # 128 px: 64x128; 96 px: 48x96
        ConvBlock(c32, c64, 5, (1, 2), 1),  # 62x63 | 46x47
        *residual_blocks(c64, 2),
        ConvBlock(c64, c128, 3, 2, 1),  # 31x32 | 23x24
        *residual_blocks(c128, 3),
        ConvBlock(c128, c256, 3, 2, 1),  # 16x16 | 12x12
        *residual_blocks(c256, 2),
        ConvBlock(c256, w, 3, 2, 1),  # 8x8 | 6x6
        *residual_blocks(w, 2),
        ConvBlock(w, w, 3, 2, 1),  # 4x4 | 3x3
    ]
    if config.img_size == 128:
        layers += [*residual_blocks(w, 2), ConvBlock(w, w, 4, 1, 0)]  # the extra stage, 1x1
    elif config.img_size == 96:
        layers += [ConvBlock(w, w, 3, 1, 0)]  # 1x1
    else:
        raise ValueError(f"SyncNet img_size must be 96 or 128, not {config.img_size}")
    return nn.Sequential(*layers, ConvBlock(w, w, 1, 1, 0))


class SyncNet(nn.Module, PyTorchModelHubMixin, library_name="synclab"):
    """Audio and lower-face embeddings whose cosine similarity says whether they are in sync."""

    def __init__(self, config: SyncNetConfig):
        super().__init__()
        self.config = config
        self.face_encoder = lip_face_encoder(config)
        self.audio_encoder = audio_encoder(config.width, last_stage_residuals=2)

    def forward(self, mels: torch.Tensor, faces: torch.Tensor):
        return self.embed_audio(mels), self.embed_faces(faces)

    def embed_audio(self, mels: torch.Tensor) -> torch.Tensor:
        """(B, 1, 80, 16) -> unit (B, width)."""
        return F.normalize(self.audio_encoder(mels).flatten(1), dim=1)

    def embed_faces(self, faces: torch.Tensor) -> torch.Tensor:
        """(B, 3*T, H/2, W) -> unit (B, width)."""
        return F.normalize(self.face_encoder(faces).flatten(1), dim=1)

    @staticmethod
    def stack_lower_half(frames: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) frames -> (B, 3*T, H/2, W), the layout `faces` takes."""
        lower = frames[:, :, :, frames.size(3) // 2 :]  # (B, 3, T, H/2, W)
        return lower.transpose(1, 2).flatten(1, 2)  # frame-major, as Wav2Lip concatenates them

    def similarity(self, mels: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Cosine in [0, 1] (ReLU embeddings) of mel windows and (B, 3, T, H, W) frames."""
        a, v = self(mels, self.stack_lower_half(frames))
        return (a * v).sum(1)  # (B,)


def cosine_bce(audio: torch.Tensor, face: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Wav2Lip's `cosine_loss`: BCE of the embeddings' cosine against 1 (in sync) or 0 (offset)."""
    # The ReLU embeddings keep the cosine in [0, 1]; rounding can leave it a hair above 1.
    similarity = F.cosine_similarity(audio, face).clamp(0.0, 1.0)
    return F.binary_cross_entropy(similarity, target.float().view(-1))


def offset_contrast(
    syncnet: SyncNet,
    mels: torch.Tensor,
    faces: torch.Tensor,
    valid: torch.Tensor,
    temperature: float = 0.1,
) -> torch.Tensor:
    """Multi-way matching (Chung et al., "Perfect Match", arXiv 1809.08001) with Wav2Lip's BCE.

    mels (B, K, 1, 80, 16) are K candidate mel windows for `faces` (B, 3*T, H/2, W), the in-sync
    one first and the others at offsets; `valid` (B, K) marks the candidates that exist. The
    cross-entropy asks the critic to pick the in-sync window among all K, which a pair-wise draw
    teaches one offset a sample at a time; the BCE terms keep the cosine itself a calibrated
    score (in sync near 1, offset near 0), since the gate and the generators' sync loss read it.
    """
    b, k = mels.shape[:2]
    audio = syncnet.embed_audio(mels.flatten(0, 1)).view(b, k, -1)
    face = syncnet.embed_faces(faces)
    # ReLU embeddings keep the cosine in [0, 1]; rounding can leave it a hair above 1.
    similarity = (audio * face[:, None]).sum(-1).clamp(0.0, 1.0)  # (B, K)
    logits = (similarity / temperature).masked_fill(~valid, -torch.inf)
    in_sync = torch.zeros(b, dtype=torch.long, device=mels.device)
    negatives = valid.clone()
    negatives[:, 0] = False
    positive_bce = F.binary_cross_entropy(similarity[:, 0], torch.ones_like(similarity[:, 0]))
    offset = similarity[negatives]
    negative_bce = F.binary_cross_entropy(offset, torch.zeros_like(offset))
    return F.cross_entropy(logits, in_sync) + positive_bce + negative_bce


def sync_loss(syncnet: SyncNet, mels: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Generators' audio-visual sync loss: frames (B, 3, T, H, W) in [0, 1] judged in sync."""
    a, v = syncnet(mels, SyncNet.stack_lower_half(frames))
    return cosine_bce(a, v, torch.ones(a.size(0), device=a.device))


CONFIGS = {
    "paper": SyncNetConfig(),
    "wav2lip": SyncNetConfig(img_size=96),
    "demo": SyncNetConfig(width=128),
}
