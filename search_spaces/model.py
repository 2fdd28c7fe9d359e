"""Building a network from an `Arch` through timm's `ResNet` class."""
from __future__ import annotations

from typing import Any

import torch.nn as nn
from timm.models.resnet import BasicBlock, Bottleneck, ResNet

from search_spaces.arch import STEM_WIDTH, Arch

_BLOCK_CLASSES = {"basic": BasicBlock, "bottleneck": Bottleneck}

JMLR_OUTPUTS = 1220 * 5
"""The JMLR head: 1,220 world vertices (x, y, z) and their 2D crop landmarks (x, y)."""


def resnet_kwargs(arch: Arch) -> dict[str, Any]:
    """The `ResNet` constructor arguments of an architecture (a timm 'd' variant)."""
    return dict(block=_BLOCK_CLASSES[arch.block], layers=arch.depths, channels=arch.widths,
                stem_width=STEM_WIDTH, stem_type="deep", avg_down=True)


def build_model(arch: Arch, num_outputs: int = JMLR_OUTPUTS, **kwargs: Any) -> nn.Module:
    """A timm `ResNet` for `arch` with a linear head of `num_outputs` after global average pooling.

    Extra keyword arguments (e.g. `drop_path_rate`, `device`) go to `ResNet` unchanged.
    """
    return ResNet(num_classes=num_outputs, **resnet_kwargs(arch), **kwargs)
