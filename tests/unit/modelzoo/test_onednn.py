"""modelzoo.onednn: oneDNN dense layers give nn.Linear's results, and only when autograd is off."""

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from modelzoo import onednn

pytestmark = pytest.mark.skipif(
    not torch.backends.mkldnn.is_available(), reason="this torch build has no oneDNN"
)


def ops_called(run) -> set[str]:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    return {event.name for event in prof.events()}


@pytest.mark.parametrize("activation", sorted(onednn.ACTIVATIONS))
@pytest.mark.parametrize("shape", [(7, 24), (2, 5, 24), (3, 0, 24)])
def test_inference_matches_nn_linear(activation, shape):
    torch.manual_seed(0)
    layer = onednn.Linear(24, 40)
    x = torch.randn(*shape)
    expected = onednn.ACTIVATIONS[activation](F.linear(x, layer.weight, layer.bias))
    with torch.inference_mode():
        got = layer(x, activation=activation)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_onednn_runs_only_without_autograd():
    layer = onednn.Linear(16, 8)
    x = torch.randn(4, 16)
    with torch.no_grad():
        assert "mkldnn::_linear_pointwise" in ops_called(lambda: layer(x))
    assert "mkldnn::_linear_pointwise" not in ops_called(lambda: layer(x))


def test_training_gets_nn_linear_gradients():
    torch.manual_seed(0)
    layer = onednn.Linear(16, 8)
    reference = torch.nn.Linear(16, 8)
    reference.load_state_dict(layer.state_dict())
    x = torch.randn(4, 16)
    layer(x, activation="relu").sum().backward()
    torch.relu(reference(x)).sum().backward()
    torch.testing.assert_close(layer.weight.grad, reference.weight.grad)
    torch.testing.assert_close(layer.bias.grad, reference.bias.grad)


def test_same_state_dict_as_nn_linear():
    assert onednn.Linear(6, 3).state_dict().keys() == torch.nn.Linear(6, 3).state_dict().keys()
    assert "bias" not in onednn.Linear(6, 3, bias=False).state_dict()


def test_other_dtypes_take_the_ordinary_op():
    layer = onednn.Linear(8, 4).double()
    x = torch.randn(3, 8, dtype=torch.float64)
    with torch.no_grad():
        assert "mkldnn::_linear_pointwise" not in ops_called(lambda: layer(x))
        torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))


def test_other_processors_take_the_ordinary_op(monkeypatch):
    monkeypatch.setattr(onednn, "X86", False)
    layer = onednn.Linear(8, 4)
    with torch.no_grad():
        assert "mkldnn::_linear_pointwise" not in ops_called(lambda: layer(torch.randn(3, 8)))
