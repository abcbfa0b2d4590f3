"""Whether oneDNN's fused CPU primitives can run here: x86, a torch build with oneDNN, float32.

The fused pointwise primitives (`mkldnn._convolution_pointwise`, `_linear_pointwise`) are the x86
backend's (inductor emits them only there); ARM builds of oneDNN may lack them, so other
processors take the ordinary ops. Users: the face generators' fused convolutions
(`alm.inference`) and the dense layers' "onednn" backend (`cpu_linear`).
"""

import functools
import platform

import torch


@functools.cache
def x86() -> bool:
    """Whether this is an x86 machine; asked on first use rather than at import."""
    return platform.machine().lower() in {"x86_64", "amd64"}


def available(x: torch.Tensor) -> bool:
    """Whether oneDNN can run float32 inference on `x`'s device."""
    cpu = x86() and x.device.type == "cpu" and x.dtype == torch.float32
    return cpu and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
