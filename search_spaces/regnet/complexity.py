"""Analytic FLOPs and parameters of timm's `RegNet`, block by block in the order of its forward.

Every channel argument may be a numpy array (one entry per network), so one call counts a whole batch.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from search_spaces.counters import Cx, Int, branch, conv2d, global_avg_pool, linear, merge, norm2d, repeat, where

STEM_WIDTH = 32
"""timm's `RegNetCfg.stem_width`: one 3x3 stride-2 conv + norm + ReLU."""


def stem(cx: Cx) -> Cx:
    """`stem`: a 3x3 stride-2 `ConvNormAct` from the 3 input channels."""
    return norm2d(conv2d(cx, 3, STEM_WIDTH, 3, stride=2, pad=1), STEM_WIDTH)


def squeeze_excite(cx: Cx, channels: Int, reduced: Int) -> Cx:
    """timm's `SEModule`: a mean over the map (`x.mean`, which fvcore does not count), two 1x1 convs with bias
    on the 1x1 result, a sigmoid gate and a product (free)."""
    side = conv2d(Cx(1, 1), channels, reduced, 1, bias=True)
    return merge(cx, conv2d(side, reduced, channels, 1, bias=True))


def bottleneck(cx: Cx, cin: Int, cout: Int, bot: Int, group_width: Int, stride: int, se: Int) -> Cx:
    """timm's RegNet `Bottleneck`: 1x1, grouped 3x3 (strided), SE (where `se` > 0) on the bottleneck width
    with `round(cin * se)` reduced channels, 1x1; a 1x1 strided conv + norm shortcut where the shape
    changes (every first block of a stage, which is strided)."""
    out = norm2d(conv2d(cx, cin, bot, 1), bot)
    out = norm2d(conv2d(out, bot, bot, 3, stride=stride, pad=1, groups=bot // group_width), bot)
    reduced = np.rint(np.asarray(cin) * np.asarray(se)).astype(np.int64)
    out = merge(out, where(np.asarray(se) > 0, squeeze_excite(branch(out), bot, reduced)))
    out = norm2d(conv2d(out, bot, cout, 1), cout)
    if stride != 1:
        out = merge(out, norm2d(conv2d(branch(cx), cin, cout, 1, stride=stride), cout))
    return out


def stage(cx: Cx, cin: Int, cout: Int, bot: Int, group_width: Int, depth: Int, se: Int) -> Cx:
    """A `RegStage`: a stride-2 first block, then `depth - 1` identical stride-1 blocks (identity shortcut)."""
    cx = bottleneck(cx, cin, cout, bot, group_width, 2, se)
    return repeat(cx, bottleneck(branch(cx), cout, cout, bot, group_width, 1, se), np.asarray(depth) - 1)


def regnet(cx: Cx, depths: Sequence[Int], widths: Sequence[Int], group_widths: Sequence[Int],
           bottlenecks: Sequence[Int], se: Int, outputs: int) -> Cx:
    """The whole timm `RegNet`: stem, four stages, global average pool and linear head (`final_conv` is an
    identity for RegNetX/Y)."""
    cx = stem(cx)
    cin: Int = STEM_WIDTH
    for depth, width, group_width, bot in zip(depths, widths, group_widths, bottlenecks):
        cx = stage(cx, cin, width, bot, group_width, depth, se)
        cin = width
    cx = global_avg_pool(cx, cin)
    return linear(cx, cin, outputs)
