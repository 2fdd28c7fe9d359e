"""Per-op complexity counters, counted as fvcore counts them, in the manner of pycls's `complexity(cx, ...)`.

One tiny counter per op; each space composes them in the order of its network's forward, so the count reads
like the network. fvcore's conventions (eval mode): a multiply-add is one FLOP; a convolution costs
`out_ch * in_ch / groups * k * k * out_h * out_w`; batch norm `2 * numel` of its input; adaptive average
pooling `numel` of its input; a linear layer `in * out`; activations, max/average pooling, element-wise
products and the residual add cost nothing.

Every counter is plain integer arithmetic, so a channel argument may be a numpy integer array: one call then
counts a whole batch of architectures (what the budget sampler does).
"""
from __future__ import annotations

from typing import NamedTuple, Union

import numpy as np

Int = Union[int, np.ndarray]


class Cx(NamedTuple):
    """Running complexity: current feature-map size and accumulated FLOPs and parameters."""

    h: int
    w: int
    flops: Int = 0
    params: Int = 0


def conv2d(cx: Cx, cin: Int, cout: Int, k: int, stride: int = 1, pad: int = 0, groups: Int = 1,
           bias: bool = False) -> Cx:
    """An `nn.Conv2d` (fvcore does not count the bias add)."""
    h = (cx.h + 2 * pad - k) // stride + 1
    w = (cx.w + 2 * pad - k) // stride + 1
    weights = cout * (cin // groups) * k * k
    return Cx(h, w, cx.flops + weights * h * w, cx.params + weights + (cout if bias else 0))


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


def merge(cx: Cx, side: Cx) -> Cx:
    """`cx` with the FLOPs and parameters of a side path added (the size stays `cx`'s)."""
    return Cx(cx.h, cx.w, cx.flops + side.flops, cx.params + side.params)


def where(needed: Int, side: Cx) -> Cx:
    """A side path counted only where `needed` (a bool, or a bool array per architecture)."""
    if np.ndim(needed) == 0:
        needed = bool(needed)
    return Cx(side.h, side.w, needed * side.flops, needed * side.params)


def repeat(cx: Cx, block: Cx, times: Int) -> Cx:
    """`cx` followed by `times` more copies of an identical block's cost (the size stays `cx`'s)."""
    return Cx(cx.h, cx.w, cx.flops + times * block.flops, cx.params + times * block.params)
