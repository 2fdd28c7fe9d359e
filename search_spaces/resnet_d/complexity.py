"""Analytic FLOPs and parameters of timm's ResNet-'d', block by block in the order of `ResNet.forward`."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from search_spaces.counters import Cx, Int, branch, conv2d, global_avg_pool, linear, merge, norm2d, pool2d, repeat, where
from search_spaces.resnet_d.arch import EXPANSION, STEM_WIDTH


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
    """The projection shortcut's cost; timm builds one only where the shape changes (per architecture)."""
    needed = (stride != 1) | (np.asarray(cin) != np.asarray(cout))
    return where(needed, downsample_avg(branch(cx), cin, cout, stride))


def basic_block(cx: Cx, cin: Int, planes: Int, stride: int) -> Cx:
    """timm's `BasicBlock`: 3x3 (strided) + norm, 3x3 + norm, shortcut."""
    sc = shortcut(cx, cin, planes, stride)
    cx = norm2d(conv2d(cx, cin, planes, 3, stride=stride, pad=1), planes)
    cx = norm2d(conv2d(cx, planes, planes, 3, pad=1), planes)
    return merge(cx, sc)


def bottleneck_block(cx: Cx, cin: Int, planes: Int, stride: int) -> Cx:
    """timm's `Bottleneck`: 1x1 + norm, 3x3 (strided) + norm, 1x1 to 4x planes + norm, shortcut."""
    cout = planes * EXPANSION["bottleneck"]
    sc = shortcut(cx, cin, cout, stride)
    cx = norm2d(conv2d(cx, cin, planes, 1), planes)
    cx = norm2d(conv2d(cx, planes, planes, 3, stride=stride, pad=1), planes)
    cx = norm2d(conv2d(cx, planes, cout, 1), cout)
    return merge(cx, sc)


BLOCK_COMPLEXITY = {"basic": basic_block, "bottleneck": bottleneck_block}


def stage(cx: Cx, block: str, cin: Int, planes: Int, depth: Int, stride: int) -> Cx:
    """A stage: one (strided) first block, then `depth - 1` identical stride-1 blocks."""
    block_fn = BLOCK_COMPLEXITY[block]
    cx = block_fn(cx, cin, planes, stride)
    return repeat(cx, block_fn(branch(cx), planes * EXPANSION[block], planes, 1), depth - 1)


def resnet(cx: Cx, block: str, depths: Sequence[Int], widths: Sequence[Int], outputs: int) -> Cx:
    """The whole timm `ResNet(stem_type='deep', avg_down=True)`: stem, stages, pooled linear head."""
    cx = deep_stem(cx)
    cin: Int = 2 * STEM_WIDTH
    for i, (depth, planes) in enumerate(zip(depths, widths)):
        cx = stage(cx, block, cin, planes, depth, stride=1 if i == 0 else 2)
        cin = planes * EXPANSION[block]
    cx = global_avg_pool(cx, cin)
    return linear(cx, cin, outputs)
