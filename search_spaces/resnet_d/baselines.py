"""The ResNet-'d' baselines by name (timm's resnet18d/26d/34d/50d) and the JMLR paper's searched net."""
from __future__ import annotations

from search_spaces.resnet_d.arch import Arch

# Exactly the `layers`/`channels`/`block` that timm's resnet{18,26,34,50}d entries pass to `ResNet`.
BASELINES: dict[str, Arch] = {
    "resnet18d": Arch((2, 2, 2, 2), (64, 128, 256, 512), "basic"),
    "resnet26d": Arch((2, 2, 2, 2), (64, 128, 256, 512), "bottleneck"),
    "resnet34d": Arch((3, 4, 6, 3), (64, 128, 256, 512), "basic"),
    "resnet50d": Arch((3, 4, 6, 3), (64, 128, 256, 512), "bottleneck"),
}

PAPER_SEARCHED = "d5.3.4.2_w64.160.272.512"
"""The JMLR paper's searched backbone (Fig. 2b), 5.125 GFLOPs at 256x256 with 6,100 outputs."""
