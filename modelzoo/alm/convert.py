"""Import the SyncTalkFace authors' checkpoints (jinny960812/SyncTalkFace@9d5d08d `train.py`).

The authors save `{'model_state_dict', 'dec_state_dict', 'disc_state_dict'}`: the encoders and the
memory, the decoder, and the quality discriminator; their SyncNet expert is a Wav2Lip-style
`{'state_dict'}` saved through DataParallel (`module.` prefixes). Like transformers'
`convert_openai_to_hf.py`, a table of prefix pairs says where each key goes, and a key that no row
maps is an error that names it. No weights were ever published; this lets users bring their own.
"""

from dataclasses import dataclass, field
from pathlib import Path

import torch

from modelzoo.alm.model import ALMConfig, AudioLipMemoryModel, QualityDiscriminator
from modelzoo.errors import UserError
from modelzoo.syncnet import SyncNet, SyncNetConfig

# (section of the authors' file, their key prefix) -> (our model, our key prefix)
RENAMES = {
    ("model_state_dict", "audio_encoder."): ("generator", "audio_encoder."),
    ("model_state_dict", "lip_encoder."): ("generator", "lip_encoder."),
    ("model_state_dict", "face_encoder_blocks."): ("generator", "face_encoder_blocks."),
    ("model_state_dict", "mem."): ("generator", "mem."),
    ("dec_state_dict", "face_decoder_blocks."): ("generator", "face_decoder_blocks."),
    ("dec_state_dict", "output_block."): ("generator", "output_block."),
    ("disc_state_dict", "face_encoder_blocks."): ("discriminator", "face_encoder_blocks."),
    ("disc_state_dict", "binary_pred."): ("discriminator", "binary_pred."),
}
SYNCNET_RENAMES = {"face_encoder.": "face_encoder.", "audio_encoder.": "audio_encoder."}
DATA_PARALLEL_PREFIX = "module."


class CheckpointLayoutError(UserError):
    """A checkpoint file does not have the layout its converter expects."""


@dataclass
class ConversionReport:
    converted: dict[str, int] = field(default_factory=dict)  # our model -> number of tensors
    sections: list[str] = field(default_factory=list)  # the authors' sections that were read


def _strip_data_parallel(key: str) -> str:
    return key.removeprefix(DATA_PARALLEL_PREFIX)


def convert(checkpoint: dict, source: str = "checkpoint") -> tuple[dict, ConversionReport]:
    """Authors' dict -> ({"generator": state_dict, "discriminator": state_dict}, report).

    `disc_state_dict` may be absent (a generator-only export); the other two sections are required.
    """
    for section in ("model_state_dict", "dec_state_dict"):
        if section not in checkpoint:
            raise CheckpointLayoutError(f"{source} has no '{section}' (keys: {sorted(checkpoint)})")
    converted: dict[str, dict] = {"generator": {}, "discriminator": {}}
    report = ConversionReport()
    for section in ("model_state_dict", "dec_state_dict", "disc_state_dict"):
        if section not in checkpoint:
            continue
        report.sections.append(section)
        for raw_key, tensor in checkpoint[section].items():
            key = _strip_data_parallel(raw_key)
            target = next(
                (
                    (model, new + key.removeprefix(old))
                    for (sec, old), (model, new) in RENAMES.items()
                    if sec == section and key.startswith(old)
                ),
                None,
            )
            if target is None:
                raise CheckpointLayoutError(f"{source}: no rule maps {section} key '{raw_key}'")
            converted[target[0]][target[1]] = tensor
    report.converted = {name: len(sd) for name, sd in converted.items() if sd}
    return {name: sd for name, sd in converted.items() if sd}, report


def convert_syncnet(checkpoint: dict, source: str = "checkpoint") -> tuple[dict, ConversionReport]:
    """Wav2Lip-style expert `{'state_dict'}` (96 or 128 px) -> our `SyncNet` state dict."""
    if "state_dict" not in checkpoint:
        raise CheckpointLayoutError(f"{source} has no 'state_dict' (keys: {sorted(checkpoint)})")
    converted = {}
    for raw_key, tensor in checkpoint["state_dict"].items():
        key = _strip_data_parallel(raw_key)
        prefix = next((old for old in SYNCNET_RENAMES if key.startswith(old)), None)
        if prefix is None:
            raise CheckpointLayoutError(f"{source}: no rule maps state_dict key '{raw_key}'")
        converted[SYNCNET_RENAMES[prefix] + key.removeprefix(prefix)] = tensor
    return converted, ConversionReport(
        converted={"syncnet": len(converted)}, sections=["state_dict"]
    )


def syncnet_config_of(state_dict: dict) -> SyncNetConfig:
    """The 128-px expert has 19 face-encoder layers, Wav2Lip's 96-px one 17."""
    has_extra_stage = "face_encoder.18.conv_block.0.weight" in state_dict
    width = state_dict["face_encoder.0.conv_block.0.weight"].shape[0] * 512 // 32
    return SyncNetConfig(img_size=128 if has_extra_stage else 96, width=width)


def load_authors_checkpoint(path: Path, config: ALMConfig | None = None):
    """Read an authors' `.ckpt` -> (generator, discriminator or None), both loaded strictly."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state, _ = convert(checkpoint, source=str(path))
    config = config or ALMConfig()
    generator = AudioLipMemoryModel(config)
    generator.load_state_dict(state["generator"], strict=True)
    discriminator = None
    if "discriminator" in state:
        discriminator = QualityDiscriminator(config)
        discriminator.load_state_dict(state["discriminator"], strict=True)
    return generator, discriminator


def load_authors_syncnet(path: Path) -> SyncNet:
    """Read a Wav2Lip-style expert checkpoint (`lipsync_expert.pth` or the 128-px one) strictly."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state, _ = convert_syncnet(checkpoint, source=str(path))
    syncnet = SyncNet(syncnet_config_of(state))
    syncnet.load_state_dict(state, strict=True)
    return syncnet
