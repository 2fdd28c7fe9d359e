"""The JMLR network: a backbone of a registered search space, global average pooling and one V*5-wide head."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from search_spaces import DEFAULT_SPACE, create_space

OUTPUTS_PER_VERTEX = 5
"""Three world coordinates (x10) and two crop coordinates in [-1, 1] per vertex."""


WCPA_VERTS = 1220
"""Vertices of the WCPA / ARKit face mesh: the head that FLOP budgets are counted with is 1,220 x 5 = 6,100."""


def build_jmlr(arch: Any, num_verts: int = WCPA_VERTS, space: str = DEFAULT_SPACE, **timm_kwargs: Any) -> nn.Module:
    """The JMLR net for `arch` (a baseline name or text form) predicting `num_verts` vertices."""
    backbones = create_space(space)
    return backbones.build(backbones.parse(arch), num_outputs=num_verts * OUTPUTS_PER_VERTEX, **timm_kwargs)


def split_outputs(out: torch.Tensor, num_verts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split the head's (B, V*5) output into vertex targets (B, V, 3) and crop points (B, V, 2).

    The layout is the public JMLR code's: all V*3 vertex numbers first, then V*2 point numbers.
    """
    verts, points = out.split([num_verts * 3, num_verts * 2], dim=1)
    return verts.reshape(-1, num_verts, 3), points.reshape(-1, num_verts, 2)
