"""modelzoo.cpu_linear: each backend gives nn.Linear's results; fast paths only without autograd."""

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from modelzoo import cpu_linear, onednn

FAST_OPS = {"mkl": "mkl::_mkl_linear", "onednn": "mkldnn::_linear_pointwise"}


def ops_called(run) -> set[str]:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    return {event.name for event in prof.events()}


def runnable(backend: str) -> bool:
    if backend == "mkl":
        return onednn.x86() and torch.backends.mkl.is_available()
    if backend == "onednn":
        return onednn.x86() and torch.backends.mkldnn.is_available()
    return True


@pytest.fixture(params=cpu_linear.BACKENDS)
def backend(request, monkeypatch):
    if not runnable(request.param):
        pytest.skip(f"this machine or torch build cannot run the {request.param} backend")
    monkeypatch.setattr(cpu_linear, "backend", lambda: request.param)
    return request.param


@pytest.mark.parametrize("activation", sorted(cpu_linear.ACTIVATIONS))
@pytest.mark.parametrize("shape", [(7, 24), (2, 5, 24), (3, 0, 24)])
def test_inference_matches_nn_linear(backend, activation, shape):
    torch.manual_seed(0)
    layer = cpu_linear.Linear(24, 40, activation=activation)
    x = torch.randn(*shape)
    expected = cpu_linear.ACTIVATIONS[activation](F.linear(x, layer.weight, layer.bias))
    rows = x.numel() // x.size(-1)
    with torch.inference_mode():
        plain = layer(x)
        packed_weight = cpu_linear.pack(layer.weight, rows)
        packed = cpu_linear.linear(x, layer.weight, layer.bias, activation, packed_weight)
    for got in (plain, packed):
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def linear(layer, x, packed):
    return cpu_linear.linear(x, layer.weight, layer.bias, packed=packed)


def test_packed_weights_run_only_for_their_row_count(backend):
    layer = cpu_linear.Linear(16, 8)
    with torch.no_grad():
        packed = cpu_linear.pack(layer.weight, 4)
        assert (packed is not None) == (backend == "mkl")
        called = ops_called(lambda: linear(layer, torch.randn(4, 16), packed))
        other_rows = ops_called(lambda: linear(layer, torch.randn(5, 16), packed))
    if backend == "mkl":
        assert FAST_OPS["mkl"] in called and FAST_OPS["mkl"] not in other_rows
    if backend == "onednn":
        assert FAST_OPS["onednn"] in called and FAST_OPS["onednn"] in other_rows


def test_fast_paths_run_only_without_autograd(backend):
    layer = cpu_linear.Linear(16, 8)
    x = torch.randn(4, 16)
    with torch.no_grad():
        packed = cpu_linear.pack(layer.weight, 4)
    with_grad = ops_called(lambda: linear(layer, x, packed))
    assert not with_grad & set(FAST_OPS.values())
    assert linear(layer, x, packed).requires_grad


def test_training_gets_nn_linear_gradients(backend):
    torch.manual_seed(0)
    layer = cpu_linear.Linear(16, 8, activation="relu")
    reference = torch.nn.Linear(16, 8)
    reference.load_state_dict(layer.state_dict())
    x = torch.randn(4, 16)
    layer(x).sum().backward()
    torch.relu(reference(x)).sum().backward()
    torch.testing.assert_close(layer.weight.grad, reference.weight.grad)
    torch.testing.assert_close(layer.bias.grad, reference.bias.grad)


def test_same_state_dict_as_nn_linear():
    assert cpu_linear.Linear(6, 3).state_dict().keys() == torch.nn.Linear(6, 3).state_dict().keys()
    assert "bias" not in cpu_linear.Linear(6, 3, bias=False).state_dict()


@pytest.mark.parametrize("bias", [True, False])
def test_sharing_takes_the_layers_parameters_themselves(bias):
    layer = torch.nn.Linear(6, 3, bias=bias)
    shared = cpu_linear.Linear.sharing(layer, activation="tanh")
    assert shared.weight is layer.weight and shared.bias is layer.bias
    x = torch.randn(2, 6)
    torch.testing.assert_close(shared(x), torch.tanh(layer(x)))


def test_other_dtypes_take_the_ordinary_op(backend):
    layer = cpu_linear.Linear(8, 4).double()
    x = torch.randn(3, 8, dtype=torch.float64)
    with torch.no_grad():
        assert cpu_linear.pack(layer.weight, 3) is None
        assert not ops_called(lambda: layer(x)) & set(FAST_OPS.values())
        torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))


def test_other_processors_take_the_ordinary_op(backend, monkeypatch):
    monkeypatch.setattr(onednn, "x86", lambda: False)
    layer = cpu_linear.Linear(8, 4)
    with torch.no_grad():
        assert cpu_linear.pack(layer.weight, 3) is None
        assert not ops_called(lambda: layer(torch.randn(3, 8))) & set(FAST_OPS.values())


@pytest.mark.parametrize(
    ("environment", "vendor", "expected"),
    [
        ("", "GenuineIntel", "mkl"),
        ("", "AuthenticAMD", "onednn"),
        ("aten", "GenuineIntel", "aten"),
        ("ONEDNN", "GenuineIntel", "onednn"),
    ],
)
def test_backend_follows_the_vendor_unless_the_environment_names_one(
    monkeypatch, environment, vendor, expected
):
    monkeypatch.setenv("SYNCLAB_CPU_LINEAR", environment)
    monkeypatch.setattr(cpu_linear, "cpu_vendor", lambda: vendor)
    monkeypatch.setattr(onednn, "x86", lambda: True)
    assert cpu_linear.choose_backend() == expected


def test_an_unknown_backend_in_the_environment_is_named(monkeypatch):
    monkeypatch.setenv("SYNCLAB_CPU_LINEAR", "blas")
    with pytest.raises(ValueError, match="SYNCLAB_CPU_LINEAR='blas'"):
        cpu_linear.choose_backend()


def test_the_backend_is_chosen_on_first_use_not_at_import():
    """An unknown backend in the environment fails the first dense layer, not the import of the
    model library: nothing is read from the environment at import."""
    env = {**os.environ, "SYNCLAB_CPU_LINEAR": "blas"}
    code = "import modelzoo.avrelscore.inference; from modelzoo import cpu_linear; {}"
    imported = subprocess.run([sys.executable, "-c", code.format("")], env=env)
    assert imported.returncode == 0
    used = subprocess.run(
        [sys.executable, "-c", code.format("cpu_linear.backend()")], env=env, capture_output=True
    )
    assert used.returncode != 0 and b"SYNCLAB_CPU_LINEAR='blas'" in used.stderr
