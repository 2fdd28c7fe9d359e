"""Face models: neutral mesh, topology, 68 landmarks, flip index, expression blendshapes, identity modes.

Three loaders share one dataclass: the built-in procedural face (the default, no data file), a folder of
OBJ meshes (``Neutral.obj`` plus one OBJ per blendshape, e.g. the ARKit reference face) and a WCPA root
(``resources/example.obj`` + ``resources/kpt_ind.npy``). Missing blendshapes and identity modes are made
from the landmarks (`facedata.deform`); a missing flip index is found by mirror matching.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from facedata.deform import generic_blendshapes, generic_identity_modes
from facedata.errors import FaceModelError
from facedata.obj_io import read_obj

PROCEDURAL = "procedural"


@dataclass(frozen=True, eq=False)
class FaceModel:
    """A linear face model in ARKit axes (metres, +y up, +z out of the face, origin inside the head)."""

    name: str
    neutral: np.ndarray             # (V, 3) float64
    triangles: np.ndarray           # (F, 3) int64, counter-clockwise seen from the front
    landmarks68: np.ndarray         # (68,) int64 vertex ids in iBUG order
    flip_index: np.ndarray          # (V,) int64, each vertex's mirror vertex
    blendshapes: np.ndarray         # (K, V, 3) float64 expression deltas at full activation
    blendshape_names: tuple[str, ...]
    identity_modes: np.ndarray      # (M, V, 3) float64 deltas of one standard deviation

    @property
    def num_vertices(self) -> int:
        """V."""
        return int(self.neutral.shape[0])

    def shape(self, identity: np.ndarray | None = None, expression: np.ndarray | None = None) -> np.ndarray:
        """Vertices (..., V, 3) for identity coefficients (..., M) and expression weights (..., K)."""
        out = self.neutral
        if identity is not None:
            out = out + np.tensordot(np.asarray(identity, dtype=np.float64), self.identity_modes, axes=1)
        if expression is not None:
            out = out + np.tensordot(np.asarray(expression, dtype=np.float64), self.blendshapes, axes=1)
        return out


def mirror_flip_index(verts: np.ndarray, source: str = "mesh") -> np.ndarray:
    """Each vertex's mirror vertex (x -> -x) as an involution (V,) int64, by optimal mirror matching."""
    verts = np.asarray(verts, dtype=np.float64)
    mirrored = verts * np.array([-1.0, 1.0, 1.0])
    _, nearest = cKDTree(verts).query(mirrored)
    if not np.array_equal(nearest[nearest], np.arange(len(verts))):
        # nearest neighbours disagree somewhere: solve the assignment on the candidates near each mirror
        k = min(8, len(verts))
        dist, cand = cKDTree(verts).query(mirrored, k=k)
        cost = np.full((len(verts), len(verts)), 1e3)
        np.put_along_axis(cost, cand.reshape(len(verts), k), dist.reshape(len(verts), k), axis=1)
        cost = np.minimum(cost, cost.T)  # the reflection is an isometry: matching i->j equals j->i
        _, nearest = linear_sum_assignment(cost)
        if not np.array_equal(nearest[nearest], np.arange(len(verts))):
            raise FaceModelError(f"{source}: the mesh is not mirror-symmetric enough for a flip index "
                                 "(mirror matching is not an involution)")
    return nearest.astype(np.int64)


def check_flip_index(flip: np.ndarray, num_vertices: int, source: str) -> np.ndarray:
    """A given flip index as (V,) int64, or an error naming `source` if it is not an involution."""
    flip = np.asarray(flip)
    if flip.shape != (num_vertices,) or not np.issubdtype(flip.dtype, np.integer):
        raise FaceModelError(f"{source}: flip index must be ({num_vertices},) integers, got "
                             f"{flip.shape} {flip.dtype}")
    flip = flip.astype(np.int64)
    if flip.min() < 0 or flip.max() >= num_vertices or not np.array_equal(flip[flip], np.arange(num_vertices)):
        raise FaceModelError(f"{source}: flip index is not an involution of 0..{num_vertices - 1}")
    return flip


def check_landmarks(lmk: np.ndarray, num_vertices: int, source: str) -> np.ndarray:
    """68 landmark vertex ids as (68,) int64, or an error naming `source`."""
    lmk = np.asarray(lmk)
    if lmk.shape != (68,) or not np.issubdtype(lmk.dtype, np.integer):
        raise FaceModelError(f"{source}: expected 68 integer landmark indices, got {lmk.shape} {lmk.dtype}")
    if lmk.min() < 0 or lmk.max() >= num_vertices:
        raise FaceModelError(f"{source}: landmark index out of range for {num_vertices} vertices")
    return lmk.astype(np.int64)


def load_npy(path: Path, error: type[Exception] = FaceModelError) -> np.ndarray:
    """np.load of a small .npy file; any failure is `error` naming the file."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise error(f"{path}: cannot read .npy ({exc.__class__.__name__}: {exc})") from None


def build_face_model(name: str, neutral: np.ndarray, triangles: np.ndarray, landmarks68: np.ndarray,
                     flip_index: np.ndarray | None = None, blendshapes: np.ndarray | None = None,
                     blendshape_names: tuple[str, ...] = ()) -> FaceModel:
    """A FaceModel, completing what is missing: landmark-driven blendshapes, identity modes, flip index."""
    neutral = np.asarray(neutral, dtype=np.float64)
    lmk = check_landmarks(landmarks68, len(neutral), name)
    flip = mirror_flip_index(neutral, name) if flip_index is None else check_flip_index(
        flip_index, len(neutral), name)
    if blendshapes is None or len(blendshapes) == 0:
        blendshape_names, blendshapes = generic_blendshapes(neutral, lmk)
    return FaceModel(name=name, neutral=neutral, triangles=np.asarray(triangles, dtype=np.int64),
                     landmarks68=lmk, flip_index=flip, blendshapes=np.asarray(blendshapes, np.float64),
                     blendshape_names=tuple(blendshape_names),
                     identity_modes=generic_identity_modes(neutral, lmk))


@functools.lru_cache(maxsize=1)
def procedural_face_model() -> FaceModel:
    """The built-in procedural face (1,240 vertices, 2,304 triangles), the default face model."""
    from facedata.procedural import procedural_mesh
    verts, tris, lmk = procedural_mesh()
    return build_face_model(PROCEDURAL, verts, tris, lmk)


def load_obj_folder(path: str | os.PathLike, landmarks68: np.ndarray | None = None) -> FaceModel:
    """A folder of OBJ meshes: ``Neutral.obj`` and one OBJ per blendshape (same topology).

    The 68 landmark indices come from `landmarks68`, else from ``kpt_ind.npy`` in the folder.
    """
    path = Path(path)
    neutral_path = path / "Neutral.obj"
    if not neutral_path.is_file():
        raise FaceModelError(f"{neutral_path}: missing (an OBJ face-model folder needs Neutral.obj)")
    neutral, tris = read_obj(neutral_path)
    if landmarks68 is None:
        kpt = path / "kpt_ind.npy"
        if not kpt.is_file():
            raise FaceModelError(f"{kpt}: missing; give the 68 landmark indices with --landmarks FILE.npy")
        landmarks68 = check_landmarks(load_npy(kpt), len(neutral), str(kpt))
    names, shapes = [], []
    for obj in sorted(path.glob("*.obj")):
        if obj.name == "Neutral.obj":
            continue
        verts, faces = read_obj(obj)
        if verts.shape != neutral.shape or not np.array_equal(faces, tris):
            raise FaceModelError(f"{obj}: topology differs from {neutral_path} "
                                 f"({len(verts)} vertices, {len(faces)} triangles vs "
                                 f"{len(neutral)}, {len(tris)})")
        names.append(obj.stem)
        shapes.append(verts - neutral)
    bs = np.stack(shapes) if shapes else None
    return build_face_model(str(path), neutral, tris, landmarks68, None, bs, tuple(names))


def load_wcpa_face_model(root: str | os.PathLike) -> FaceModel:
    """The face model of a WCPA root: ``resources/example.obj``, ``kpt_ind.npy`` (and ``flip_index.npy``)."""
    res = Path(root) / "resources"
    obj = res / "example.obj"
    if not obj.is_file():
        raise FaceModelError(f"{obj}: missing (a WCPA root needs resources/example.obj)")
    kpt = res / "kpt_ind.npy"
    if not kpt.is_file():
        raise FaceModelError(f"{kpt}: missing (a WCPA root needs resources/kpt_ind.npy)")
    neutral, tris = read_obj(obj)
    lmk = check_landmarks(load_npy(kpt), len(neutral), str(kpt))
    flip_path = res / "flip_index.npy"
    flip = check_flip_index(load_npy(flip_path), len(neutral), str(flip_path)) if flip_path.is_file() else None
    return build_face_model(str(root), neutral, tris, lmk, flip)


def load_face_model(spec: str | os.PathLike = PROCEDURAL, landmarks68: np.ndarray | None = None) -> FaceModel:
    """`procedural`, an OBJ folder (with Neutral.obj) or a WCPA root (with resources/example.obj)."""
    if str(spec) == PROCEDURAL:
        return procedural_face_model()
    path = Path(spec)
    if (path / "Neutral.obj").is_file():
        return load_obj_folder(path, landmarks68)
    if (path / "resources" / "example.obj").is_file():
        return load_wcpa_face_model(path)
    raise FaceModelError(f"{path}: not a face model (expected 'procedural', a folder with Neutral.obj, "
                         "or a WCPA root with resources/example.obj)")
