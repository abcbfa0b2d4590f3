"""oneDNN fast paths for inference on the CPU: dense layers as single fused oneDNN primitives.

PyTorch's CPU `F.linear` goes to MKL's sgemm, which on AMD processors runs a generic code path;
oneDNN's matmul primitive (the one inductor's CPU backend emits, `mkldnn._linear_pointwise`) takes
the same float32 weights and computes the same products about twice as fast on this project's
EPYC machines (bench/avsr.py), with the activation fused in. It has no backward, so it is used only
when autograd is off (`torch.no_grad` / `torch.inference_mode`); training and other devices take
the ordinary ops.
"""

import platform

import torch
import torch.nn.functional as F
from torch import nn

# The fused pointwise primitives are the x86 backend's (inductor emits them only there); ARM builds
# of oneDNN may lack them, so other processors take the ordinary ops.
X86 = platform.machine().lower() in {"x86_64", "amd64"}
ACTIVATIONS = {"none": lambda x: x, "relu": torch.relu, "tanh": torch.tanh, "swish": F.silu}


def available(x: torch.Tensor) -> bool:
    """Whether oneDNN can run float32 inference on `x`'s device."""
    cpu = X86 and x.device.type == "cpu" and x.dtype == torch.float32
    return cpu and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled


def linear(x, weight, bias=None, activation: str = "none") -> torch.Tensor:
    """activation(x @ weight.T + bias), one oneDNN primitive when autograd is off on the CPU."""
    if available(x) and weight.dtype == torch.float32 and not torch.is_grad_enabled():
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, activation, [], "")
    return ACTIVATIONS[activation](F.linear(x, weight, bias))


class Linear(nn.Linear):
    """`nn.Linear` (same parameters and state dict) whose inference uses `linear` above."""

    def forward(self, x: torch.Tensor, activation: str = "none") -> torch.Tensor:
        return linear(x, self.weight, self.bias, activation)
