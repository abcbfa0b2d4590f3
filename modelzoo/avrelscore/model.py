"""AV-RelScore (arXiv 2303.08536) after ms-dot-k/AVSR@2a287f5, keeping its layer names for loading.

Hong, Kim, Choi, Ro, "Watch or Listen: Robust Audio-Visual Speech Recognition with Visual Corruption
Modeling and Reliability Scoring", CVPR 2023. The reference code is CC BY-NC 4.0 (Minsu Kim) and
builds on ESPnet (Apache 2.0); this file is a rewrite that only shares its layer names and maths.
Names inside blocks are the reference's (ESPnet's `pointwise_cov1` spelling included) so that
`convert.py` only has to rename prefixes.

Inputs: gray 88x88 mouth crops normalised as (x / 255 - VIDEO_MEAN) / VIDEO_STD, shape
(B, T, 1, 88, 88); the utterance-normalised 16 kHz waveform, (B, T * 640); and the number of valid
video frames per clip. The audio and video features are both at 25 Hz, one per video frame.
"""

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from modelzoo.avrelscore import vocab
from modelzoo.media.mel import MelConfig, mel_basis

VARIANTS = ("avrelscore", "av_concat", "audio_only", "video_only")
AUDIO_FRONTENDS = ("waveform", "mel")
FUSIONS = ("time", "sum")
SAMPLES_PER_FRAME = 640  # 16 kHz audio / 25 fps video; the audio front-end's total stride
VIDEO_MEAN, VIDEO_STD = 0.421, 0.165  # the reference's normalisation of gray crops in [0, 1]


@dataclass(frozen=True)
class AVRelScoreConfig:
    variant: str = "avrelscore"  # avrelscore | av_concat (no scoring) | audio_only | video_only
    vocab_size: int = len(vocab.CHARS)  # 41 characters, not sentencepiece
    frontend_width: int = 64  # ResNet-18 stages are 1, 2, 4, 8 x this wide: 512-d features
    audio_frontend: str = "waveform"  # the paper's raw-waveform ResNet-18, or "mel" (MelFrontend)
    # "time": the paper's temporal concatenation (video tokens, then audio tokens, one encoder
    # read out at the video positions); "sum": the two streams' (scored) features added frame by
    # frame, so that a video token need not find its audio token at an offset of one clip length
    fusion: str = "time"
    d_model: int = 256
    heads: int = 4
    encoder_layers: int = 12  # paper: 12-layer conformer
    encoder_ffn: int = 2048
    conv_kernel: int = 31
    decoder_layers: int = 6
    decoder_ffn: int = 2048
    dropout: float = 0.1
    attention_dropout: float = 0.1
    ctc_weight: float = 0.1  # loss = ctc_weight * CTC + (1 - ctc_weight) * attention
    label_smoothing: float = 0.1
    # The paper's scorers learn through the recognition loss alone (0). A demo trained for minutes
    # gets scores that do not move (AUROC 0.50 against corruption), so it may add this weight of
    # a BCE between each frame's mean channel score and whether its stream was left clean.
    reliability_weight: float = 0.0

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"variant {self.variant!r} is not one of {', '.join(VARIANTS)}")
        if self.d_model % self.heads:
            raise ValueError(f"d_model {self.d_model} is not a multiple of heads {self.heads}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion {self.fusion!r} is not one of {FUSIONS}")
        if self.audio_frontend not in AUDIO_FRONTENDS:
            raise ValueError(
                f"audio_frontend {self.audio_frontend!r} is not one of {AUDIO_FRONTENDS}"
            )
        if self.conv_kernel % 2 == 0:
            raise ValueError(f"conv_kernel {self.conv_kernel} must be odd to keep the length")

    @property
    def feature_dim(self) -> int:
        return 8 * self.frontend_width

    @property
    def uses_video(self) -> bool:
        return self.variant != "audio_only"

    @property
    def uses_audio(self) -> bool:
        return self.variant != "video_only"


def sinusoids(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sine at even and cosine at odd channels of each (possibly negative) position: (N, dim)."""
    freqs = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
    angles = positions.float()[:, None] * freqs.to(positions.device)  # (N, dim/2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)  # (N, dim)


def length_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """True at the valid steps of each row: (B, size)."""
    return torch.arange(size, device=lengths.device)[None, :] < lengths[:, None]


class LayerNorm(nn.LayerNorm):
    """LayerNorm with ESPnet's eps of 1e-12, which the released weights were trained with."""

    def __init__(self, dim: int):
        super().__init__(dim, eps=1e-12)


class BasicBlock(nn.Module):
    """ResNet basic block with Swish, in 1D or 2D depending on the conv and norm classes given."""

    def __init__(self, conv, norm, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = conv(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = norm(cout)
        self.conv2 = conv(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = norm(cout)
        self.act = nn.SiLU()
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(conv(cin, cout, 1, stride, bias=False), norm(cout))

    def forward(self, x):
        out = self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))
        return self.act(out + (x if self.downsample is None else self.downsample(x)))


def resnet18_stages(conv, norm, width: int) -> list[nn.Sequential]:
    """The four two-block stages of ResNet-18 (widths 1, 2, 4, 8 x width; strides 1, 2, 2, 2)."""
    stages, cin = [], width
    for i, stride in enumerate((1, 2, 2, 2)):
        cout = width * 2**i
        stages.append(
            nn.Sequential(
                BasicBlock(conv, norm, cin, cout, stride), BasicBlock(conv, norm, cout, cout)
            )
        )
        cin = cout
    return stages


class ChannelsLastConv3d(nn.Conv3d):
    """`nn.Conv3d` run channels-last, which oneDNN does about twice as fast for the video stem on
    the CPU: with one input channel, neither the input's layout nor the kernel's asks for it."""

    def forward(self, x):
        x = x.contiguous(memory_format=torch.channels_last_3d)
        kernel = self.weight.contiguous(memory_format=torch.channels_last_3d)
        return self._conv_forward(x, kernel, self.bias)


class FramewiseMaxPool3d(nn.MaxPool3d):
    """`nn.MaxPool3d` with a kernel of 1 in time, run as 2D pooling of channels-last frames: a
    tenth of 3D pooling's time on the CPU."""

    def forward(self, x):
        b = x.size(0)
        frames = x.transpose(1, 2).flatten(0, 1).contiguous(memory_format=torch.channels_last)
        pooled = F.max_pool2d(frames, self.kernel_size[1:], self.stride[1:], self.padding[1:])
        return pooled.unflatten(0, (b, -1)).transpose(1, 2)  # (B, C, T, H', W')


class VideoFrontend(nn.Module):
    """Conv3d stem + per-frame 2D ResNet-18 + global average pool: one feature per video frame."""

    def __init__(self, width: int):
        super().__init__()
        self.stem = nn.Sequential(
            ChannelsLastConv3d(1, width, (5, 7, 7), (1, 2, 2), (2, 3, 3), bias=False),
            nn.BatchNorm3d(width),
            nn.SiLU(),
            FramewiseMaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
        )
        self.layer1, self.layer2, self.layer3, self.layer4 = resnet18_stages(
            nn.Conv2d, nn.BatchNorm2d, width
        )

    def forward(self, video):
        b = video.size(0)
        x = self.stem(video.transpose(1, 2))  # (B, W, T, 22, 22), channels-last
        # The trunk runs per frame, in the default layout: training it channels-last aborted the
        # test process with a corrupted heap (torch 2.13 CPU), in 3 runs of 4.
        x = x.transpose(1, 2).flatten(0, 1).contiguous()  # (B*T, W, 22, 22)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B*T, 8W, 3, 3)
        return x.mean((2, 3)).view(b, -1, x.size(1))  # (B, T, 8W)


class AudioFrontend(nn.Module):
    """Raw-waveform 1D ResNet-18: a k80/s4 stem, strides 2, 2, 2 and a 20-wide average pool."""

    def __init__(self, width: int):
        super().__init__()
        self.conv1 = nn.Conv1d(1, width, 80, 4, 38, bias=False)
        self.bn1 = nn.BatchNorm1d(width)
        self.act = nn.SiLU()
        self.layer1, self.layer2, self.layer3, self.layer4 = resnet18_stages(
            nn.Conv1d, nn.BatchNorm1d, width
        )
        self.pool = nn.AvgPool1d(20, 20)

    def forward(self, audio):
        n = audio.size(1) // SAMPLES_PER_FRAME * SAMPLES_PER_FRAME  # whole frames only
        x = self.act(self.bn1(self.conv1(audio[:, None, :n])))  # (B, W, S/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 8W, S/32)
        return self.pool(x).transpose(1, 2)  # (B, S/640, 8W)


class MelFrontend(nn.Module):
    """Log-mel filterbank (25 ms windows every 10 ms), a conv stem and two stride-2 1D ResNet
    blocks: features at 25 Hz, as wide as the waveform front-end's. Not the paper's: at demo size
    on CPU the raw-waveform ResNet-18 still read clean speech at 0.62 WER after 1000 steps."""

    n_fft, hop, n_mels = 400, 160, 80

    def __init__(self, width: int):
        super().__init__()
        config = MelConfig(n_fft=self.n_fft, win_length=self.n_fft, hop_length=self.hop)
        basis = torch.from_numpy(mel_basis(config).astype(np.float32))
        self.register_buffer("basis", basis, persistent=False)  # (n_mels, n_fft // 2 + 1)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        self.norm = nn.BatchNorm1d(self.n_mels)
        self.conv1 = nn.Conv1d(self.n_mels, 4 * width, 5, 1, 2, bias=False)
        self.bn1 = nn.BatchNorm1d(4 * width)
        self.act = nn.SiLU()
        self.layer1 = BasicBlock(nn.Conv1d, nn.BatchNorm1d, 4 * width, 8 * width, stride=2)
        self.layer2 = BasicBlock(nn.Conv1d, nn.BatchNorm1d, 8 * width, 8 * width, stride=2)

    def forward(self, audio):
        spec = torch.stft(
            audio.float(), self.n_fft, self.hop, window=self.window, return_complex=True
        )
        mel = torch.log(self.basis @ spec.abs().pow(2) + 1e-6)  # (B, n_mels, S/160 + 1)
        x = self.act(self.bn1(self.conv1(self.norm(mel.to(audio.dtype)))))
        return self.layer2(self.layer1(x)).transpose(1, 2)  # (B, about S/640, 8W)


class ReliabilityScorer(nn.Module):
    """Per-frame, per-channel reliability s in (0, 1) of one stream, applied as f * s + f."""

    def __init__(self, dim: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv1d(dim, 2 * dim, 7, padding=3),
            nn.BatchNorm1d(2 * dim),
            nn.ReLU(),
            nn.Conv1d(2 * dim, 2 * dim, 7, padding=3),
            nn.BatchNorm1d(2 * dim),
            nn.ReLU(),
            nn.Conv1d(2 * dim, dim, 7, padding=3),
            nn.BatchNorm1d(dim),  # before the sigmoid, as in the reference
            nn.Sigmoid(),
        )

    def forward(self, f):
        s = self.layers(f.transpose(1, 2)).transpose(1, 2)  # (B, T, C)
        return f * s + f, s


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.w_1 = nn.Linear(dim, hidden)
        self.activation = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.w_2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.w_2(self.dropout(self.activation(self.w_1(x))))


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention over `heads` heads; masks are True where a key may be seen."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.head_dim, self.dropout = heads, dim // heads, dropout
        self.linear_q = nn.Linear(dim, dim)
        self.linear_k = nn.Linear(dim, dim)
        self.linear_v = nn.Linear(dim, dim)
        self.linear_out = nn.Linear(dim, dim)

    def split(self, x):
        return x.view(x.size(0), -1, self.heads, self.head_dim).transpose(1, 2)  # (B, H, T, Dh)

    def keys_values(self, x):
        return self.split(self.linear_k(x)), self.split(self.linear_v(x))

    def attend(self, q, k, v, mask):
        p = self.dropout if self.training else 0.0
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (B, H, Tq, Dh)
        return self.linear_out(x.transpose(1, 2).flatten(2))  # (B, Tq, D)

    def forward(self, query, key, value, mask):
        q = self.split(self.linear_q(query))
        return self.attend(
            q, self.split(self.linear_k(key)), self.split(self.linear_v(value)), mask
        )


def relative_shift(x: torch.Tensor) -> torch.Tensor:
    """(B, H, T, 2T-1) scores against offsets T-1 .. -(T-1) -> (B, H, T, T) with [i, j] at i - j.

    A strided view: row i starts (T - 1 - i) elements into its own row, so nothing is copied.
    """
    b, h, t, n = x.shape
    x = x.contiguous()
    return x.as_strided((b, h, t, t), (h * t * n, t * n, n - 1, 1), x.storage_offset() + t - 1)


class RelPositionAttention(MultiHeadAttention):
    """Transformer-XL attention with learned biases u, v: ESPnet's `RelPositionMultiHeadedAttention`
    (the "latest" variant that the reference's `rel_pos_type` selects, offsets -(T-1)..T-1)."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__(dim, heads, dropout)
        self.linear_pos = nn.Linear(dim, dim, bias=False)
        self.pos_bias_u = nn.Parameter(torch.empty(heads, dim // heads))
        self.pos_bias_v = nn.Parameter(torch.empty(heads, dim // heads))
        nn.init.xavier_uniform_(self.pos_bias_u)
        nn.init.xavier_uniform_(self.pos_bias_v)

    def forward(self, x, pos, mask):
        q = self.split(self.linear_q(x))  # (B, H, T, Dh)
        k, v = self.keys_values(x)
        p = self.split(self.linear_pos(pos))  # (1, H, 2T-1, Dh)
        bd = relative_shift((q + self.pos_bias_v[:, None]) @ p.transpose(-2, -1))  # (B, H, T, T)
        bias = (bd / math.sqrt(self.head_dim)).masked_fill(~mask[:, None, None, :], -math.inf)
        return self.attend(q + self.pos_bias_u[:, None], k, v, bias)


class ConvolutionModule(nn.Module):
    """Conformer convolution: pointwise + GLU, depthwise, BatchNorm + Swish, pointwise."""

    def __init__(self, dim: int, kernel: int):
        super().__init__()
        self.pointwise_cov1 = nn.Conv1d(dim, 2 * dim, 1)
        self.depthwise_conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.BatchNorm1d(dim)
        self.pointwise_cov2 = nn.Conv1d(dim, dim, 1)
        self.act = nn.SiLU()

    def forward(self, x):
        x = F.glu(self.pointwise_cov1(x.transpose(1, 2)), dim=1)  # (B, D, T)
        x = self.act(self.norm(self.depthwise_conv(x)))
        return self.pointwise_cov2(x).transpose(1, 2)  # (B, T, D)


class ConformerLayer(nn.Module):
    """Pre-LN macaron conformer block: FFN/2, rel-pos self-attention, convolution, FFN/2, LN."""

    def __init__(self, cfg: AVRelScoreConfig):
        super().__init__()
        d = cfg.d_model
        self.feed_forward_macaron = FeedForward(d, cfg.encoder_ffn, cfg.dropout)
        self.self_attn = RelPositionAttention(d, cfg.heads, cfg.attention_dropout)
        self.conv_module = ConvolutionModule(d, cfg.conv_kernel)
        self.feed_forward = FeedForward(d, cfg.encoder_ffn, cfg.dropout)
        self.norm_ff_macaron, self.norm_mha = LayerNorm(d), LayerNorm(d)
        self.norm_conv, self.norm_ff, self.norm_final = LayerNorm(d), LayerNorm(d), LayerNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, pos, mask):
        x = x + 0.5 * self.dropout(self.feed_forward_macaron(self.norm_ff_macaron(x)))
        x = x + self.dropout(self.self_attn(self.norm_mha(x), pos, mask))
        x = x + self.dropout(self.conv_module(self.norm_conv(x)))
        x = x + 0.5 * self.dropout(self.feed_forward(self.norm_ff(x)))
        return self.norm_final(x)


class DecoderLayer(nn.Module):
    """Pre-LN transformer decoder block: causal self-attention, source attention, FFN."""

    def __init__(self, cfg: AVRelScoreConfig):
        super().__init__()
        d = cfg.d_model
        self.self_attn = MultiHeadAttention(d, cfg.heads, cfg.attention_dropout)
        self.src_attn = MultiHeadAttention(d, cfg.heads, cfg.attention_dropout)
        self.feed_forward = FeedForward(d, cfg.decoder_ffn, cfg.dropout)
        self.norm1, self.norm2, self.norm3 = LayerNorm(d), LayerNorm(d), LayerNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, causal, memory, memory_mask):
        h = self.norm1(x)
        x = x + self.dropout(self.self_attn(h, h, h, causal))
        x = x + self.dropout(self.src_attn(self.norm2(x), memory, memory, memory_mask))
        return x + self.dropout(self.feed_forward(self.norm3(x)))


class TransformerDecoder(nn.Module):
    """Character decoder: embedding + absolute sinusoids, pre-LN layers, LN, output projection."""

    def __init__(self, cfg: AVRelScoreConfig):
        super().__init__()
        self.d_model = cfg.d_model
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.decoder_layers))
        self.norm = LayerNorm(cfg.d_model)
        self.output = nn.Linear(cfg.d_model, cfg.vocab_size)

    def embed_at(self, tokens, start: int):
        pos = sinusoids(
            torch.arange(start, start + tokens.size(1), device=tokens.device), self.d_model
        )
        return self.dropout(self.embed(tokens) * math.sqrt(self.d_model) + pos)  # (B, L, D)

    def forward(self, tokens, memory, memory_mask):
        """Teacher-forced logits (B, L, V) of tokens (B, L) over memory (B, T, D) / mask (B, T)."""
        n = tokens.size(1)
        causal = torch.ones(n, n, dtype=torch.bool, device=tokens.device).tril()
        x = self.embed_at(tokens, 0)
        for layer in self.layers:
            x = layer(x, causal, memory, memory_mask[:, None, None, :])
        return self.output(self.norm(x))


@dataclass
class Encoded:
    hidden: torch.Tensor  # (B, T, D) encoder output at the video positions
    mask: torch.Tensor  # (B, T) True at valid frames
    video_scores: torch.Tensor | None  # (B, T, C) reliability of the visual stream, or None
    audio_scores: torch.Tensor | None  # (B, T, C) reliability of the audio stream, or None


@dataclass
class AVRelScoreOutput:
    encoded: Encoded
    ctc_logits: torch.Tensor  # (B, T, V)
    loss: torch.Tensor | None = None  # ctc_weight * ctc_loss + (1 - ctc_weight) * att_loss
    ctc_loss: torch.Tensor | None = None  # summed over frames, averaged over the batch
    att_loss: torch.Tensor | None = None  # label-smoothed KL, summed over tokens, batch mean
    att_logits: torch.Tensor | None = None  # (B, L + 1, V) teacher-forced decoder output
    reliability_loss: torch.Tensor | None = None  # BCE summed over frames, batch mean


def fit_frames(x: torch.Tensor, frames: int) -> torch.Tensor:
    """Crop or zero-pad (B, T', C) features to `frames` steps."""
    x = x[:, :frames]
    return F.pad(x, (0, 0, 0, frames - x.size(1)))


class AVRelScore(nn.Module, PyTorchModelHubMixin, library_name="synclab"):
    """AV-RelScore audio-visual speech recognizer, or one of its baselines (see `variant`)."""

    def __init__(self, config: AVRelScoreConfig):
        super().__init__()
        self.config = cfg = config
        c = cfg.feature_dim
        if cfg.uses_video:
            self.video_frontend = VideoFrontend(cfg.frontend_width)
        if cfg.uses_audio:
            frontend = MelFrontend if cfg.audio_frontend == "mel" else AudioFrontend
            self.audio_frontend = frontend(cfg.frontend_width)
        if cfg.variant == "avrelscore":
            self.video_scorer = ReliabilityScorer(c)
            self.audio_scorer = ReliabilityScorer(c)
        self.embed = nn.Linear(c, cfg.d_model)
        self.embed_dropout = nn.Dropout(cfg.dropout)
        self.conformer = nn.ModuleList(ConformerLayer(cfg) for _ in range(cfg.encoder_layers))
        self.encoder_norm = LayerNorm(cfg.d_model)
        self.decoder = TransformerDecoder(cfg)
        self.ctc_dropout = nn.Dropout(cfg.dropout)
        self.ctc_head = nn.Linear(cfg.d_model, cfg.vocab_size)

    def streams(self, video, audio):
        """Front-end (and scored) features of each used stream, each (B, T, C), and the scores."""
        cfg, feats, scores = self.config, [], {"video": None, "audio": None}
        frames = video.size(1) if cfg.uses_video else audio.size(1) // SAMPLES_PER_FRAME
        if cfg.uses_video:
            feats.append(self.video_frontend(video))  # (B, T, C)
        if cfg.uses_audio:
            feats.append(fit_frames(self.audio_frontend(audio), frames))  # (B, T, C)
        if cfg.variant == "avrelscore":
            feats[0], scores["video"] = self.video_scorer(feats[0])
            feats[1], scores["audio"] = self.audio_scorer(feats[1])
        return feats, scores

    def encode(self, video, audio, lengths) -> Encoded:
        """Encoder output at the video positions; `video`/`audio` may be None when unused."""
        feats, scores = self.streams(video, audio)
        frames = feats[0].size(1)
        valid = length_mask(lengths, frames)  # (B, T)
        if self.config.fusion == "sum":
            x, mask = sum(feats), valid  # (B, T, C)
        else:  # temporal: video tokens 0..T-1, audio tokens T..2T-1, one padding mask each
            x = torch.cat(feats, dim=1)  # (B, 2T, C) or (B, T, C) for one stream
            mask = torch.cat([valid] * len(feats), dim=1)
        n = x.size(1)
        x = self.embed_dropout(self.embed(x) * math.sqrt(self.config.d_model))
        offsets = torch.arange(n - 1, -n, -1, device=x.device)
        pos = self.embed_dropout(sinusoids(offsets, self.config.d_model)[None].to(x.dtype))
        for layer in self.conformer:
            x = layer(x, pos, mask)
        hidden = self.encoder_norm(x[:, :frames])  # read out at the video positions only
        return Encoded(hidden, valid, scores["video"], scores["audio"])

    def ctc_log_probs(self, encoded: Encoded) -> torch.Tensor:
        return self.ctc_head(encoded.hidden).log_softmax(-1)  # (B, T, V)

    def forward(self, video, audio, lengths, targets=None, corrupted=None) -> AVRelScoreOutput:
        """Encode; with targets (B, L) padded with vocab.IGNORE, also the joint loss, to which
        `corrupted` ({"video": (B, T), "audio": (B, T)} True where that stream was corrupted)
        adds the reliability loss when the config weighs it."""
        encoded = self.encode(video, audio, lengths)
        ctc_logits = self.ctc_head(self.ctc_dropout(encoded.hidden))  # (B, T, V)
        out = AVRelScoreOutput(encoded, ctc_logits)
        if targets is None:
            return out
        out.ctc_loss = self.ctc_loss(ctc_logits, lengths, targets)
        out.att_logits, out.att_loss = self.attention_loss(encoded, targets)
        w = self.config.ctc_weight
        out.loss = w * out.ctc_loss + (1 - w) * out.att_loss
        if (
            corrupted is not None
            and self.config.reliability_weight
            and encoded.video_scores is not None
        ):
            out.reliability_loss = self.reliability_loss(encoded, corrupted)
            out.loss = out.loss + self.config.reliability_weight * out.reliability_loss
        return out

    @staticmethod
    def reliability_loss(encoded: Encoded, corrupted: dict) -> torch.Tensor:
        """BCE of each valid frame's mean channel score against its stream being clean."""
        total = 0.0
        for stream, scores in (("video", encoded.video_scores), ("audio", encoded.audio_scores)):
            clean = (~corrupted[stream][:, : scores.size(1)]).float()
            bce = F.binary_cross_entropy(scores.float().mean(-1), clean, reduction="none")
            total = total + (bce * encoded.mask).sum()
        return total / encoded.mask.size(0)

    def ctc_loss(self, logits, lengths, targets):
        valid = targets != vocab.IGNORE
        log_probs = logits.float().log_softmax(-1).transpose(0, 1)  # (T, B, V)
        loss = F.ctc_loss(
            log_probs,
            targets[valid],
            lengths,
            valid.sum(1),
            blank=vocab.BLANK,
            reduction="sum",
            zero_infinity=True,
        )
        return loss / targets.size(0)

    def attention_loss(self, encoded: Encoded, targets):
        """Teacher-forced decoder logits and ESPnet's label-smoothed KL (summed, batch mean)."""
        b, v = targets.size(0), self.config.vocab_size
        valid = targets != vocab.IGNORE
        lengths = valid.sum(1)
        start = targets.new_full((b, 1), vocab.SOS)
        tokens_in = torch.cat([start, targets.masked_fill(~valid, vocab.EOS)], dim=1)  # (B, L+1)
        tokens_out = F.pad(targets, (0, 1), value=vocab.IGNORE)  # (B, L+1)
        tokens_out[torch.arange(b), lengths] = vocab.EOS
        logits = self.decoder(tokens_in, encoded.hidden, encoded.mask)  # (B, L+1, V)
        seen = tokens_out != vocab.IGNORE
        eps = self.config.label_smoothing
        target = torch.full_like(logits, eps / (v - 1))
        target.scatter_(-1, tokens_out.clamp(min=0)[..., None], 1 - eps)
        kl = F.kl_div(logits.log_softmax(-1), target, reduction="none").sum(-1)  # (B, L+1)
        return logits, (kl * seen).sum() / b


# About 5 M parameters (10 MB in float16), bundled with the package. The demo decodes with greedy
# CTC, so CTC weighs more in its training loss than in the paper's.
DEMO_CONFIG = AVRelScoreConfig(
    frontend_width=16,
    d_model=128,
    encoder_layers=4,
    encoder_ffn=512,
    decoder_layers=2,
    decoder_ffn=512,
    ctc_weight=0.3,
    reliability_weight=0.3,
    audio_frontend="mel",
    fusion="sum",
)
CONFIGS = {
    "paper": AVRelScoreConfig(),
    "paper-av-concat": AVRelScoreConfig(variant="av_concat"),
    "paper-audio-only": AVRelScoreConfig(variant="audio_only"),
    "paper-video-only": AVRelScoreConfig(variant="video_only"),
    "demo": DEMO_CONFIG,
    "demo-av-concat": replace(DEMO_CONFIG, variant="av_concat"),
    "demo-audio-only": replace(DEMO_CONFIG, variant="audio_only"),
    "demo-video-only": replace(DEMO_CONFIG, variant="video_only"),
}
