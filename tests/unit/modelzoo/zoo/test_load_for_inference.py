"""load_for_inference: generators come back fused for inference, recognisers with fast dense
layers, other models as loaded."""

import torch

from modelzoo import cpu_linear
from modelzoo.alm.inference import FusedConv
from modelzoo.alm.model import ALMConfig, AudioLipMemoryModel
from modelzoo.avrelscore.model import CONFIGS, AVRelScore
from modelzoo.syncnet.model import SyncNet, SyncNetConfig
from modelzoo.zoo.loading import load_for_inference, save


def test_generator_is_served_fused_and_gives_the_saved_models_frames(tmp_path):
    torch.manual_seed(0)
    eager = AudioLipMemoryModel(ALMConfig(width=32, num_slots=8)).eval()
    served = load_for_inference(str(save(eager, tmp_path / "alm", architecture="alm")))
    assert any(isinstance(m, FusedConv) for m in served.modules())
    mels, faces = torch.randn(2, 1, 80, 16), torch.rand(2, 6, 128, 128)
    with torch.inference_mode():
        assert torch.allclose(served.generate(mels, faces), eager.generate(mels, faces), atol=1e-4)


def test_recogniser_is_served_with_fast_dense_layers_and_the_saved_weights(tmp_path):
    model = AVRelScore(CONFIGS["demo"])
    served = load_for_inference(str(save(model, tmp_path / "asr", architecture="avrelscore")))
    assert type(served) is AVRelScore and not served.training
    assert isinstance(served.ctc_head, cpu_linear.Linear)
    for name, tensor in model.state_dict().items():
        assert torch.equal(served.state_dict()[name], tensor), name


def test_other_models_are_served_as_loaded(tmp_path):
    model = SyncNet(SyncNetConfig())
    served = load_for_inference(str(save(model, tmp_path / "judge", architecture="syncnet")))
    assert type(served) is SyncNet and not served.training
