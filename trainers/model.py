"""The JMLR network: a `search_spaces` backbone, global average pooling and one V*5-wide linear head."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from search_spaces import Arch, build_model, resolve_arch

OUTPUTS_PER_VERTEX = 5
"""Three world coordinates (x10) and two crop coordinates in [-1, 1] per vertex."""


def build_jmlr(arch: "str | Arch", num_verts: int = 1220, **timm_kwargs: Any) -> nn.Module:
    """The JMLR net for `arch` (a baseline name or text form) predicting `num_verts` vertices."""
    return build_model(resolve_arch(arch), num_outputs=num_verts * OUTPUTS_PER_VERTEX, **timm_kwargs)


def split_outputs(out: torch.Tensor, num_verts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split the head's (B, V*5) output into vertex targets (B, V, 3) and crop points (B, V, 2).

    The layout is the public JMLR code's: all V*3 vertex numbers first, then V*2 point numbers.
    """
    verts, points = out.split([num_verts * 3, num_verts * 2], dim=1)
    return verts.reshape(-1, num_verts, 3), points.reshape(-1, num_verts, 2)
