"""6-DoF pose by PnP: OpenCV's `solvePnP` on predicted world vertices and frame points, in WCPA form.

WCPA uses row vectors and an OpenGL camera (`V_cam = V_world @ R + T`, looking down -z, y up); OpenCV
uses column vectors and a camera looking down +z with y down. `D = diag(1, -1, -1)` converts between
them (`facedata.conventions`, the one owner of the convention: `intrinsics`, `wcpa_pose`).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from facedata.conventions import intrinsics, wcpa_pose

METHODS = ("sqpnp", "iterative")


def _solve_one(verts: np.ndarray, points: np.ndarray, k: np.ndarray, method: str):
    if method == "iterative":  # the public JMLR code's call (DLT start, Levenberg-Marquardt)
        return cv2.solvePnP(verts, points, k, None, flags=cv2.SOLVEPNP_ITERATIVE)
    # SQPnP's global optimum as the start, then the same reprojection-error LM refinement: unlike the
    # DLT start it cannot land behind the camera when early-training predictions are poor
    ok, rvec, tvec = cv2.solvePnP(verts, points, k, None, flags=cv2.SOLVEPNP_SQPNP)
    if ok:
        rvec, tvec = cv2.solvePnPRefineLM(verts, points, k, None, rvec, tvec)
    return ok, rvec, tvec


def _solve_range(verts: np.ndarray, points: np.ndarray, k: np.ndarray, out: np.ndarray,
                 start: int, stop: int, method: str) -> None:
    for i in range(start, stop):  # one cv2 call per image; cv2 releases the GIL inside
        try:
            ok, rvec, tvec = _solve_one(verts[i], points[i], k, method)
        except cv2.error:  # degenerate input (NaN points, too few points): no pose for this image
            ok = False
        if not ok or not (np.all(np.isfinite(rvec)) and np.all(np.isfinite(tvec))):
            out[i] = np.nan
            continue
        rot, _ = cv2.Rodrigues(rvec)
        out[i] = wcpa_pose(rot, tvec.reshape(3))


def solve_pose(verts: np.ndarray, points2d: np.ndarray, projection: np.ndarray,
               image_size: tuple[int, int] = (800, 800), workers: int | None = None,
               method: str = "sqpnp") -> np.ndarray:
    """WCPA `R_t` (N, 4, 4) float64 from world vertices (N, V, 3) and frame pixels (N, V, 2).

    `method` 'sqpnp' (default): `SOLVEPNP_SQPNP` refined by `solvePnPRefineLM`; 'iterative': plain
    `SOLVEPNP_ITERATIVE` as the public JMLR code. Both minimise the reprojection error and agree on
    good predictions. Images are solved in parallel on a thread pool (`workers`, default: the CPU
    count). An image where OpenCV fails gets an all-NaN `R_t`, so its score is NaN, not silently wrong.
    """
    if method not in METHODS:
        raise ValueError(f"unknown PnP method {method!r}; expected one of {METHODS}")
    verts = np.ascontiguousarray(verts, dtype=np.float64)
    points = np.ascontiguousarray(points2d, dtype=np.float64)
    if verts.ndim != 3 or verts.shape[2] != 3 or points.shape != verts.shape[:2] + (2,):
        raise ValueError(f"expected verts (N, V, 3) and points2d (N, V, 2), got {verts.shape} "
                         f"and {points.shape}")
    k = intrinsics(projection, image_size)
    n = len(verts)
    out = np.zeros((n, 4, 4))
    workers = max(1, min(workers or os.cpu_count() or 1, n))
    if workers == 1:
        _solve_range(verts, points, k, out, 0, n, method)
        return out
    bounds = np.linspace(0, n, min(n, workers * 4) + 1).astype(int)
    with ThreadPoolExecutor(workers) as pool:
        jobs = [pool.submit(_solve_range, verts, points, k, out, a, b, method) for a, b in zip(bounds[:-1], bounds[1:])]
        for job in jobs:
            job.result()
    return out
