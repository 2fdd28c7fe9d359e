"""6-DoF pose of a whole batch of faces at once in torch (float64, on the GPU where the data is): the same
problem as `trainers.pose.solve_pose` (OpenCV's SQPnP + Levenberg-Marquardt, one image at a time on the CPU),
solved for every image in parallel.

Each image starts from three candidate poses: a DLT of the 3x4 camera (normalised points), and the two mirror
solutions of a weak-perspective (scaled orthographic) fit, which a shallow, noisy face can confuse. All three
are refined by Levenberg-Marquardt on the pixel reprojection error (rotation updated on SO(3) by Rodrigues'
formula) and the candidate with the lowest error, in front of the camera, is kept. The result is converted to
WCPA's row-vector OpenGL form as `facedata.conventions` defines it.
"""
from __future__ import annotations

import numpy as np
import torch

from facedata.conventions import OPENCV_FLIP, intrinsics

ITERATIONS = 30


def _skew(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) cross-product matrices."""
    z = torch.zeros_like(v[..., 0])
    return torch.stack([torch.stack([z, -v[..., 2], v[..., 1]], -1), torch.stack([v[..., 2], z, -v[..., 0]], -1),
                        torch.stack([-v[..., 1], v[..., 0], z], -1)], -2)


def rodrigues(w: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of axis-angle vectors (..., 3)."""
    theta = w.norm(dim=-1, keepdim=True).unsqueeze(-1)
    k = _skew(w)
    small = theta < 1e-8
    a = torch.where(small, 1.0 - theta ** 2 / 6, torch.sin(theta) / theta.clamp_min(1e-12))
    b = torch.where(small, 0.5 - theta ** 2 / 24, (1 - torch.cos(theta)) / theta.clamp_min(1e-12) ** 2)
    return torch.eye(3, dtype=w.dtype, device=w.device) + a * k + b * (k @ k)


def _orthonormal(m: torch.Tensor) -> torch.Tensor:
    """The nearest rotation (det +1) to each (..., 3, 3) matrix."""
    u, _, vh = torch.linalg.svd(m)
    d = torch.sign(torch.linalg.det(u @ vh))
    return u @ torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1)) @ vh


def _dlt(x: torch.Tensor, xn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """R, t of the 3x4 camera fitted linearly to world points `x` (N, V, 3) and normalised image points `xn`."""
    c = x.mean(1, keepdim=True)
    s = (x - c).norm(dim=-1).mean(1, keepdim=True).unsqueeze(-1) / np.sqrt(3)
    xs = (x - c) / s  # Hartley's conditioning
    ones, zeros = torch.ones_like(xs[..., :1]), torch.zeros_like(xs[..., :1]).expand(-1, -1, 4)
    h = torch.cat([xs, ones], -1)
    rows_u = torch.cat([h, zeros, -xn[..., :1] * h], -1)
    rows_v = torch.cat([zeros, h, -xn[..., 1:] * h], -1)
    a = torch.cat([rows_u, rows_v], 1)
    _, vecs = torch.linalg.eigh(a.transpose(1, 2) @ a)
    p = vecs[..., 0].reshape(-1, 3, 4)
    m = p[..., :3] / s  # back from the conditioned points: P [X; 1] = (M / s) X + p4 - (M / s) c
    p4 = p[..., 3] - torch.einsum("nij,nj->ni", m, c[:, 0])
    depth = torch.einsum("nij,nvj->nvi", m, x)[..., 2] + p4[:, 2:3]
    sign = torch.sign(depth.mean(1)).clamp_min(0) * 2 - 1  # the camera looks at the points: positive depths
    m, p4 = m * sign[:, None, None], p4 * sign[:, None]
    rot = _orthonormal(m)
    scale = torch.linalg.svdvals(m).mean(-1)
    return rot, p4 / scale[:, None]


def _weak_perspective(x: torch.Tensor, xn: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The two mirror poses of a scaled-orthographic fit of normalised image points to world points."""
    xbar, ubar = x.mean(1), xn.mean(1)
    xc, uc = x - xbar[:, None], xn - ubar[:, None]
    a = torch.linalg.solve(xc.transpose(1, 2) @ xc, xc.transpose(1, 2) @ uc).transpose(1, 2)  # (N, 2, 3): ~ s R12
    scale = a.norm(dim=-1).mean(-1)
    b = ubar - torch.einsum("nij,nj->ni", a, xbar)  # x' ~ s (R12 X + t_xy): t_xy = b / s, depth 1 / s
    out = []
    for mirror in (1.0, -1.0):  # the depth-reversed twin fits the projection as well
        r12 = a / scale[:, None, None] * torch.tensor([1.0, 1.0, mirror], dtype=x.dtype, device=x.device)
        rot = _orthonormal(torch.cat([r12, torch.cross(r12[:, 0], r12[:, 1], dim=-1)[:, None]], 1))
        tz = 1.0 / scale - torch.einsum("ni,ni->n", rot[:, 2], xbar)
        out.append((rot, torch.cat([b / scale[:, None], tz[:, None]], -1)))
    return out


def _residuals(rot, t, x, uv, k) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel reprojection residuals (N, V, 2) and camera points (N, V, 3)."""
    pc = torch.baddbmm(t[:, None], x, rot.transpose(1, 2))  # R X + t for every point
    proj = pc[..., :2] / pc[..., 2:].clamp_min(1e-9) * torch.stack([k[0, 0], k[1, 1]]) + torch.stack([k[0, 2], k[1, 2]])
    return proj - uv, pc


def _refine(rot, t, x, uv, k, iterations: int = ITERATIONS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Levenberg-Marquardt on the reprojection error; returns R, t and the mean squared error per image."""
    lam = torch.full((len(x),), 1e-3, dtype=x.dtype, device=x.device)
    res, pc = _residuals(rot, t, x, uv, k)
    cost = (res ** 2).sum((1, 2))
    for i in range(iterations):
        if i % 10 == 9 and bool((lam > 1e6).all()):  # every image has stopped improving: one sync per 10 steps
            break
        z = pc[..., 2].clamp_min(1e-9)
        zero = torch.zeros_like(z)
        du = torch.stack([k[0, 0] / z, zero, -k[0, 0] * pc[..., 0] / z ** 2], -1)  # d u / d P_cam
        dv = torch.stack([zero, k[1, 1] / z, -k[1, 1] * pc[..., 1] / z ** 2], -1)
        q = pc - t[:, None]  # R X: d P_cam / d omega = -[q]x, so a row a of dP gives a^T(-[q]x) = q x a
        jac = torch.cat([torch.linalg.cross(q, du), du, torch.linalg.cross(q, dv), dv], -1).reshape(len(x), -1, 6)
        jtj, jtr = jac.transpose(1, 2) @ jac, (jac.transpose(1, 2) @ res.reshape(len(x), -1, 1))[..., 0]
        damp = jtj + lam[:, None, None] * torch.diag_embed(torch.diagonal(jtj, dim1=1, dim2=2).clamp_min(1e-12))
        step = -torch.linalg.solve(damp, jtr)
        new_rot, new_t = rodrigues(step[:, :3]) @ rot, t + step[:, 3:]  # P' = exp(w^) R X + t + dt
        new_res, new_pc = _residuals(new_rot, new_t, x, uv, k)
        new_cost = (new_res ** 2).sum((1, 2))
        better = (new_cost < cost) & torch.isfinite(new_cost)
        rot = torch.where(better[:, None, None], new_rot, rot)
        t = torch.where(better[:, None], new_t, t)
        res = torch.where(better[:, None, None], new_res, res)
        pc = torch.where(better[:, None, None], new_pc, pc)
        cost = torch.where(better, new_cost, cost)
        lam = torch.where(better, lam * 0.3, lam * 10.0).clamp(1e-12, 1e12)
    return rot, t, cost / x.shape[1]


def solve_pose_batch(verts: "torch.Tensor | np.ndarray", points2d: "torch.Tensor | np.ndarray",
                     projection: np.ndarray, image_size: tuple[int, int] = (800, 800),
                     device: "str | torch.device | None" = None, chunk: int = 4096) -> np.ndarray:
    """WCPA `R_t` (N, 4, 4) float64 from world vertices (N, V, 3) and frame pixels (N, V, 2), every image at once.

    Solved in float64 on `device` (default: where `verts` lives if a tensor, else the CPU), `chunk` images at a
    time to bound memory. An image with non-finite input, or whose best pose has a point behind the camera on
    average, gets an all-NaN `R_t`, as `solve_pose` does for OpenCV's failures.
    """
    if device is None:
        device = verts.device if isinstance(verts, torch.Tensor) else "cpu"
    k = torch.as_tensor(intrinsics(projection, image_size), dtype=torch.float64, device=device)
    kinv = torch.linalg.inv(k)
    out = []
    n = len(verts)
    for a in range(0, n, chunk):
        x = torch.as_tensor(verts[a:a + chunk], device=device).to(torch.float64)
        uv = torch.as_tensor(points2d[a:a + chunk], device=device).to(torch.float64)
        out.append(_solve_chunk(x, uv, k, kinv))
    return torch.cat(out).cpu().numpy() if out else np.zeros((0, 4, 4))


def _solve_chunk(x: torch.Tensor, uv: torch.Tensor, k: torch.Tensor, kinv: torch.Tensor) -> torch.Tensor:
    ok = torch.isfinite(x).all(-1).all(-1) & torch.isfinite(uv).all(-1).all(-1)
    # a failed image is replaced by a well-posed stand-in, so that no batched solve sees a singular system
    dummy = torch.linspace(-0.1, 0.1, x.shape[1], dtype=x.dtype, device=x.device)
    dx = torch.stack([dummy, 0.1 * torch.sin(40 * dummy), 0.1 * torch.cos(25 * dummy)], -1)  # not coplanar
    duv = torch.stack([k[0, 0] * dx[:, 0] / (dx[:, 2] + 0.5) + k[0, 2], k[1, 1] * dx[:, 1] / (dx[:, 2] + 0.5) + k[1, 2]], -1)
    x, uv = torch.where(ok[:, None, None], x, dx), torch.where(ok[:, None, None], uv, duv)
    xn = (torch.cat([uv, torch.ones_like(uv[..., :1])], -1) @ kinv.T)[..., :2]
    starts = [_dlt(x, xn), *_weak_perspective(x, xn)]
    best_rot, best_t, best = None, None, None
    for rot, t in starts:
        rot, t, cost = _refine(rot, t, x, uv, k)
        depth = (torch.einsum("nij,nvj->nvi", rot, x)[..., 2] + t[:, 2:3]).mean(1)
        cost = torch.where(torch.isfinite(cost) & (depth > 0), cost, torch.full_like(cost, float("inf")))
        if best is None:
            best_rot, best_t, best = rot, t, cost
        else:
            take = cost < best
            best_rot = torch.where(take[:, None, None], rot, best_rot)
            best_t = torch.where(take[:, None], t, best_t)
            best = torch.where(take, cost, best)
    flip = torch.as_tensor(OPENCV_FLIP, dtype=x.dtype, device=x.device)
    r_t = torch.zeros((len(x), 4, 4), dtype=x.dtype, device=x.device)
    r_t[:, :3, :3] = (flip @ best_rot).transpose(1, 2)
    r_t[:, 3, :3] = best_t @ flip
    r_t[:, 3, 3] = 1.0
    failed = ~ok | ~torch.isfinite(best)
    return torch.where(failed[:, None, None], torch.full_like(r_t, float("nan")), r_t)
