"""Minimal, fast Wavefront OBJ reading and writing of triangle meshes (vertices and faces only)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from facedata.errors import FaceModelError


def read_obj(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (V, 3) float64, triangles (F, 3) int64 0-based) of an OBJ file; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise FaceModelError(f"{path}: cannot read OBJ ({exc.__class__.__name__}: {exc})") from None
    verts, faces = [], []
    for line in text.splitlines():
        if line.startswith("v "):
            verts.append(line[2:])
        elif line.startswith("f "):
            faces.append(line[2:])
    try:
        v = np.array([row.split()[:3] for row in verts], dtype=np.float64).reshape(-1, 3)
        f = np.array([[tok.split("/")[0] for tok in row.split()] for row in faces], dtype=np.int64)
    except ValueError:
        raise FaceModelError(f"{path}: malformed OBJ (vertices need 3 numbers, faces 3 indices)") from None
    if len(v) == 0:
        raise FaceModelError(f"{path}: OBJ has no vertices")
    if f.ndim != 2 or (len(f) and f.shape[1] != 3):
        raise FaceModelError(f"{path}: OBJ faces must all be triangles")
    f = f.reshape(-1, 3)
    f = np.where(f < 0, f + len(v), f - 1)  # OBJ indices are 1-based; negative ones count from the end
    if len(f) and (f.min() < 0 or f.max() >= len(v)):
        raise FaceModelError(f"{path}: face index out of range for {len(v)} vertices")
    return v, f


def format_obj(verts: np.ndarray, triangles: np.ndarray, name: str = "face") -> str:
    """OBJ text of a triangle mesh (1-based faces)."""
    lines = [f"o {name}"]
    lines += [f"v {x:.7g} {y:.7g} {z:.7g}" for x, y, z in np.asarray(verts, dtype=np.float64)]
    lines += [f"f {a} {b} {c}" for a, b, c in np.asarray(triangles, dtype=np.int64) + 1]
    return "\n".join(lines) + "\n"
