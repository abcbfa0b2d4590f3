"""Import and export of the authors' AV-RelScore checkpoints (ms-dot-k/AVSR@2a287f5, CC BY-NC 4.0).

Their files are `torch.save({'state_dict': model.state_dict()})` of ESPnet's `E2E` with
architecture `AVRelScore`, `Audio` or `Video`. Layer names inside blocks already match ours, so,
as in transformers' `convert_openai_to_hf.py`, a table of prefix renames is all that is needed.
A key that no rule covers raises `UnmappedKeyError` naming it: nothing is dropped silently.
"""

from dataclasses import dataclass, field

import torch

from modelzoo.avrelscore.model import AVRelScoreConfig
from modelzoo.errors import UserError

_DECODER = (
    ("decoder.embed.0.", "decoder.embed."),
    ("decoder.decoders.", "decoder.layers."),
    ("decoder.after_norm.", "decoder.norm."),
    ("decoder.output_layer.", "decoder.output."),
    ("ctc.ctc_lo.", "ctc_head."),
)
# (their prefix, our prefix) per reference architecture, keyed by our `variant`
RENAMES = {
    "avrelscore": (
        ("encoders.frontend_vid.frontend3D.", "video_frontend.stem."),
        ("encoders.frontend_vid.trunk.", "video_frontend."),
        ("encoders.frontend_aud.trunk.", "audio_frontend."),
        ("encoders.fusion.score_vid.score.", "video_scorer.layers."),
        ("encoders.fusion.score_aud.score.", "audio_scorer.layers."),
        ("encoders.embed.0.", "embed."),
        ("encoders.encoders.", "conformer."),
        ("encoders.after_norm.", "encoder_norm."),
        *_DECODER,
    ),
    "audio_only": (
        ("encoder.frontend.trunk.", "audio_frontend."),
        ("encoder.embed.0.", "embed."),
        ("encoder.encoders.", "conformer."),
        ("encoder.after_norm.", "encoder_norm."),
        *_DECODER,
    ),
    "video_only": (
        ("encoder.frontend.frontend3D.", "video_frontend.stem."),
        ("encoder.frontend.trunk.", "video_frontend."),
        ("encoder.embed.0.", "embed."),
        ("encoder.encoders.", "conformer."),
        ("encoder.after_norm.", "encoder_norm."),
        *_DECODER,
    ),
}
# LayerNorms that the reference builds but never calls in its forward pass
UNUSED = {"avrelscore": ("encoders.after_norm_vid.", "encoders.after_norm_aud.")}


class UnmappedKeyError(UserError):
    """A checkpoint key that the converter has no rule for."""


class UnknownCheckpointError(UserError):
    """A checkpoint that is not one of the reference's AV-RelScore layouts."""


@dataclass
class ConversionReport:
    variant: str  # which reference architecture the checkpoint came from
    config: AVRelScoreConfig  # sizes read off the tensor shapes
    renamed: int = 0
    dropped: list[str] = field(default_factory=list)  # unused reference keys, by name


def detect_variant(state_dict) -> str:
    """Our `variant` for a reference state_dict, from its key prefixes."""
    keys = list(state_dict)
    if any(k.startswith("encoders.fusion.score_") for k in keys):
        return "avrelscore"
    if any(k.startswith("encoder.frontend.frontend3D.") for k in keys):
        return "video_only"
    if any(k.startswith("encoder.frontend.trunk.") for k in keys):
        return "audio_only"
    shown = ", ".join(keys[:3]) or "no keys"
    raise UnknownCheckpointError(
        f"checkpoint is not an AV-RelScore, Audio or Video model of ms-dot-k/AVSR (keys: {shown})"
    )


def infer_config(state_dict, variant: str) -> AVRelScoreConfig:
    """The config whose model has these (converted) tensor shapes; dropouts keep defaults."""

    def count(prefix):
        return len({k[len(prefix) :].split(".")[0] for k in state_dict if k.startswith(prefix)})

    embed = state_dict["decoder.embed.weight"]
    width = state_dict["embed.weight"].shape[1] // 8
    return AVRelScoreConfig(
        variant=variant,
        vocab_size=embed.shape[0],
        frontend_width=width,
        d_model=embed.shape[1],
        heads=state_dict["conformer.0.self_attn.pos_bias_u"].shape[0],
        encoder_layers=count("conformer."),
        encoder_ffn=state_dict["conformer.0.feed_forward.w_1.weight"].shape[0],
        conv_kernel=state_dict["conformer.0.conv_module.depthwise_conv.weight"].shape[-1],
        decoder_layers=count("decoder.layers."),
        decoder_ffn=state_dict["decoder.layers.0.feed_forward.w_1.weight"].shape[0],
    )


def _rename(key: str, rules) -> str | None:
    for old, new in rules:
        if key.startswith(old):
            return new + key[len(old) :]
    return None


def convert(state_dict) -> tuple[dict, ConversionReport]:
    """Our state_dict for a reference checkpoint (its `state_dict`, or the whole saved dict)."""
    if isinstance(state_dict.get("state_dict"), dict):
        state_dict = state_dict["state_dict"]
    variant = detect_variant(state_dict)
    unused = UNUSED.get(variant, ())
    out, dropped = {}, []
    for key, tensor in state_dict.items():
        if key.startswith(unused):
            dropped.append(key)
            continue
        new = _rename(key, RENAMES[variant])
        if new is None:
            raise UnmappedKeyError(
                f"checkpoint key {key!r} has no mapping for a reference {variant} model"
            )
        out[new] = tensor
    report = ConversionReport(variant, infer_config(out, variant), len(out), dropped)
    return out, report


def export(state_dict, variant: str) -> dict:
    """The reference's state_dict for ours, so that their `E2E` loads it with strict=True."""
    if variant not in RENAMES:
        raise ValueError(f"the reference has no architecture for variant {variant!r}")
    inverse = [(new, old) for old, new in RENAMES[variant]]
    out = {}
    for key, tensor in state_dict.items():
        old = _rename(key, inverse)
        if old is None:
            raise UnmappedKeyError(f"model key {key!r} has no place in a reference {variant} model")
        out[old] = tensor
    for prefix in UNUSED.get(variant, ()):
        # identity LayerNorms: the reference builds them and strict loading wants them
        dim = state_dict["encoder_norm.weight"].shape[0]
        out[prefix + "weight"], out[prefix + "bias"] = torch.ones(dim), torch.zeros(dim)
    return out
