"""SyncTalkFace / Audio-Lip Memory (Park et al., AAAI 2022, arXiv 2211.00924) at 128x128.

Reference code: jinny960812/SyncTalkFace@9d5d08d (`models/wav2lip.py`, `models/memory.py`; no
licence file, so nothing is copied: this is an independent reimplementation). Module names match
the authors' so that their checkpoint (`model_state_dict` + `dec_state_dict`, `disc_state_dict`)
loads strictly through `modelzoo.alm.convert`. The generator takes Wav2Lip tensors: faces
(B, 6, T, 128, 128) in [-1, 1] (masked target frames, then reference frames), mels
(B, T, 1, 80, 16), and for training lip windows (B, T, 3, 5, 128, 128) with the upper half zeroed.
Inference uses the key path only.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn
from torch.func import functional_call

from modelzoo.syncnet.model import ConvBlock, audio_encoder, residual_blocks, scaled


@dataclass(frozen=True)
class ALMConfig:
    img_size: int = 128  # the authors' face size; the encoder and decoder depths assume it
    width: int = 512  # audio/lip embedding and memory slot size; conv widths scale with it
    num_slots: int = 96  # memory slots S
    radius: float = 16.0  # kappa, the softmax temperature on cosine similarity
    fusion_dropout: float = 0.5  # dropout before the fusion layer, as in the reference code
    memory_init_std: float = 0.5  # key and value memories start as N(0, 0.5)


class ConvTransposeBlock(nn.Module):
    """Wav2Lip's `Conv2dTranspose`: transposed conv + batch norm + ReLU."""

    def __init__(self, cin, cout, kernel_size, stride, padding, output_padding=0):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding, output_padding),
            nn.BatchNorm2d(cout),
        )
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv_block(x))


class LeakyConvBlock(nn.Module):
    """Wav2Lip's `nonorm_Conv2d` for the quality discriminator: conv + LeakyReLU(0.01)."""

    def __init__(self, cin, cout, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding))
        self.act = nn.LeakyReLU(0.01)

    def forward(self, x):
        return self.act(self.conv_block(x))


class SqueezeTime(nn.Module):
    """Drops the time axis that the lip encoder's 5-frame Conv3d reduces to length 1."""

    def forward(self, x):
        return x.squeeze(2)


def lip_encoder(width: int) -> nn.Sequential:
    """(N, 3, 5, 128, 128) mouth window (upper half zeroed) -> (N, width, 1, 1)."""
    c64, c128, c256 = (scaled(c, width) for c in (64, 128, 256))
    return nn.Sequential(
        nn.Conv3d(
            3, c64, kernel_size=(5, 7, 7), stride=2, padding=(0, 3, 3)
        ),  # (N, c64, 1, 64, 64)
        SqueezeTime(),
        ConvBlock(c64, c64, 3, 2, 1),  # 32x32
        *residual_blocks(c64, 3),
        ConvBlock(c64, c128, 3, 2, 1),  # 16x16
        *residual_blocks(c128, 2),
        ConvBlock(c128, c256, 3, 2, 1),  # 8x8
        *residual_blocks(c256, 2),
        ConvBlock(c256, width, 3, 2, 1),  # 4x4
        *residual_blocks(width, 1),
        ConvBlock(width, width, 4, 1, 0),  # 1x1
        ConvBlock(width, width, 1, 1, 0),
    )


def face_encoder_blocks(width: int) -> nn.ModuleList:
    """Identity encoder (masked target + reference, 6 channels); every block's output is a skip."""
    c16, c32, c64, c128, c256 = (scaled(c, width) for c in (16, 32, 64, 128, 256))
    return nn.ModuleList(
        [
            nn.Sequential(ConvBlock(6, c16, 7, 1, 3)),  # 128
            nn.Sequential(ConvBlock(c16, c32, 3, 2, 1), *residual_blocks(c32, 2)),  # 64
            nn.Sequential(ConvBlock(c32, c64, 3, 2, 1), *residual_blocks(c64, 3)),  # 32
            nn.Sequential(ConvBlock(c64, c128, 3, 2, 1), *residual_blocks(c128, 2)),  # 16
            nn.Sequential(ConvBlock(c128, c256, 3, 2, 1), *residual_blocks(c256, 2)),  # 8
            nn.Sequential(ConvBlock(c256, width, 3, 2, 1), *residual_blocks(width, 1)),  # 4
            nn.Sequential(ConvBlock(width, width, 4, 1, 0), ConvBlock(width, width, 1, 1, 0)),  # 1
        ]
    )


def face_decoder_blocks(width: int) -> nn.ModuleList:
    """U-Net decoder; each block's input is the previous output concatenated with a skip."""
    w = width
    c64, c128, c256, c384 = (scaled(c, width) for c in (64, 128, 256, 384))
    c32 = scaled(32, width)

    def up(cin, cout, residuals):
        return nn.Sequential(
            ConvTransposeBlock(cin, cout, 3, 2, 1, output_padding=1),
            *residual_blocks(cout, residuals),
        )

    return nn.ModuleList(
        [
            nn.Sequential(ConvBlock(w, w, 1, 1, 0)),  # 1x1
            nn.Sequential(ConvTransposeBlock(2 * w, w, 4, 1, 0), *residual_blocks(w, 1)),  # 4x4
            up(2 * w, w, 2),  # 8x8
            up(w + c256, c384, 2),  # 16x16
            up(c384 + c128, c256, 2),  # 32x32
            up(c256 + c64, c128, 2),  # 64x64
            up(c128 + c32, c64, 2),  # 128x128
        ]
    )


def output_block(width: int) -> nn.Sequential:
    """The last decoder output (64 ch) with the first skip (16 ch) -> RGB in [-1, 1]."""
    cin, c32 = scaled(64, width) + scaled(16, width), scaled(32, width)
    return nn.Sequential(ConvBlock(cin, c32, 3, 1, 1), nn.Conv2d(c32, 3, 1), nn.Tanh())


@dataclass
class MemoryOutput:
    z_key: torch.Tensor  # (N, D) fusion of audio and the lip feature recalled by audio
    key_address: torch.Tensor  # (N, S) A_aud
    z_value: torch.Tensor | None = None  # (N, D) fusion of audio and the lip feature itself
    value_address: torch.Tensor | None = None  # (N, S) A_lip
    store_loss: torch.Tensor | None = None
    align_loss: torch.Tensor | None = None


class AudioLipMemory(nn.Module):
    """Key memory addressed by audio, value memory holding lip features (paper Sec. 3.2)."""

    def __init__(self, config: ALMConfig):
        super().__init__()
        d, s = config.width, config.num_slots
        self.key = nn.Parameter(torch.randn(s, d) * config.memory_init_std)
        self.value = nn.Parameter(torch.randn(s, d) * config.memory_init_std)
        self.q_embd = nn.Linear(d, d)
        self.v_embd = nn.Linear(d, d)
        self.fusion = nn.Linear(2 * d, d)
        self.dropout = nn.Dropout(config.fusion_dropout)
        self.radius = config.radius

    def address(self, query: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        """softmax over slots of radius * cos(query, slot)."""
        cosine = F.normalize(query, dim=1) @ F.normalize(slots, dim=1).t()  # (N, S)
        return torch.softmax(self.radius * cosine, dim=1)

    def fuse(self, audio: torch.Tensor, lip: torch.Tensor) -> torch.Tensor:
        return self.fusion(self.dropout(torch.cat([audio, lip], dim=1)))  # (N, D)

    def forward(self, audio: torch.Tensor, lip: torch.Tensor | None = None) -> MemoryOutput:
        key_address = self.address(self.q_embd(audio), self.key)  # (N, S)
        recalled = key_address @ self.value  # (N, D), the only read-out at inference
        out = MemoryOutput(z_key=self.fuse(audio, recalled), key_address=key_address)
        if lip is None:
            return out
        lip_query = self.v_embd(lip)  # (N, D)
        out.value_address = self.address(lip_query, self.value)  # (N, S)
        stored = out.value_address @ self.value  # (N, D)
        out.z_value = self.fuse(audio, stored)
        # Storing: the value memory must reproduce the lip feature; the target is not pulled.
        out.store_loss = F.mse_loss(stored, lip_query.detach())
        # Alignment KL(A_lip || A_aud): the audio address learns to point where the lip points.
        out.align_loss = F.kl_div(
            torch.log(key_address + 1e-13), out.value_address.detach(), reduction="batchmean"
        )
        return out


@dataclass
class ALMOutput:
    key_frames: torch.Tensor  # (B, 3, T, H, W) in [-1, 1], generated through the key path
    key_address: torch.Tensor  # (B, T, S)
    value_frames: torch.Tensor | None = None  # (B, 3, T, H, W), through the value path
    value_address: torch.Tensor | None = None  # (B, T, S)
    store_loss: torch.Tensor | None = None
    align_loss: torch.Tensor | None = None
    lip_embedding: torch.Tensor | None = None  # (B, T, D) lip encoder of the GT mouth windows


def frames_to_batch(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B*T, C, H, W), batch-major."""
    return x.transpose(1, 2).flatten(0, 1)


def batch_to_frames(x: torch.Tensor, batch: int) -> torch.Tensor:
    """(B*T, C, H, W) -> (B, C, T, H, W)."""
    return x.unflatten(0, (batch, -1)).transpose(1, 2)


def mouth_windows(frames: torch.Tensor) -> torch.Tensor:
    """(B, 3, F, H, W) -> (B, F-4, 3, 5, H, W): the upper-half-zeroed window around each frame."""
    windows = frames.unfold(2, 5, 1).permute(0, 2, 1, 5, 3, 4)  # (B, F-4, 3, 5, H, W)
    keep = torch.ones_like(frames[:1, :1, :1, :, :1])  # (1, 1, 1, H, 1)
    keep[..., : frames.size(3) // 2, :] = 0
    return windows * keep.unsqueeze(1)


class FaceGenerator(nn.Module):
    """Audio, face encoder with skips and U-Net decoder, conditioned by a (N, D) bottleneck vector.

    Shared by Audio-Lip Memory and CALS's Lip-to-Face module; subclasses supply the bottleneck.
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        if config.img_size != 128:
            raise ValueError(f"the generator is built for 128x128 faces, not {config.img_size}")
        self.audio_encoder = audio_encoder(config.width, last_stage_residuals=1)
        self.lip_encoder = lip_encoder(config.width)
        self.face_encoder_blocks = face_encoder_blocks(config.width)
        self.face_decoder_blocks = face_decoder_blocks(config.width)
        self.output_block = output_block(config.width)

    def encode_audio(self, mels: torch.Tensor) -> torch.Tensor:
        """(N, 1, 80, 16) -> (N, D)."""
        return self.audio_encoder(mels).flatten(1)

    def encode_lips(self, lips: torch.Tensor) -> torch.Tensor:
        """(N, 3, 5, H, W) mouth windows -> (N, D)."""
        return self.lip_encoder(lips).flatten(1)

    def encode_face(self, faces: torch.Tensor) -> list[torch.Tensor]:
        """(N, 6, H, W) -> the seven skip features, shallow first."""
        if not self.training and len(faces) > 1 and bool((faces == faces[:1]).all()):
            # A still photo gives every frame the same input: encode it once (outside training,
            # where batch statistics would see one row instead of N).
            return [f.expand(len(faces), *f.shape[1:]) for f in self.encode_face(faces[:1])]
        feats, x = [], faces
        for block in self.face_encoder_blocks:
            x = block(x)
            feats.append(x)
        return feats

    def decode(self, z: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        """(N, D) bottleneck + skips -> (N, 3, H, W) in [-1, 1]."""
        x = z[:, :, None, None]
        for block, skip in zip(self.face_decoder_blocks, reversed(feats), strict=True):
            x = torch.cat([block(x), skip], dim=1)
        return self.output_block(x)

    def lip_sync_embedding(self, frames: torch.Tensor) -> torch.Tensor:
        """Visual-visual critic: a frozen snapshot of the current lip encoder on 5 generated frames.

        (B, 3, 5, H, W) in [-1, 1] -> (B, D). Gradients reach the frames but not the encoder's
        weights, as the reference code's per-step `deepcopy` does; its batch statistics are used
        and its running statistics are left untouched.
        """
        mask = torch.ones_like(frames[:1, :1, :1])
        mask[..., : frames.size(3) // 2, :] = 0  # keep the mouth only, as the lip inputs are
        params = {k: v.detach() for k, v in self.lip_encoder.named_parameters()}
        buffers = {k: v.clone() for k, v in self.lip_encoder.named_buffers()}
        out = functional_call(self.lip_encoder, {**params, **buffers}, (frames * mask,))
        return out.flatten(1)

    @staticmethod
    def flatten_inputs(mels, faces, lips=None):
        """Accept per-frame (4-D faces) or windowed (5-D faces) input; return N-major tensors."""
        if faces.dim() == 4:
            return mels, faces, lips, faces.size(0)
        batch = faces.size(0)
        lips = None if lips is None else lips.flatten(0, 1)  # (B*T, 3, 5, H, W)
        return mels.flatten(0, 1), frames_to_batch(faces), lips, batch

    @staticmethod
    def unflatten(x: torch.Tensor, batch: int, windowed: bool) -> torch.Tensor:
        return batch_to_frames(x, batch) if windowed else x


class AudioLipMemoryModel(FaceGenerator, PyTorchModelHubMixin, library_name="synclab"):
    """SyncTalkFace generator: the decoder bottleneck is fusion(audio, lip recalled from memory)."""

    def __init__(self, config: ALMConfig):
        super().__init__(config)
        self.mem = AudioLipMemory(config)

    def forward(self, mels, faces, lips=None) -> ALMOutput:
        """Training (lips given): both paths; otherwise the key path only.

        mels (B, T, 1, 80, 16), faces (B, 6, T, H, W), lips (B, T, 3, 5, H, W); or per frame
        mels (N, 1, 80, 16), faces (N, 6, H, W), lips (N, 3, 5, H, W).
        """
        windowed = faces.dim() == 5
        mels, faces, lips, batch = self.flatten_inputs(mels, faces, lips)
        audio = self.encode_audio(mels)  # (N, D)
        lip = None if lips is None else self.encode_lips(lips)  # (N, D)
        mem = self.mem(audio, lip)
        feats = self.encode_face(faces)
        out = ALMOutput(
            key_frames=self.unflatten(self.decode(mem.z_key, feats), batch, windowed),
            key_address=mem.key_address.unflatten(0, (batch, -1)),
        )
        if lip is not None:
            out.value_frames = self.unflatten(self.decode(mem.z_value, feats), batch, windowed)
            out.value_address = mem.value_address.unflatten(0, (batch, -1))
            out.store_loss, out.align_loss = mem.store_loss, mem.align_loss
            out.lip_embedding = lip.unflatten(0, (batch, -1))
        return out

    @torch.inference_mode()
    def generate(self, mels: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        """Inference: (N, 1, 80, 16) mels and (N, 6, H, W) faces -> (N, 3, H, W) in [-1, 1]."""
        return self.forward(mels, faces).key_frames


class QualityDiscriminator(nn.Module, PyTorchModelHubMixin, library_name="synclab"):
    """Wav2Lip's visual-quality discriminator on the lower half of each frame (64x128)."""

    def __init__(self, config: ALMConfig):
        super().__init__()
        self.config = config
        w = config.width
        c32, c64, c128, c256 = (scaled(c, w) for c in (32, 64, 128, 256))

        def stage(cin, cout, k, stride, p):
            return nn.Sequential(
                LeakyConvBlock(cin, cout, k, stride, p), LeakyConvBlock(cout, cout, k, 1, p)
            )

        self.face_encoder_blocks = nn.ModuleList(
            [
                nn.Sequential(LeakyConvBlock(3, c32, 7, 1, 3)),  # 64x128
                stage(c32, c64, 5, (1, 2), 2),  # 64x64
                stage(c64, c128, 5, 2, 2),  # 32x32
                stage(c128, c256, 5, 2, 2),  # 16x16
                stage(c256, w, 3, 2, 1),  # 8x8
                stage(w, w, 3, 2, 1),  # 4x4
                nn.Sequential(LeakyConvBlock(w, w, 4, 1, 0), LeakyConvBlock(w, w, 1, 1, 0)),  # 1x1
            ]
        )
        self.binary_pred = nn.Sequential(nn.Conv2d(w, 1, 1), nn.Sigmoid())

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> (B*T, 1) probability that each frame is real."""
        x = frames_to_batch(frames)
        x = x[:, :, x.size(2) // 2 :]  # (B*T, 3, H/2, W)
        for block in self.face_encoder_blocks:
            x = block(x)
        return self.binary_pred(x).flatten(1)


CONFIGS = {"paper": ALMConfig(), "demo": ALMConfig(width=128, num_slots=48)}
