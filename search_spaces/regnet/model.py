"""Building a network from an `Arch` through timm's `RegNet` class (timm is imported only here, lazily)."""
from __future__ import annotations

from typing import Any

from search_spaces.regnet.arch import Arch


def regnet_cfg(arch: Arch) -> Any:
    """timm's `RegNetCfg` of an architecture (every other field at timm's default, as its named models)."""
    from timm.models.regnet import RegNetCfg
    return RegNetCfg(depth=arch.d, w0=arch.w0, wa=arch.wa, wm=arch.wm, group_size=arch.g,
                     bottle_ratio=arch.b, se_ratio=arch.se)


def build_model(arch: Arch, num_outputs: int, **kwargs: Any) -> Any:
    """A timm `RegNet` for `arch`: 3 input channels, a linear head of `num_outputs` after global average pooling.

    Extra keyword arguments (e.g. `drop_path_rate`, `device`) go to `RegNet` unchanged.
    """
    from timm.models.regnet import RegNet
    return RegNet(regnet_cfg(arch), in_chans=3, num_classes=num_outputs, **kwargs)
