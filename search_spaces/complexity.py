"""Analytic FLOPs and parameters of timm's ResNet-'d', counted as fvcore counts them.

Written in the manner of pycls's `complexity(cx, ...)`: one tiny counter per op, one function per
block, composed in the order of `timm.models.resnet.ResNet.forward`, so that the count reads like
the network. fvcore's conventions (eval mode): a multiply-add is one FLOP; a convolution costs
`out_ch * in_ch / groups * k * k * out_h * out_w`; batch norm `2 * numel` of its input; adaptive
average pooling `numel` of its input; a linear layer `in * out`; ReLU, max/average pooling and the
residual add cost nothing.

Every counter is plain integer arithmetic, so a channel argument may be a numpy integer array:
one call then counts a whole batch of architectures (what the budget sampler does).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence, Union

import numpy as np

from search_spaces.arch import EXPANSION, STEM_WIDTH

Int = Union[int, np.ndarray]


class Cx(NamedTuple):
    """Running complexity: current feature-map size and accumulated FLOPs and parameters."""

    h: int
    w: int
    flops: Int = 0
    params: Int = 0


# ---- primitive counters (one per op) ----------------------------------------------------------

def conv2d(cx: Cx, cin: Int, cout: Int, k: int, stride: int = 1, pad: int = 0) -> Cx:
    """A bias-free `nn.Conv2d`."""
    h = (cx.h + 2 * pad - k) // stride + 1
    w = (cx.w + 2 * pad - k) // stride + 1
    weights = cout * cin * k * k
    return Cx(h, w, cx.flops + weights * h * w, cx.params + weights)


def norm2d(cx: Cx, c: Int) -> Cx:
    """An affine `nn.BatchNorm2d` in eval mode (fvcore: 2 FLOPs per element)."""
    return Cx(cx.h, cx.w, cx.flops + 2 * c * cx.h * cx.w, cx.params + 2 * c)


def pool2d(cx: Cx, k: int, stride: int, pad: int = 0, ceil_mode: bool = False) -> Cx:
    """Max or average pooling: changes the size, costs nothing in fvcore."""
    def out(n: int) -> int:
        span = n + 2 * pad - k
        size = (-(-span // stride) if ceil_mode else span // stride) + 1
        # PyTorch drops a last window that would start inside the right padding only
        return size - 1 if ceil_mode and (size - 1) * stride >= n + pad else size
    return Cx(out(cx.h), out(cx.w), cx.flops, cx.params)


def global_avg_pool(cx: Cx, c: Int) -> Cx:
    """`adaptive_avg_pool2d` to 1x1 (fvcore: 1 FLOP per input element)."""
    return Cx(1, 1, cx.flops + c * cx.h * cx.w, cx.params)


def linear(cx: Cx, cin: Int, cout: Int) -> Cx:
    """`nn.Linear` with bias (fvcore counts the multiply-adds only)."""
    return Cx(cx.h, cx.w, cx.flops + cin * cout, cx.params + cin * cout + cout)


def branch(cx: Cx) -> Cx:
    """A fresh count at the same feature-map size, for a side path such as a shortcut."""
    return Cx(cx.h, cx.w)


# ---- blocks (one per timm module) ---------------------------------------------------------------

def deep_stem(cx: Cx, width: int = STEM_WIDTH) -> Cx:
    """`conv1` (3x3 s2, 3x3, 3x3) + `bn1` + `act1` + `maxpool` of a 'deep' stem."""
    cx = norm2d(conv2d(cx, 3, width, 3, stride=2, pad=1), width)
    cx = norm2d(conv2d(cx, width, width, 3, pad=1), width)
    cx = norm2d(conv2d(cx, width, 2 * width, 3, pad=1), 2 * width)
    return pool2d(cx, 3, stride=2, pad=1)


def downsample_avg(cx: Cx, cin: Int, cout: Int, stride: int) -> Cx:
    """timm's `downsample_avg`: 2x2 ceil-mode average pool (when strided), 1x1 conv, norm."""
    if stride != 1:
        cx = pool2d(cx, 2, stride, ceil_mode=True)
    return norm2d(conv2d(cx, cin, cout, 1), cout)


def shortcut(cx: Cx, cin: Int, cout: Int, stride: int) -> Cx:
    """The projection shortcut's cost; timm builds one only where the shape changes.

    With array channels the condition is evaluated per architecture.
    """
    needed = (stride != 1) | (np.asarray(cin) != np.asarray(cout))
    proj = downsample_avg(branch(cx), cin, cout, stride)
    if np.ndim(needed) == 0:
        needed = bool(needed)
    return Cx(cx.h, cx.w, needed * proj.flops, needed * proj.params)


def basic_block(cx: Cx, cin: Int, planes: Int, stride: int) -> Cx:
    """timm's `BasicBlock`: 3x3 (strided) + norm, 3x3 + norm, shortcut."""
    sc = shortcut(cx, cin, planes, stride)
    cx = norm2d(conv2d(cx, cin, planes, 3, stride=stride, pad=1), planes)
    cx = norm2d(conv2d(cx, planes, planes, 3, pad=1), planes)
    return Cx(cx.h, cx.w, cx.flops + sc.flops, cx.params + sc.params)


def bottleneck_block(cx: Cx, cin: Int, planes: Int, stride: int) -> Cx:
    """timm's `Bottleneck`: 1x1 + norm, 3x3 (strided) + norm, 1x1 to 4x planes + norm, shortcut."""
    cout = planes * EXPANSION["bottleneck"]
    sc = shortcut(cx, cin, cout, stride)
    cx = norm2d(conv2d(cx, cin, planes, 1), planes)
    cx = norm2d(conv2d(cx, planes, planes, 3, stride=stride, pad=1), planes)
    cx = norm2d(conv2d(cx, planes, cout, 1), cout)
    return Cx(cx.h, cx.w, cx.flops + sc.flops, cx.params + sc.params)


BLOCK_COMPLEXITY = {"basic": basic_block, "bottleneck": bottleneck_block}


def stage(cx: Cx, block: str, cin: Int, planes: Int, depth: Int, stride: int) -> Cx:
    """A stage: one (strided) first block, then `depth - 1` identical stride-1 blocks."""
    block_fn = BLOCK_COMPLEXITY[block]
    cx = block_fn(cx, cin, planes, stride)
    rest = block_fn(branch(cx), planes * EXPANSION[block], planes, 1)
    return Cx(cx.h, cx.w, cx.flops + (depth - 1) * rest.flops, cx.params + (depth - 1) * rest.params)


def resnet(cx: Cx, block: str, depths: Sequence[Int], widths: Sequence[Int], outputs: int) -> Cx:
    """The whole timm `ResNet(stem_type='deep', avg_down=True)`: stem, stages, pooled linear head."""
    cx = deep_stem(cx)
    cin: Int = 2 * STEM_WIDTH
    for i, (depth, planes) in enumerate(zip(depths, widths)):
        cx = stage(cx, block, cin, planes, depth, stride=1 if i == 0 else 2)
        cin = planes * EXPANSION[block]
    cx = global_avg_pool(cx, cin)
    return linear(cx, cin, outputs)
