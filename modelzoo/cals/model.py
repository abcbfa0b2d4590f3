"""CALS: Context-Aware Lip-Sync (Park et al., ICASSP 2024, arXiv 2305.19556), reimplemented from
the paper's abstract and the same authors' SyncTalkFace code (no CALS code or weights exist).

Audio-to-Lip (A2L): a transformer over the 2W+1 per-frame audio tokens around each video frame,
pretrained by masked learning to predict the frame's lip-motion unit (the lip encoder's embedding of
its GT mouth window). Lip-to-Face (L2F): the SyncTalkFace generator with the memory replaced by the
A2L unit, fused with the frame's own audio embedding. Every choice the paper does not pin down (W,
A2L size, masking ratio, unit loss, d_vv form) is a field of `CALSConfig`. Tensors follow Wav2Lip:
faces (B, 6, T, 128, 128) in [-1, 1]; per-frame mels (1, 80, 16) starting one frame early.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from modelzoo.alm.model import FaceGenerator, mouth_windows


@dataclass(frozen=True)
class CALSConfig:
    img_size: int = 128  # confirmed by the paper
    width: int = 512  # audio token, lip unit and bottleneck size; conv widths scale with it
    context: int = 15  # W: +-W audio tokens per frame (paper optimum: 15 on LRW, 13 on LRS2)
    a2l_layers: int = 6  # unverified
    a2l_heads: int = 8  # unverified
    a2l_ffn: int = 2048  # unverified
    a2l_dropout: float = 0.1
    mask_ratio: float = 0.4  # share of audio tokens masked in A2L pretraining; unverified
    unit_loss: str = "l1"  # "l1", "mse" or "cosine" between predicted and target units
    masked_only: bool = True  # pretraining loss on masked positions only (else on all)
    fusion_dropout: float = 0.5  # as SyncTalkFace's fusion
    vv_form: str = "infonce"  # d_vv: "infonce" (contrast with other frames) or "l1" (SyncTalkFace)
    vv_temperature: float = 0.07
    vv_encoder: str = "syncnet"  # d_vv embeddings: "syncnet" (frozen critic) or "lip_encoder"


class AudioToLip(nn.Module):
    """Transformer encoder over 2W+1 audio tokens -> one lip-motion unit per position."""

    def __init__(self, config: CALSConfig):
        super().__init__()
        d, length = config.width, 2 * config.context + 1
        self.mask_embedding = nn.Parameter(torch.zeros(d))
        self.position = nn.Parameter(torch.randn(length, d) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d,
            config.a2l_heads,
            config.a2l_ffn,
            config.a2l_dropout,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.a2l_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, d)

    def forward(self, tokens, valid, masked=None) -> torch.Tensor:
        """tokens (B, L, D), valid (B, L) bool, masked (B, L) bool or None -> units (B, L, D)."""
        if masked is not None:
            tokens = torch.where(masked[..., None], self.mask_embedding.to(tokens.dtype), tokens)
        # A window entirely off the clip would leave attention nothing to attend to.
        attend = valid | ~valid.any(dim=1, keepdim=True)
        x = self.encoder(tokens + self.position, src_key_padding_mask=~attend)  # (B, L, D)
        return self.head(self.norm(x))


def unit_distance(predicted: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-position distance (..., D) x (..., D) -> (...)."""
    if kind == "l1":
        return (predicted - target).abs().mean(-1)
    if kind == "mse":
        return (predicted - target).pow(2).mean(-1)
    if kind == "cosine":
        return 1 - F.cosine_similarity(predicted, target, dim=-1)
    raise ValueError(f"unknown unit_loss {kind!r}")


def masked_unit_loss(predicted, target, weights, kind: str) -> torch.Tensor:
    """Mean distance over the positions with weight 1; the others contribute nothing."""
    distance = unit_distance(predicted, target, kind)  # (B, L)
    weights = weights.to(distance.dtype)
    return (distance * weights).sum() / weights.sum().clamp(min=1)


def discriminative_vv_loss(generated, target, negatives=None, temperature=0.07, form="infonce"):
    """d_vv: generated-lip embeddings (B, D) must match their own GT-lip embedding (B, D) rather
    than other frames' (the rest of the batch, plus `negatives` (M, D) when given)."""
    if form == "l1":
        return F.l1_loss(generated, target)
    if form != "infonce":
        raise ValueError(f"unknown vv_form {form!r}")
    candidates = target if negatives is None else torch.cat([target, negatives])  # (B+M, D)
    logits = F.normalize(generated, dim=1) @ F.normalize(candidates, dim=1).t() / temperature
    return F.cross_entropy(logits, torch.arange(len(generated), device=generated.device))


class CALSModel(FaceGenerator, PyTorchModelHubMixin, library_name="synclab"):
    """A2L + L2F. Weights of the shared parts keep SyncTalkFace's names."""

    def __init__(self, config: CALSConfig):
        super().__init__(config)
        self.a2l = AudioToLip(config)
        self.fusion = nn.Linear(2 * config.width, config.width)
        self.dropout = nn.Dropout(config.fusion_dropout)

    def audio_tokens(self, mels: torch.Tensor) -> torch.Tensor:
        """(B, L, 1, 80, 16) per-frame mel windows -> (B, L, D)."""
        return self.encode_audio(mels.flatten(0, 1)).unflatten(0, mels.shape[:2])

    def lip_units(self, context_mels, context_valid) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens of frames t-W .. t+T-1+W -> (units, audio) of frames t..t+T-1, (B, T, D) each."""
        w = self.config.context
        tokens = self.audio_tokens(context_mels)  # (B, T+2W, D)
        windows = tokens.unfold(1, 2 * w + 1, 1).transpose(2, 3)  # (B, T, 2W+1, D)
        valid = context_valid.unfold(1, 2 * w + 1, 1)  # (B, T, 2W+1)
        units = self.a2l(windows.flatten(0, 1), valid.flatten(0, 1))[:, w]  # (B*T, D)
        return units.unflatten(0, windows.shape[:2]), tokens[:, w : tokens.size(1) - w]

    def forward(self, faces, context_mels, context_valid) -> torch.Tensor:
        """faces (B, 6, T, H, W), context_mels (B, T+2W, 1, 80, 16), context_valid (B, T+2W)
        -> (B, 3, T, H, W) in [-1, 1]. Per frame: faces (N, 6, H, W) with (N, 2W+1, ...) context."""
        windowed = faces.dim() == 5
        units, audio = self.lip_units(context_mels, context_valid)  # (B, T, D) each
        if windowed:
            faces = faces.transpose(1, 2).flatten(0, 1)  # (B*T, 6, H, W)
        z = self.fusion(self.dropout(torch.cat([audio, units], dim=-1))).flatten(0, 1)  # (N, D)
        frames = self.decode(z, self.encode_face(faces))  # (N, 3, H, W)
        return frames.unflatten(0, (units.size(0), -1)).transpose(1, 2) if windowed else frames

    def a2l_pretraining_loss(self, mels, valid, frames, target_valid, generator=None):
        """Masked learning: mels (B, 2W+1, 1, 80, 16) with valid (B, 2W+1); frames
        (B, 3, 2W+5, H, W) give each position's target unit through the frozen lip encoder.
        Returns (loss, masked) where masked (B, 2W+1) marks the masked tokens."""
        with torch.no_grad():
            windows = mouth_windows(frames)  # (B, 2W+1, 3, 5, H, W)
            targets = self.encode_lips(windows.flatten(0, 1)).unflatten(0, windows.shape[:2])
        draw = torch.rand(valid.shape, generator=generator, device=valid.device)
        masked = (draw < self.config.mask_ratio) & valid
        units = self.a2l(self.audio_tokens(mels), valid, masked)  # (B, 2W+1, D)
        weights = (masked if self.config.masked_only else valid) & target_valid
        return masked_unit_loss(units, targets, weights, self.config.unit_loss), masked


CONFIGS = {
    "paper": CALSConfig(),
    "lrs2": CALSConfig(context=13),
    "demo": CALSConfig(width=128, context=8, a2l_layers=2, a2l_heads=4, a2l_ffn=512),
}
