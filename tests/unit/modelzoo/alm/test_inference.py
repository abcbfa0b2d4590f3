import pytest
import torch
from torch import nn

from modelzoo.alm.inference import FusedConv, optimize_for_inference
from modelzoo.alm.model import ALMConfig, AudioLipMemoryModel, QualityDiscriminator
from modelzoo.cals.model import CALSConfig, CALSModel

TINY_ALM = ALMConfig(width=32, num_slots=8)
TINY_CALS = CALSConfig(width=32, context=2, a2l_layers=1, a2l_heads=2, a2l_ffn=32)


def trained_looking(model):
    """Batch norms with statistics and affine terms far from their initial identity."""
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.3, 3.0)
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.2, 0.2)
    return model.eval()


def alm_inputs(n):
    return torch.randn(n, 1, 80, 16), torch.rand(n, 6, 128, 128) * 2 - 1


@pytest.mark.parametrize("onednn", [True, False])
def test_optimised_alm_generates_the_eager_frames(onednn):
    model = trained_looking(AudioLipMemoryModel(TINY_ALM))
    fast = optimize_for_inference(model)
    mels, faces = alm_inputs(4)
    with torch.backends.mkldnn.flags(enabled=onednn):
        torch.testing.assert_close(fast.generate(mels, faces), model.generate(mels, faces))


def test_optimised_alm_keeps_matching_when_the_batch_size_changes():
    model = trained_looking(AudioLipMemoryModel(TINY_ALM))
    fast = optimize_for_inference(model)
    mels, faces = alm_inputs(5)
    fast.generate(mels[:2], faces[:2])  # the packed weights are made for this first shape
    torch.testing.assert_close(fast.generate(mels, faces), model.generate(mels, faces))


def test_optimised_cals_generates_the_eager_frames():
    model = trained_looking(CALSModel(TINY_CALS))
    fast = optimize_for_inference(model)
    w = TINY_CALS.context
    faces = torch.rand(1, 6, 3, 128, 128) * 2 - 1
    mels, valid = torch.randn(1, 3 + 2 * w, 1, 80, 16), torch.ones(1, 3 + 2 * w, dtype=torch.bool)
    with torch.inference_mode():
        torch.testing.assert_close(fast(faces, mels, valid), model(faces, mels, valid))


def test_every_inference_convolution_is_fused_and_the_original_is_untouched():
    model = AudioLipMemoryModel(TINY_ALM)
    keys = set(model.state_dict())
    fast = optimize_for_inference(model)
    assert set(model.state_dict()) == keys and model.training
    for name in ("audio_encoder", "face_encoder_blocks", "face_decoder_blocks", "output_block"):
        layers = list(getattr(fast, name).modules())
        assert not any(isinstance(m, (nn.BatchNorm2d, nn.Conv2d, nn.Tanh)) for m in layers)
        assert any(isinstance(m, FusedConv) for m in layers)
    assert not fast.training and not any(p.requires_grad for p in fast.parameters())


def test_only_face_generators_are_optimised():
    with pytest.raises(TypeError, match="QualityDiscriminator"):
        optimize_for_inference(QualityDiscriminator(TINY_ALM))


def test_a_still_face_is_encoded_once_and_gives_the_per_frame_result():
    model = trained_looking(AudioLipMemoryModel(TINY_ALM))
    mels, faces = alm_inputs(3)
    still = faces[:1].expand(3, -1, -1, -1).contiguous()
    calls = []
    model.face_encoder_blocks[0].register_forward_hook(lambda m, i, o: calls.append(len(o)))
    frames = model.generate(mels, still)
    assert calls == [1]
    torch.testing.assert_close(
        frames, torch.cat([model.generate(m, still[:1]) for m in mels[:, None]])
    )
