"""The crop cache as the trainer sees it: open and check it, and the face topology and camera it carries.

The cache itself (`facedata.open_cache`) is built by `nas-data cache`; any object with the same
attributes works (duck typing), which is how tests build small caches in memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facedata.cache import SPLITS  # train, val (selection), hold (held-out test), test (WCPA's, unlabelled)
from facedata.conventions import check_projection
from trainers.errors import CacheError, CameraError


@dataclass(frozen=True)
class Topology:
    """What training and scoring need besides the per-frame arrays: mesh, flip index, camera, crop size."""

    triangles: np.ndarray  # (F, 3) int64
    flip_index: np.ndarray  # (V,) int64, an involution
    projection: np.ndarray  # (4, 4) float64
    image_size: tuple[int, int]  # (W, H) of the full frame
    res: int  # crop size of the cache

    @property
    def num_verts(self) -> int:
        """Vertices per face."""
        return len(self.flip_index)

    def signature(self) -> dict[str, Any]:
        """A small fingerprint, stored in checkpoints to refuse a mismatched cache."""
        return {"num_verts": self.num_verts, "num_triangles": int(len(self.triangles)),
                "cache_res": self.res, "image_size": list(self.image_size),
                "triangles_sum": int(self.triangles.sum()), "flip_sum": int((self.flip_index * np.arange(
                    self.num_verts)).sum())}


def _shape(cache: Any, name: str, source: str) -> tuple[int, ...]:
    value = getattr(cache, name, None)
    if value is None or not hasattr(value, "shape"):
        raise CacheError(f"{source}: the cache has no array {name!r}")
    return tuple(value.shape)


def check_cache(cache: Any, source: str = "cache") -> Topology:
    """Check shapes, dtypes and the topology of a cache object; return its `Topology`.

    Reads only shapes, the split labels and the small topology arrays, never the images.
    """
    shape = _shape(cache, "images", source)
    if len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2] or np.dtype(cache.images.dtype) != np.uint8:
        raise CacheError(f"{source}: images must be (N, res, res, 3) uint8, got {shape} "
                         f"{getattr(cache.images, 'dtype', '?')}")
    n, res = shape[0], shape[1]
    verts = _shape(cache, "verts", source)
    if len(verts) != 3 or verts[0] != n or verts[2] != 3:
        raise CacheError(f"{source}: verts must be (N={n}, V, 3), got {verts}")
    v = verts[1]
    expected = {"points2d": (n, v, 2), "R_t": (n, 4, 4), "tform": (n, 2, 3), "subjects": (n,), "split": (n,)}
    for name, want in expected.items():
        if _shape(cache, name, source) != want:
            raise CacheError(f"{source}: {name} must have shape {want}, got {_shape(cache, name, source)}")
    bad = set(np.unique(np.asarray(cache.split)).tolist()) - set(SPLITS)
    if bad:
        raise CacheError(f"{source}: split holds unknown values {sorted(bad)}; expected {SPLITS}")
    tri = np.asarray(getattr(cache, "triangles", np.zeros(0)))
    if tri.ndim != 2 or tri.shape[1] != 3 or not len(tri) or not np.issubdtype(tri.dtype, np.integer) \
            or tri.min() < 0 or tri.max() >= v:
        raise CacheError(f"{source}: triangles must be (F, 3) integer indices into {v} vertices")
    flip = np.asarray(getattr(cache, "flip_index", np.zeros(0)))
    if flip.shape != (v,) or not np.issubdtype(flip.dtype, np.integer) or flip.min() < 0 or flip.max() >= v \
            or not np.array_equal(flip[flip], np.arange(v)):
        raise CacheError(f"{source}: flip_index must be a ({v},) involution of the vertices")
    projection = np.asarray(getattr(cache, "projection", np.zeros(0)), dtype=np.float64)
    size = tuple(int(s) for s in np.asarray(getattr(cache, "image_size", (0, 0))).reshape(-1))
    if len(size) != 2 or min(size) < 1:
        raise CacheError(f"{source}: image_size must be (W, H), got {size}")
    try:
        check_projection(projection)
    except CameraError as exc:
        raise CacheError(f"{source}: {exc}") from None
    return Topology(tri.astype(np.int64), flip.astype(np.int64), projection, size, res)


def open_cache(path: "str | Path") -> Any:
    """Open a crop cache directory with `facedata.open_cache`; every failure is a `CacheError`."""
    path = Path(path)
    if not path.exists():
        raise CacheError(f"{path}: no such crop cache (make one with `nas-data cache`)")
    try:
        from facedata import open_cache as _open  # the data package's reader (issue 3)
    except ImportError as exc:
        raise CacheError(f"{path}: the crop cache reader facedata is not available ({exc})") from None
    try:
        cache = _open(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure on user data is bad input here
        raise CacheError(f"{path}: cannot read the crop cache: {exc}") from None
    check_cache(cache, str(path))
    return cache


def split_rows(cache: Any, split: str) -> np.ndarray:
    """Cache row indices (int64, ascending) of one split."""
    if split not in SPLITS:
        raise CacheError(f"unknown split {split!r}; expected one of {SPLITS}")
    return np.flatnonzero(np.asarray(cache.split) == split).astype(np.int64)


def subset_size(n: int, fraction: float | None = None, limit: int | None = None) -> int:
    """How many of `n` rows `subset(n, fraction, limit)` keeps (whatever its seed)."""
    k = n if fraction is None else max(1, int(round(fraction * n)))
    return min(k, limit) if limit else k


def epoch_images(n: int, fraction: float, batch: int) -> int:
    """Images one training epoch sees on `n` training frames: whole batches of the `fraction` it trains on (the
    last part-batch is dropped; a batch larger than the frames shrinks to them)."""
    k = subset_size(n, fraction)
    batch = min(batch, k)
    return k // batch * batch if batch > 0 else 0
