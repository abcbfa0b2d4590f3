import pytest
import torch

from modelzoo.alm.convert import (
    CheckpointLayoutError,
    convert,
    load_authors_checkpoint,
    load_authors_syncnet,
)
from modelzoo.alm.model import ALMConfig, AudioLipMemoryModel, QualityDiscriminator
from modelzoo.syncnet import SyncNet, SyncNetConfig

TINY = ALMConfig(width=32, num_slots=8)
ENCODER_PREFIXES = ("mem.", "lip_encoder.", "face_encoder_blocks.", "audio_encoder.")


def authors_checkpoint(config=TINY):
    """A checkpoint laid out as jinny960812/SyncTalkFace@9d5d08d train.py saves one."""
    torch.manual_seed(0)
    generator = AudioLipMemoryModel(config).state_dict()
    return {
        "model_state_dict": {k: v for k, v in generator.items() if k.startswith(ENCODER_PREFIXES)},
        "dec_state_dict": {
            k: v for k, v in generator.items() if not k.startswith(ENCODER_PREFIXES)
        },
        "disc_state_dict": QualityDiscriminator(config).state_dict(),
    }


def state_shapes(model_class, config):
    with torch.device("meta"):  # shapes only: no memory for the paper-size weights
        state = model_class(config).state_dict()
    return {k: tuple(v.shape) for k, v in state.items()}


def test_paper_config_has_the_authors_keys_and_sizes():
    # Figures read from the authors' Wav2Lip(), Wav2Lip_decoder(), Wav2Lip_disc_qual() and
    # SyncNet_color() at 9d5d08d: key counts and element totals of each state dict.
    generator = state_shapes(AudioLipMemoryModel, ALMConfig())
    disc = state_shapes(QualityDiscriminator, ALMConfig())
    syncnet = state_shapes(SyncNet, SyncNetConfig())
    numel = lambda shapes: sum(torch.Size(s).numel() for s in shapes.values())  # noqa: E731
    assert (len(generator), numel(generator)) == (325 + 135, 24029181 + 28995542)
    assert (len(disc), numel(disc)) == (28, 15948801)
    assert (len(syncnet), numel(syncnet)) == (231, 23007905)
    assert generator["mem.key"] == (96, 512) and generator["mem.fusion.weight"] == (512, 1024)
    assert generator["lip_encoder.0.weight"] == (64, 3, 5, 7, 7)
    assert generator["lip_encoder.14.conv_block.0.weight"] == (512, 512, 4, 4)
    assert generator["output_block.1.weight"] == (3, 32, 1, 1)
    assert disc["binary_pred.0.weight"] == (1, 512, 1, 1)


def test_authors_layout_checkpoint_loads_strictly_with_equal_tensors(tmp_path):
    checkpoint = authors_checkpoint()
    path = tmp_path / "Epoch_000_Step_0001.ckpt"
    torch.save(checkpoint, path)
    generator, disc = load_authors_checkpoint(path, TINY)
    for section, model in [("model_state_dict", generator), ("dec_state_dict", generator)]:
        for key, tensor in checkpoint[section].items():
            torch.testing.assert_close(model.state_dict()[key], tensor)
    for key, tensor in checkpoint["disc_state_dict"].items():
        torch.testing.assert_close(disc.state_dict()[key], tensor)


def test_converted_checkpoint_round_trips_through_the_hub_format(tmp_path):
    state, report = convert(authors_checkpoint())
    assert report.converted == {"generator": len(state["generator"]), "discriminator": 28}
    model = AudioLipMemoryModel(TINY)
    model.load_state_dict(state["generator"], strict=True)
    model.save_pretrained(tmp_path)
    loaded = AudioLipMemoryModel.from_pretrained(tmp_path, strict=True)
    for key, tensor in state["generator"].items():
        torch.testing.assert_close(loaded.state_dict()[key], tensor)


def test_unmapped_key_raises_an_error_naming_it():
    checkpoint = authors_checkpoint()
    checkpoint["model_state_dict"]["extra_head.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointLayoutError, match="extra_head.weight"):
        convert(checkpoint)


def test_missing_section_raises_an_error_naming_it():
    checkpoint = authors_checkpoint()
    del checkpoint["dec_state_dict"]
    with pytest.raises(CheckpointLayoutError, match="dec_state_dict"):
        convert(checkpoint)


@pytest.mark.parametrize("img_size", [96, 128])
def test_wav2lip_style_syncnet_checkpoint_with_dataparallel_prefix_loads(tmp_path, img_size):
    syncnet = SyncNet(SyncNetConfig(img_size=img_size, width=32))
    state = {"module." + k: v for k, v in syncnet.state_dict().items()}
    torch.save({"state_dict": state, "global_step": 10}, tmp_path / "expert.pth")
    loaded = load_authors_syncnet(tmp_path / "expert.pth")
    assert loaded.config == syncnet.config
    for key, tensor in syncnet.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], tensor)
