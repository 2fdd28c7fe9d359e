"""The JMLR regression targets: world vertices x10 and crop points in [-1, 1], and their inverses.

Pixel coordinates put pixel centres on integers (OpenCV's `warpAffine` convention), as the crop cache's
`points2d` do. Normalisation follows the public JMLR code: `u = p / (res / 2) - 1`.
"""
from __future__ import annotations

import numpy as np

VERT_SCALE = 10.0
"""World vertices are regressed in decimetres (about [-1, 1]), as the public JMLR code does."""


def verts_to_target(verts):
    """World vertices in metres -> regression target (x10). Works on numpy arrays and tensors."""
    return verts * VERT_SCALE


def target_to_verts(target):
    """Regression target -> world vertices in metres."""
    return target / VERT_SCALE


def pixels_to_unit(points, res: int):
    """Crop pixels of a `res` x `res` crop -> [-1, 1]."""
    return points / (res / 2.0) - 1.0


def unit_to_pixels(unit, res: int):
    """[-1, 1] -> crop pixels of a `res` x `res` crop."""
    return (unit + 1.0) * (res / 2.0)


def rescale_points(points, src_res: int, dst_res: int):
    """Pixel coordinates of a crop resized from `src_res` to `dst_res` (pixel-centre aligned)."""
    if src_res == dst_res:
        return points
    scale = dst_res / src_res
    return (points + 0.5) * scale - 0.5


def mirror_x(points, res: int):
    """Mirror crop x: a horizontally flipped `res`-wide image moves pixel x to `res - 1 - x`."""
    out = points.clone() if hasattr(points, "clone") else np.array(points, copy=True)
    out[..., 0] = (res - 1) - out[..., 0]
    return out
