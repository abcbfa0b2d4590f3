"""The converter, tested on checkpoints our own model writes in the reference's layout."""

import pytest
import torch

from modelzoo.avrelscore.convert import (
    UnknownCheckpointError,
    UnmappedKeyError,
    convert,
    export,
)
from modelzoo.avrelscore.model import CONFIGS, AVRelScore

from .conftest import tiny_config


def _reference_checkpoint(tmp_path, variant="avrelscore"):
    """A `{'state_dict': ...}` file with the reference's key names, read back as they would be."""
    torch.manual_seed(0)
    model = AVRelScore(tiny_config(variant=variant)).eval()
    path = tmp_path / "Best_0001.ckpt"
    torch.save({"state_dict": export(model.state_dict(), variant)}, path)
    return model, torch.load(path, map_location="cpu")


@pytest.mark.parametrize("variant", ["avrelscore", "audio_only", "video_only"])
def test_reference_checkpoint_loads_strictly_after_convert(tmp_path, variant, inputs):
    source, checkpoint = _reference_checkpoint(tmp_path, variant)
    state_dict, report = convert(checkpoint)
    assert report.variant == variant
    model = AVRelScore(report.config).eval()
    model.load_state_dict(state_dict, strict=True)
    video, audio, lengths = inputs
    assert torch.equal(model.encode(video, audio, lengths).hidden, source.encode(*inputs).hidden)


def test_convert_then_hub_save_and_load_gives_equal_tensors(tmp_path):
    _, checkpoint = _reference_checkpoint(tmp_path)
    state_dict, report = convert(checkpoint)
    model = AVRelScore(report.config)
    model.load_state_dict(state_dict, strict=True)
    model.save_pretrained(tmp_path / "hub")
    loaded = AVRelScore.from_pretrained(tmp_path / "hub", strict=True).state_dict()
    assert loaded.keys() == state_dict.keys()
    for name, tensor in state_dict.items():
        assert torch.equal(loaded[name], tensor), name


def test_config_is_read_off_the_tensor_shapes(tmp_path):
    _, checkpoint = _reference_checkpoint(tmp_path)
    assert convert(checkpoint)[1].config == tiny_config()


def test_unused_reference_layer_norms_are_reported_as_dropped(tmp_path):
    _, checkpoint = _reference_checkpoint(tmp_path)
    dropped = convert(checkpoint)[1].dropped
    assert sorted(dropped) == sorted(
        f"encoders.after_norm_{s}.{p}" for s in ("vid", "aud") for p in ("weight", "bias")
    )


def test_unmapped_key_raises_an_error_naming_it(tmp_path):
    _, checkpoint = _reference_checkpoint(tmp_path)
    checkpoint["state_dict"]["encoders.fusion.gate.weight"] = torch.zeros(1)
    with pytest.raises(UnmappedKeyError, match="encoders.fusion.gate.weight"):
        convert(checkpoint)


def test_foreign_checkpoint_is_rejected_with_its_keys():
    with pytest.raises(UnknownCheckpointError, match="model.fc.weight"):
        convert({"model.fc.weight": torch.zeros(2, 2)})


# module names and shapes of the reference's paper-size model (papers.md §4.3)
PAPER_SHAPES = {
    "encoders.frontend_vid.frontend3D.0.weight": (64, 1, 5, 7, 7),
    "encoders.frontend_vid.frontend3D.1.running_var": (64,),
    "encoders.frontend_vid.trunk.layer1.0.conv1.weight": (64, 64, 3, 3),
    "encoders.frontend_vid.trunk.layer2.0.downsample.0.weight": (128, 64, 1, 1),
    "encoders.frontend_vid.trunk.layer4.1.conv2.weight": (512, 512, 3, 3),
    "encoders.frontend_aud.trunk.conv1.weight": (64, 1, 80),
    "encoders.frontend_aud.trunk.bn1.weight": (64,),
    "encoders.frontend_aud.trunk.layer4.1.bn2.weight": (512,),
    "encoders.fusion.score_vid.score.0.weight": (1024, 512, 7),
    "encoders.fusion.score_vid.score.3.weight": (1024, 1024, 7),
    "encoders.fusion.score_vid.score.6.weight": (512, 1024, 7),
    "encoders.fusion.score_vid.score.7.running_mean": (512,),
    "encoders.fusion.score_aud.score.0.weight": (1024, 512, 7),
    "encoders.fusion.score_aud.score.7.weight": (512,),
    "encoders.embed.0.weight": (256, 512),
    "encoders.encoders.0.self_attn.linear_q.weight": (256, 256),
    "encoders.encoders.11.self_attn.linear_pos.weight": (256, 256),
    "encoders.encoders.11.self_attn.pos_bias_u": (4, 64),
    "encoders.encoders.11.self_attn.pos_bias_v": (4, 64),
    "encoders.encoders.11.feed_forward.w_1.weight": (2048, 256),
    "encoders.encoders.11.feed_forward_macaron.w_2.weight": (256, 2048),
    "encoders.encoders.11.conv_module.pointwise_cov1.weight": (512, 256, 1),
    "encoders.encoders.11.conv_module.depthwise_conv.weight": (256, 1, 31),
    "encoders.encoders.11.conv_module.norm.running_var": (256,),
    "encoders.encoders.11.conv_module.pointwise_cov2.weight": (256, 256, 1),
    "encoders.encoders.11.norm_ff.weight": (256,),
    "encoders.encoders.11.norm_mha.weight": (256,),
    "encoders.encoders.11.norm_ff_macaron.weight": (256,),
    "encoders.encoders.11.norm_conv.weight": (256,),
    "encoders.encoders.11.norm_final.weight": (256,),
    "encoders.after_norm.weight": (256,),
    "encoders.after_norm_vid.weight": (256,),
    "encoders.after_norm_aud.bias": (256,),
    "decoder.embed.0.weight": (41, 256),
    "decoder.decoders.5.self_attn.linear_v.weight": (256, 256),
    "decoder.decoders.5.src_attn.linear_out.weight": (256, 256),
    "decoder.decoders.5.feed_forward.w_1.weight": (2048, 256),
    "decoder.decoders.5.norm3.weight": (256,),
    "decoder.after_norm.weight": (256,),
    "decoder.output_layer.weight": (41, 256),
    "ctc.ctc_lo.weight": (41, 256),
}


def test_paper_checkpoint_layout_has_the_reference_names_and_shapes_and_loads_strictly():
    with torch.device("meta"):  # shapes only: no 85.7 M parameters to allocate
        model = AVRelScore(CONFIGS["paper"])
    reference = export(model.state_dict(), "avrelscore")
    for name, shape in PAPER_SHAPES.items():
        assert tuple(reference[name].shape) == shape, name
    layers = {k.split(".")[2] for k in reference if k.startswith("encoders.encoders.")}
    assert len(layers) == 12
    assert len({k.split(".")[2] for k in reference if k.startswith("decoder.decoders.")}) == 6
    state_dict, report = convert({"state_dict": reference})
    assert report.config == CONFIGS["paper"]
    with torch.device("meta"):
        target = AVRelScore(report.config)
    target.load_state_dict(state_dict, strict=True)
    weights = [t for k, t in reference.items() if "running_" not in k and "num_batches" not in k]
    assert sum(t.numel() for t in weights) == 85_719_698  # the reference E2E's parameter count


def test_variant_without_a_reference_counterpart_cannot_be_exported():
    with pytest.raises(ValueError, match="av_concat"):
        export({}, "av_concat")
