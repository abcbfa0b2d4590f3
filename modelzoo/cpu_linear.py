"""Dense layers for CPU inference, run by whichever matrix library is fastest on this processor.

PyTorch's CPU `F.linear` calls MKL's sgemm on the weight as it is. On this project's 2-core
machines:
- AMD EPYC (bench/avsr.py, an earlier session): MKL takes a generic code path there, and oneDNN's
  matmul primitive (`mkldnn._linear_pointwise`, what inductor's CPU backend emits) ran the
  decoder's float32 products about twice as fast, activation fused in.
- Intel Xeon with AVX-512 (timed layer by layer): plain sgemm is at least as fast as oneDNN for
  most shapes, but both are slow at exactly 40 rows (a beam of 40): a 256 -> 2048 layer takes
  600 us, more than at 80 rows. MKL's packed sgemm (`mkl._mkl_linear`, inductor's float32 choice
  on Intel) with the weight packed for that row count takes 210 us.
So the backend is chosen once per process, on first use, from the processor's vendor: "mkl" on
Intel (packed weights where the caller made them for its row count, `pack`, plain sgemm
elsewhere), "onednn" on other x86 processors, "aten" (plain `F.linear`) elsewhere;
`SYNCLAB_CPU_LINEAR` overrides it. None of the fast paths has a backward, so they run only when
autograd is off; training and other devices take `F.linear`. All backends give the same products
to float rounding. Models opt in: `avrelscore.inference.optimize_for_inference` puts `Linear`
in place of their `nn.Linear` layers.
"""

import functools
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from modelzoo import onednn

ACTIVATIONS = {"none": lambda x: x, "relu": torch.relu, "tanh": torch.tanh, "swish": F.silu}
BACKENDS = ("mkl", "onednn", "aten")


def cpu_info(field: str) -> str:
    """A field of Linux's /proc/cpuinfo for the first processor ("vendor_id", "model name"), or
    "" where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() == field:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_vendor() -> str:
    """The processor's vendor id ("GenuineIntel", "AuthenticAMD", ...) or "" if unknown."""
    return cpu_info("vendor_id") or platform.processor()


def choose_backend() -> str:
    """The backend for this process: SYNCLAB_CPU_LINEAR if set, else by processor vendor."""
    chosen = os.environ.get("SYNCLAB_CPU_LINEAR", "").strip().lower()
    if chosen:
        if chosen not in BACKENDS:
            raise ValueError(f"SYNCLAB_CPU_LINEAR={chosen!r} is not one of {', '.join(BACKENDS)}")
        return chosen
    if not onednn.x86():
        return "aten"
    if "intel" in cpu_vendor().lower() and torch.backends.mkl.is_available():
        return "mkl"
    return "onednn"


@functools.cache
def backend() -> str:
    """`choose_backend()`, asked once per process when a dense layer first runs."""
    return choose_backend()


@dataclass(frozen=True)
class Packed:
    """A weight packed by MKL for inputs of exactly `rows` rows (`pack`)."""

    weight: torch.Tensor
    rows: int


def _fast(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether a fast path may run: float32 on the CPU of an x86 machine, autograd off."""
    cpu = onednn.x86() and x.device.type == "cpu" and x.dtype == weight.dtype == torch.float32
    return cpu and not torch.is_grad_enabled()


def pack(weight: torch.Tensor, rows: int) -> Packed | None:
    """`weight` (out, in) packed for `linear` calls on `rows` input rows, or None where the
    backend has no use for it. Call it again after the weight changes: it holds a copy."""
    if backend() != "mkl" or not _fast(weight, weight):
        return None
    return Packed(torch.ops.mkl._mkl_reorder_linear_weight(weight.detach(), rows), rows)


def linear(x, weight, bias=None, activation: str = "none", packed: Packed | None = None):
    """activation(x @ weight.T + bias) by the process's backend; `packed` from `pack(weight, n)`
    is used when x has n rows."""
    if _fast(x, weight):
        if backend() == "onednn" and onednn.available(x):
            return torch.ops.mkldnn._linear_pointwise(x, weight, bias, activation, [], "")
        if packed is not None and x.numel() // x.size(-1) == packed.rows:
            out = torch.ops.mkl._mkl_linear(x, packed.weight, weight, bias, packed.rows)
            return ACTIVATIONS[activation](out)
    return ACTIVATIONS[activation](F.linear(x, weight, bias))


class Linear(nn.Linear):
    """`nn.Linear` (same parameters and state dict) then `activation`, computed by `linear`."""

    def __init__(self, in_features, out_features, bias=True, activation="none", **factory):
        super().__init__(in_features, out_features, bias, **factory)
        self.activation = activation

    @classmethod
    def sharing(cls, layer: nn.Linear, activation: str = "none") -> "Linear":
        """A `Linear` with `layer`'s parameters (the same tensors, not copies)."""
        shared = cls(layer.in_features, layer.out_features, False, activation, device="meta")
        shared.weight, shared.bias = layer.weight, layer.bias
        return shared

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias, self.activation)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={self.activation}"
