"""A vectorised z-buffer triangle rasteriser (numpy): which triangle covers each pixel, and where.

Each triangle row is clipped analytically to the span inside its three edges (scanlines), so only
covered pixels are ever generated, never the rest of the bounding box. Pixel centres are at integer
coordinates (OpenCV's convention, as in `facedata.conventions`).
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
                        # (a transposed view: each corner's column is contiguous)

    def interpolate(self, attr: np.ndarray, triangles: np.ndarray) -> np.ndarray:
        """Per-vertex attributes (V, C) interpolated at the fragments (n, C), in float32 or better.

        The result is channel-major underneath (a transposed view), so each column is contiguous.
        """
        attr = np.asarray(attr)
        dtype = np.result_type(attr.dtype, np.float32)
        corners = attr.astype(dtype, copy=False)[triangles]             # (F, 3, C)
        c = corners.shape[2]
        # channel-major throughout: numpy is slow on short strided inner loops such as (n, 3, C)
        g = np.take(corners.reshape(len(corners), 3 * c).T, self.tri, axis=1)   # (3C, n), corner-major
        b = self.bary.astype(dtype, copy=False).T
        out = g[:c] * b[0]
        out += g[c:2 * c] * b[1]
        out += g[2 * c:] * b[2]
        return out.T


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
    # screen-space barycentrics as affine functions l_k = A[k] x + B[k] y + C[k], per triangle; one
    # contiguous row per corner k, because reductions over a short last axis are slow in numpy
    A = np.stack([p1[:, 1] - p2[:, 1], p2[:, 1] - p0[:, 1], p0[:, 1] - p1[:, 1]]) / area2
    B = np.stack([p2[:, 0] - p1[:, 0], p0[:, 0] - p2[:, 0], p1[:, 0] - p0[:, 0]]) / area2
    C = np.stack([p1[:, 0] * p2[:, 1] - p2[:, 0] * p1[:, 1], p2[:, 0] * p0[:, 1] - p0[:, 0] * p2[:, 1],
                  p0[:, 0] * p1[:, 1] - p1[:, 0] * p0[:, 1]]) / area2
    inv_d = 1.0 / d[ids].T                                   # (3, k)
    # scanlines: each row of each bounding box, clipped to the span where all three l_k >= -eps
    rows = hi[:, 1] - lo[:, 1] + 1
    row_tri = np.repeat(np.arange(len(ids)), rows)
    # (np.take rather than fancy indexing: several times faster for these gathers)
    row_y = np.arange(len(row_tri)) + np.take(lo[:, 1] - (np.cumsum(rows) - rows), row_tri)
    a = np.take(A, row_tri, axis=1)
    c = np.take(B, row_tri, axis=1) * row_y + np.take(C, row_tri, axis=1)   # l_k = a_k x + c_k along the row
    eps = 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = (-eps - c) / a
    # a bound is exact up to rounding; widen it by far less than a pixel so that no pixel centre on a
    # shared edge falls between two triangles (the z-test settles the few that land in both)
    low = np.where(a > 0, bound, -np.inf)
    high = np.where(a < 0, bound, np.inf)
    x_lo = np.ceil(np.maximum(np.maximum(low[0], low[1]), low[2]) - 1e-7)
    x_hi = np.floor(np.minimum(np.minimum(high[0], high[1]), high[2]) + 1e-7)
    x_lo = np.maximum(x_lo, np.take(lo[:, 0], row_tri))
    x_hi = np.minimum(x_hi, np.take(hi[:, 0], row_tri))
    flat = (a == 0) & (c < -eps)                             # an edge parallel to the row that excludes it
    ok = (x_hi >= x_lo) & ~(flat[0] | flat[1] | flat[2])
    span = np.where(ok, x_hi - x_lo + 1, 0).astype(np.int64)
    frag_row = np.repeat(np.arange(len(row_tri)), span)
    if len(frag_row) == 0:                                   # slivers that cover no pixel centre
        return Fragments(empty, empty, empty, np.zeros((0, 3)))
    px = np.arange(len(frag_row)) + np.take(x_lo.astype(np.int64) - (np.cumsum(span) - span), frag_row)
    py = np.take(row_y, frag_row)
    # perspective weights w_k = l_k / d_k are affine along a row too, and so is 1/depth = sum_k w_k
    inv_d = np.take(inv_d, row_tri, axis=1)
    aw, cw = a * inv_d, c * inv_d
    inv_depth = np.take(aw.sum(0), frag_row) * px + np.take(cw.sum(0), frag_row)
    # z-test: nearest (largest 1/d) wins; pack quantised depth and fragment order into one int64 key
    d_max = float(inv_depth.max())
    span_d = max(d_max - float(inv_depth.min()), 1e-12)
    zq = ((d_max - inv_depth) * ((2 ** 30) / span_d)).astype(np.int64)
    key = (zq << 32) | np.arange(len(px), dtype=np.int64)
    x0, y0 = int(px.min()), int(py.min())
    ww = int(px.max()) - x0 + 1
    best = np.full(ww * (int(py.max()) - y0 + 1), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, (py - y0) * ww + (px - x0), key)
    win = best[best != np.iinfo(np.int64).max] & 0xFFFFFFFF
    row, x = np.take(frag_row, win), np.take(px, win)
    bary = np.take(aw, row, axis=1) * x + np.take(cw, row, axis=1)
    bary /= np.take(inv_depth, win)
    return Fragments(x, np.take(py, win), np.take(ids, np.take(row_tri, row)), bary.T)
