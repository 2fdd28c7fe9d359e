"""A vectorised z-buffer triangle rasteriser (numpy): which triangle covers each pixel, and where.

Pixel centres are at integer coordinates (OpenCV's convention, as in `trainers.data.camera`).
Depth is interpolated as 1/d in screen space and barycentrics are perspective-correct.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fragments:
    """The visible surface: one entry per covered pixel."""

    x: np.ndarray       # (n,) int64 pixel column
    y: np.ndarray       # (n,) int64 pixel row
    tri: np.ndarray     # (n,) int64 triangle id
    bary: np.ndarray    # (n, 3) float64 perspective-correct barycentric weights of the triangle's corners

    def interpolate(self, attr: np.ndarray, triangles: np.ndarray) -> np.ndarray:
        """Per-vertex attributes (V, C) interpolated at the fragments (n, C)."""
        corners = triangles[self.tri]                       # (n, 3)
        return np.einsum("nk,nkc->nc", self.bary, attr[corners])


def rasterize(pix: np.ndarray, depth: np.ndarray, triangles: np.ndarray, size: tuple[int, int],
              cull_back: bool = True) -> Fragments:
    """Rasterise triangles with vertices at pixels (V, 2) and positive depths (V,) into a W x H image.

    With `cull_back`, triangles that are clockwise on screen (counter-clockwise in a y-down image, i.e.
    facing away from the camera for meshes wound counter-clockwise seen from outside) are dropped.
    """
    width, height = size
    tri = np.asarray(triangles, dtype=np.int64)
    p0, p1, p2 = pix[tri[:, 0]], pix[tri[:, 1]], pix[tri[:, 2]]
    area2 = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p1[:, 1] - p0[:, 1]) * (p2[:, 0] - p0[:, 0])
    lo = np.floor(np.minimum(np.minimum(p0, p1), p2)).astype(np.int64) + 1
    hi = np.floor(np.maximum(np.maximum(p0, p1), p2)).astype(np.int64)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, [width - 1, height - 1])
    d = depth[tri]
    keep = (np.abs(area2) > 1e-12) & np.all(hi >= lo, axis=1) & np.all(d > 0, axis=1)
    if cull_back:
        keep &= area2 < 0
    ids = np.nonzero(keep)[0]
    empty = np.zeros(0, dtype=np.int64)
    if len(ids) == 0:
        return Fragments(empty, empty, empty, np.zeros((0, 3)))
    lo, hi, area2 = lo[ids], hi[ids], area2[ids]
    p0, p1, p2 = p0[ids], p1[ids], p2[ids]
    # screen-space barycentrics as affine functions l = A x + B y + C, per triangle
    A = np.stack([p1[:, 1] - p2[:, 1], p2[:, 1] - p0[:, 1]], 1) / area2[:, None]
    B = np.stack([p2[:, 0] - p1[:, 0], p0[:, 0] - p2[:, 0]], 1) / area2[:, None]
    C = np.stack([p1[:, 0] * p2[:, 1] - p2[:, 0] * p1[:, 1],
                  p2[:, 0] * p0[:, 1] - p0[:, 0] * p2[:, 1]], 1) / area2[:, None]
    inv_d = 1.0 / d[ids]
    # every pixel of every bounding box, as flat arrays
    bw = hi[:, 0] - lo[:, 0] + 1
    counts = bw * (hi[:, 1] - lo[:, 1] + 1)
    local = np.repeat(np.arange(len(ids)), counts)
    off = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    w_of = bw[local]
    px = lo[local, 0] + off % w_of
    py = lo[local, 1] + off // w_of
    l01 = A[local] * px[:, None] + B[local] * py[:, None] + C[local]
    l2 = 1.0 - l01[:, 0] - l01[:, 1]
    eps = -1e-9
    inside = (l01[:, 0] >= eps) & (l01[:, 1] >= eps) & (l2 >= eps)
    local, px, py, l01, l2 = local[inside], px[inside], py[inside], l01[inside], l2[inside]
    lw = np.column_stack([l01, l2]) * inv_d[local]          # perspective weights l_i / d_i
    inv_depth = lw.sum(1)
    # z-test: nearest (largest 1/d) wins; pack quantised depth and fragment order into one int64 key
    span = max(float(inv_depth.max() - inv_depth.min()), 1e-12)
    zq = ((inv_depth.max() - inv_depth) / span * (2 ** 30)).astype(np.int64)
    frag = np.arange(len(px), dtype=np.int64)
    key = (zq << 32) | frag
    x0, y0 = int(px.min()), int(py.min())
    ww = int(px.max()) - x0 + 1
    best = np.full(ww * (int(py.max()) - y0 + 1), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, (py - y0) * ww + (px - x0), key)
    win = best[best != np.iinfo(np.int64).max] & 0xFFFFFFFF
    bary = lw[win] / inv_depth[win, None]
    return Fragments(px[win], py[win], ids[local[win]], bary)
