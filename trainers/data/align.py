"""The 5-point similarity alignment that crops every frame (shared by the cache and the trainer).

Five points from the 68 landmarks: the two eye centres (mean of each eye's corners, robust to blinks),
the nose tip (30) and the mouth corners (48, 54), in image order (image-left eye first). They are mapped
by a least-squares similarity (Umeyama) onto the insightface ArcFace 112x112 template, widened as JMLR
widens it: the template sits in a 144 x 144 canvas, offset by (16, 8), scaled to the crop. On the ARKit
mesh this keeps the whole face inside a 256 crop, hairline to chin and ear to ear: frontal it spans
x 58-197 and y 30-228, at 45 degrees of yaw x 19-159.
"""
from __future__ import annotations

import cv2
import numpy as np

ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]])
CANVAS, SHIFT = 144.0, (16.0, 8.0)


def template(res: int, canvas: float = CANVAS, shift: tuple[float, float] = SHIFT) -> np.ndarray:
    """The 5-point destination (5, 2) float64 for a res x res crop."""
    return (ARCFACE_112 + np.asarray(shift)) * (res / canvas)


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """(..., 5, 2) eye centres, nose tip and mouth corners from (..., 68, 2) iBUG landmarks."""
    p = np.asarray(landmarks68, dtype=np.float64)
    return np.stack([0.5 * (p[..., 36, :] + p[..., 39, :]), 0.5 * (p[..., 42, :] + p[..., 45, :]),
                     p[..., 30, :], p[..., 48, :], p[..., 54, :]], axis=-2)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transforms (..., 2, 3) mapping src (..., n, 2) onto dst (n, 2) (Umeyama)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.broadcast_to(np.asarray(dst, dtype=np.float64), src.shape)
    ms, md = src.mean(-2, keepdims=True), dst.mean(-2, keepdims=True)
    s, d = src - ms, dst - md
    # with complex numbers a 2D similarity is z -> a z + b and the least-squares a is <d, s> / |s|^2
    zs, zd = s[..., 0] + 1j * s[..., 1], d[..., 0] + 1j * d[..., 1]
    a = (np.conj(zs) * zd).sum(-1) / np.maximum((np.abs(zs) ** 2).sum(-1), 1e-12)
    out = np.empty(src.shape[:-2] + (2, 3))
    out[..., 0, 0], out[..., 0, 1] = a.real, -a.imag
    out[..., 1, 0], out[..., 1, 1] = a.imag, a.real
    out[..., :, 2] = md[..., 0, :] - np.einsum("...ij,...j->...i", out[..., :, :2], ms[..., 0, :])
    return out


def align_tforms(landmarks68: np.ndarray, res: int) -> np.ndarray:
    """The crop transforms (..., 2, 3) float64 from the frame to a res x res crop."""
    return similarity(five_points(landmarks68), template(res))


def apply_tform(tform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (..., V, 2) mapped by affine transforms (..., 2, 3)."""
    tform = np.asarray(tform, dtype=np.float64)
    return np.einsum("...ij,...vj->...vi", tform[..., :, :2], points) + tform[..., None, :, 2]


def invert_tform(tform: np.ndarray) -> np.ndarray:
    """The inverse affine transforms (..., 2, 3) (crop back to the frame)."""
    tform = np.asarray(tform, dtype=np.float64)
    inv = np.linalg.inv(tform[..., :, :2])
    return np.concatenate([inv, -np.einsum("...ij,...j->...i", inv, tform[..., :, 2])[..., None]], -1)


def warp(image: np.ndarray, tform: np.ndarray, res: int) -> np.ndarray:
    """The res x res crop of an image by a 2x3 transform (bilinear, black outside the frame)."""
    return cv2.warpAffine(image, np.asarray(tform, dtype=np.float64), (res, res), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
