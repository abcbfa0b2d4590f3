"""Inference-only form of the face generators (Audio-Lip Memory and CALS's Lip-to-Face module).

`optimize_for_inference(model)` returns a copy of a trained `FaceGenerator` whose conv + batch norm
+ ReLU blocks (and the residual adds) run as single oneDNN primitives on the CPU: batch norm folded
into the convolution (as `torch.nn.utils.fusion` folds it), weights reordered once into oneDNN's
blocked layout, activations kept channels-last. This is the recipe inductor's CPU freezing passes
apply (`torch/_inductor/fx_passes/mkldnn_fusion.py`) without needing a compiler at run time. The
copy computes the same frames as the eager model (to float rounding) through the same methods
(`generate`, `forward`); it is for inference only: its state dict is not the checkpoint layout,
so save and convert the original. On other devices the copy runs the folded weights through
ordinary PyTorch ops.
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from modelzoo import onednn
from modelzoo.alm.model import ConvTransposeBlock, FaceGenerator
from modelzoo.syncnet.model import ConvBlock

# The generator modules that inference runs; the lip encoder only serves training losses.
INFERENCE_MODULES = ("audio_encoder", "face_encoder_blocks", "face_decoder_blocks", "output_block")


class FusedConv(nn.Module):
    """One (transposed) convolution with its batch norm folded in, an optional residual add of
    the input, then an activation ("relu", "tanh" or "none")."""

    def __init__(self, conv, bn=None, activation="relu", residual=False):
        super().__init__()
        self.transposed = isinstance(conv, nn.ConvTranspose2d)
        weight, bias = conv.weight.detach(), conv.bias
        bias = torch.zeros(weight.size(1 if self.transposed else 0)) if bias is None else bias
        if bn is not None:
            weight, bias = fuse_conv_bn_weights(
                weight,
                bias,
                bn.running_mean,
                bn.running_var,
                bn.eps,
                bn.weight,
                bn.bias,
                transpose=self.transposed,
            )
        self.register_buffer(
            "weight", weight.detach().contiguous(memory_format=torch.channels_last)
        )
        self.register_buffer("bias", bias.detach().clone())
        self.padding, self.stride = list(conv.padding), list(conv.stride)
        self.dilation, self.groups = list(conv.dilation), conv.groups
        self.output_padding = list(conv.output_padding) if self.transposed else None
        self.activation, self.residual = activation, residual
        self.packed = None  # the weight in oneDNN's blocked layout, made on the first CPU call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        if onednn.available(x):
            return self._onednn(x)
        if self.transposed:
            out = F.conv_transpose2d(
                x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                self.groups, self.dilation,
            )  # fmt: skip
        else:
            out = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
        if self.residual:
            out = out + x
        return {"relu": torch.relu, "tanh": torch.tanh, "none": lambda t: t}[self.activation](out)

    def _onednn(self, x: torch.Tensor) -> torch.Tensor:
        mkldnn = torch.ops.mkldnn
        if self.transposed:
            args = [self.padding, self.output_padding, self.stride, self.dilation, self.groups]
            if self.packed is None:
                self.packed = mkldnn._reorder_convolution_transpose_weight(
                    self.weight, *args, list(x.shape)
                )
            return mkldnn._convolution_transpose_pointwise(
                x, self.packed, self.bias, *args, self.activation, [], ""
            )
        args = [self.padding, self.stride, self.dilation, self.groups]
        if self.packed is None:
            self.packed = mkldnn._reorder_convolution_weight(self.weight, *args, list(x.shape))
        if self.residual:  # conv(x) + x, then the activation, in one primitive
            return mkldnn._convolution_pointwise.binary(
                x, x, self.packed, self.bias, *args, "add", None, self.activation, [], ""
            )
        return mkldnn._convolution_pointwise(
            x, self.packed, self.bias, *args, self.activation, [], ""
        )


def _fuse(module: nn.Module) -> nn.Module:
    """The module with every conv block below it replaced by a `FusedConv`."""
    if isinstance(module, ConvBlock):
        conv, bn = module.conv_block
        return FusedConv(conv, bn, "relu", residual=module.residual)
    if isinstance(module, ConvTransposeBlock):
        conv, bn = module.conv_block
        return FusedConv(conv, bn, "relu")
    if isinstance(module, nn.Sequential):
        layers, children = [], list(module)
        for i, child in enumerate(children):
            following = children[i + 1] if i + 1 < len(children) else None
            if isinstance(child, nn.Conv2d) and isinstance(following, nn.Tanh):
                layers.append(FusedConv(child, None, "tanh"))  # the output block's last conv
            elif isinstance(child, nn.Tanh) and i > 0 and isinstance(children[i - 1], nn.Conv2d):
                continue  # fused into the convolution before it
            else:
                layers.append(_fuse(child))
        return nn.Sequential(*layers)
    if isinstance(module, nn.ModuleList):
        return nn.ModuleList(_fuse(child) for child in module)
    return module


def optimize_for_inference(model: FaceGenerator, *, inplace: bool = False) -> FaceGenerator:
    """A copy of `model` (or `model` itself with `inplace=True`) in eval mode, without gradients,
    with fused convolutions; call it after moving the model to its device."""
    if not isinstance(model, FaceGenerator):
        raise TypeError(f"expected a face generator (ALM or CALS), not {type(model).__name__}")
    fast = model if inplace else copy.deepcopy(model)
    fast.eval().requires_grad_(False)
    device = next(fast.parameters()).device
    for name in INFERENCE_MODULES:
        setattr(fast, name, _fuse(getattr(fast, name)).to(device))
    fast.is_optimized_for_inference = True
    return fast
