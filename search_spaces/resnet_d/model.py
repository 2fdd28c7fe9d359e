"""Building a network from an `Arch` through timm's `ResNet` class (timm is imported only here, lazily)."""
from __future__ import annotations

from typing import Any

from search_spaces.resnet_d.arch import STEM_WIDTH, Arch


def resnet_kwargs(arch: Arch) -> dict[str, Any]:
    """The `ResNet` constructor arguments of an architecture (a timm 'd' variant)."""
    from timm.models.resnet import BasicBlock, Bottleneck
    block = {"basic": BasicBlock, "bottleneck": Bottleneck}[arch.block]
    return dict(block=block, layers=arch.depths, channels=arch.widths, stem_width=STEM_WIDTH, stem_type="deep",
                avg_down=True)


def build_model(arch: Arch, num_outputs: int, **kwargs: Any) -> Any:
    """A timm `ResNet` for `arch` with a linear head of `num_outputs` after global average pooling.

    Extra keyword arguments (e.g. `drop_path_rate`, `device`) go to `ResNet` unchanged.
    """
    from timm.models.resnet import ResNet
    return ResNet(num_classes=num_outputs, **resnet_kwargs(arch), **kwargs)
