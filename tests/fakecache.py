"""Temporary test scaffolding: small in-memory crop caches with the attributes of `facedata.open_cache`.

Geometry is real (the ARKit face from ../shared/face_data) or purely synthetic (a symmetric bumpy grid);
poses are random; projection is written here independently from wcpa_format.md; images are flat-shaded
renderings of the mesh in the crop, so that the geometry can be read from the pixels.
"""
from __future__ import annotations

import types
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.transform import Rotation

FACE_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "face_data"

# the challenge's projection matrix, as wcpa_format.md gives it (row vectors, OpenGL)
WCPA_PROJECTION = np.array([[1.57443701, 0.0, 0.0, 0.0],
                            [0.0, 1.57443701, 0.0, 0.0],
                            [0.0, 0.0, -0.99999976, -1.0],
                            [0.0, 0.0, -0.001, 0.0]])


def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) and 0-based triangles (F, 3) of a plain OBJ file."""
    verts, faces = [], []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "v":
            verts.append([float(p) for p in parts[1:4]])
        elif parts and parts[0] == "f":
            faces.append([int(p.split("/")[0]) - 1 for p in parts[1:4]])
    return np.array(verts), np.array(faces, dtype=np.int64)


def project(verts: np.ndarray, r_t: np.ndarray, m: np.ndarray, size=(800, 800)) -> np.ndarray:
    """World vertices (N, V, 3) -> frame pixels (N, V, 2): wcpa_format.md's projection, step by step."""
    w, h = size
    ones = np.ones(verts.shape[:-1] + (1,))
    cam = np.concatenate([verts, ones], -1) @ r_t  # row vectors: [V, 1] @ R_t
    clip = cam @ m
    ndc = clip[..., :3] / clip[..., 3:4]
    return np.stack([(ndc[..., 0] + 1) * w / 2, h - (ndc[..., 1] + 1) * h / 2], -1)


def random_poses(rng: np.random.Generator, n: int, yaw=30.0, pitch=20.0, roll=10.0) -> np.ndarray:
    """R_t (n, 4, 4) with R from yaw/pitch/roll as wcpa_format.md defines, 0.45-0.8 m from the camera."""
    angles = np.radians(rng.uniform(-1, 1, (n, 3)) * [yaw, pitch, roll])
    r_t = np.zeros((n, 4, 4))
    r_t[:, :3, :3] = Rotation.from_euler("yxz", angles).as_matrix().transpose(0, 2, 1)
    r_t[:, 3, :3] = np.stack([rng.uniform(-0.04, 0.04, n), rng.uniform(-0.04, 0.04, n),
                              rng.uniform(-0.8, -0.45, n)], -1)
    r_t[:, 3, 3] = 1.0
    return r_t


def crop_tforms(frame_pts: np.ndarray, res: int, rng: np.random.Generator) -> np.ndarray:
    """Similarity transforms (N, 2, 3) frame -> crop that put each face's box in the middle of the crop."""
    lo, hi = frame_pts.min(1), frame_pts.max(1)
    centre, size = (lo + hi) / 2, (hi - lo).max(1)
    scale = 0.8 * res / size * rng.uniform(0.9, 1.1, len(size))
    angle = np.radians(rng.uniform(-8, 8, len(size)))
    a, b = scale * np.cos(angle), scale * np.sin(angle)
    lin = np.stack([np.stack([a, -b], -1), np.stack([b, a], -1)], -2)
    shift = (res - 1) / 2 - np.einsum("nij,nj->ni", lin, centre)
    return np.concatenate([lin, shift[..., None]], -1)


def render(verts: np.ndarray, r_t: np.ndarray, points: np.ndarray, triangles: np.ndarray, res: int,
           rng: np.random.Generator) -> np.ndarray:
    """Flat-shaded crops (N, res, res, 3) uint8: triangles far to near, Lambert light, noisy background."""
    n = len(verts)
    cam = np.einsum("nvi,nij->nvj", verts, r_t[:, :3, :3]) + r_t[:, None, 3, :3]
    images = rng.integers(0, 60, (n, res, res, 3)).astype(np.uint8)
    light = np.array([0.3, 0.4, 1.0]) / np.linalg.norm([0.3, 0.4, 1.0])
    for k in range(n):
        tri = cam[k][triangles]
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
        shade = np.clip(np.abs(normal @ light), 0.15, 1.0)
        left = verts[k][triangles][:, :, 0].mean(1) < 0  # a tint per face half, so left and right differ
        pts = np.round(points[k][triangles] * 16).astype(np.int32)
        for t in np.argsort(tri[:, :, 2].mean(1)):  # camera looks down -z: most negative z is farthest
            colour = shade[t] * (np.array([230, 180, 150]) if left[t] else np.array([200, 190, 230]))
            cv2.fillConvexPoly(images[k], pts[t], tuple(int(c) for c in colour), lineType=cv2.LINE_AA, shift=4)
    return images


@dataclass
class FaceModel:
    """Neutral vertices, expression offsets (K, V, 3), triangles and the flip index."""

    neutral: np.ndarray
    blends: np.ndarray
    triangles: np.ndarray
    flip_index: np.ndarray


def mirror_index(verts: np.ndarray) -> np.ndarray:
    """Each vertex's mirror vertex (x -> -x) by optimal assignment."""
    reflected = verts * [-1.0, 1.0, 1.0]
    cost = np.linalg.norm(verts[:, None, :] - reflected[None, :, :], axis=-1)
    _, col = linear_sum_assignment(cost)
    return col.astype(np.int64)


def arkit_model(names=("jawOpen", "mouthSmileLeft", "eyeBlinkRight", "browInnerUp")) -> FaceModel:
    """The real ARKit face (1,220 vertices) with a few blendshapes; the caller skips without the data."""
    folder = FACE_DATA / "arkit_blendshapes"
    neutral, triangles = read_obj(folder / "Neutral.obj")
    blends = np.stack([read_obj(folder / f"{name}.obj")[0] - neutral for name in names])
    return FaceModel(neutral, blends, triangles, mirror_index(neutral))


def grid_model(nx: int = 9, ny: int = 9) -> FaceModel:
    """A purely synthetic, bilaterally symmetric face-like surface (no data files)."""
    xs, ys = np.linspace(-0.07, 0.07, nx), np.linspace(-0.09, 0.09, ny)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")  # vertex (i, j) has index i * ny + j
    z = 0.05 * np.exp(-(gx / 0.06) ** 2 - (gy / 0.08) ** 2) + 0.025 * np.exp(-(gx ** 2 + (gy + 0.01) ** 2) / 0.015 ** 2)
    neutral = np.stack([gx, gy, z], -1).reshape(-1, 3)
    jaw = np.where(gy < -0.03, (gy + 0.03) * 0.6, 0.0)
    smile = 0.01 * np.exp(-((gx - 0.04) ** 2 + (gy + 0.05) ** 2) / 0.02 ** 2)
    blends = np.stack([np.stack([0 * gx, jaw, 0 * gx], -1).reshape(-1, 3),
                       np.stack([smile, smile, 0 * gx], -1).reshape(-1, 3)])
    idx = np.arange(nx * ny).reshape(nx, ny)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[:-1, 1:], idx[1:, 1:]
    triangles = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([b, d, c], -1).reshape(-1, 3)])
    flip = idx[::-1, :].reshape(-1)
    return FaceModel(neutral, blends, triangles, flip)


def make_cache(model: FaceModel, *, n: int = 48, res: int = 64, subjects: int = 6,
               splits=("train", "train", "train", "train", "val", "test"), seed: int = 0,
               image_size=(800, 800), projection: np.ndarray = WCPA_PROJECTION) -> types.SimpleNamespace:
    """A cache-like object with exactly the attributes `facedata.open_cache` returns."""
    rng = np.random.default_rng(seed)
    subj = np.arange(n) % subjects
    ident = rng.uniform(0.92, 1.08, (subjects, 3))[subj]
    weights = rng.uniform(0, 1, (n, len(model.blends)))
    verts = (model.neutral[None] + np.einsum("nk,kvi->nvi", weights, model.blends)) * ident[:, None, :]
    r_t = random_poses(rng, n)
    frame = project(verts, r_t, projection, image_size)
    tform = crop_tforms(frame, res, rng)
    points = np.einsum("nij,nvj->nvi", tform[:, :, :2], frame) + tform[:, None, :, 2]
    images = render(verts, r_t, points, model.triangles, res, rng)
    split = np.array([splits[s % len(splits)] for s in subj])
    verts, r_t, points = verts.astype(np.float32), r_t.astype(np.float32), points.astype(np.float32)
    test = split == "test"
    verts[test], r_t[test], points[test] = np.nan, np.nan, np.nan
    return types.SimpleNamespace(
        images=images, verts=verts, R_t=r_t, tform=tform.astype(np.float32), points2d=points,
        subjects=np.array([f"S{s:03d}" for s in subj]), split=split, triangles=model.triangles,
        flip_index=model.flip_index, landmarks68=np.arange(68) % len(model.neutral),
        projection=projection.astype(np.float32), image_size=np.array(image_size))
