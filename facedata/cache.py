"""The aligned crop cache: one folder of memory-mappable .npy arrays and a manifest.json.

Writing never holds the data set in memory: every per-frame array is preallocated with
np.lib.format.open_memmap in a temporary folder beside the target, workers fill disjoint chunks of
rows, the manifest is written last and the folder is renamed into place (atomic). `open_cache` maps it.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from facedata.conventions import CANVAS, SHIFT, align_tforms, apply_tform, warp
from facedata.conventions import project
from facedata.errors import CacheError, DataError, LayoutError
from facedata.parallel import run_jobs
from kit.atomic import staged_folder
from kit.limits import MAX_RES, MIN_RES
from facedata.wcpa import SYNTH_MARKER, WcpaLayout, read_image, read_info, read_landmarks, read_layout

FORMAT_VERSION = 1
LABELS = ("verts", "R_t", "points2d")                      # NaN for test frames
PER_SET = ("triangles", "flip_index", "landmarks68", "projection", "image_size")
STRINGS = ("subjects", "facial_actions", "img_ids", "split")
# a frame's split: training; selection ('val': what a search ranks and picks on); held-out test subjects with
# labels ('hold': what the final comparison is scored on, nothing picked on them); WCPA's own test list ('test',
# no labels)
SPLITS = ("train", "val", "hold", "test")


@dataclass(frozen=True)
class CacheConfig:
    """What `nas-data cache` builds."""

    data: str
    out: str
    res: int = 256
    val_subjects: float = 0.2
    test_subjects: float = 0.0  # labelled subjects held out for the final comparison (split 'hold')
    seed: int = 0
    workers: int = 1
    on_error: str = "raise"          # or "skip"
    overwrite: bool = False
    chunk: int = 256

    def validate(self) -> None:
        """Raise DataError naming the first bad value."""
        if not MIN_RES <= self.res <= MAX_RES:
            raise DataError(f"--res must be {MIN_RES} to {MAX_RES} pixels, got {self.res}")
        if not 0.0 <= self.val_subjects < 1.0:
            raise DataError(f"--val-subjects must be a fraction in [0, 1), got {self.val_subjects}")
        if not 0.0 <= self.test_subjects < 1.0 or self.val_subjects + self.test_subjects >= 1.0:
            raise DataError(f"--test-subjects must be a fraction in [0, 1) leaving training subjects beside "
                            f"--val-subjects {self.val_subjects}, got {self.test_subjects}")
        if self.workers < 1 or self.chunk < 1:
            raise DataError(f"--workers must be at least 1, got {self.workers}")
        if self.on_error not in ("raise", "skip"):
            raise DataError(f"--on-error must be 'raise' or 'skip', got {self.on_error!r}")


def frame_arrays(n: int, res: int, num_vertices: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shapes and dtypes of the per-frame arrays."""
    return {"images": ((n, res, res, 3), np.dtype(np.uint8)),
            "verts": ((n, num_vertices, 3), np.dtype(np.float32)),
            "R_t": ((n, 4, 4), np.dtype(np.float32)),
            "tform": ((n, 2, 3), np.dtype(np.float32)),
            "points2d": ((n, num_vertices, 2), np.dtype(np.float32)),
            "landmarks2d": ((n, 68, 2), np.dtype(np.float32))}


def assign_splits(layout: WcpaLayout, val_fraction: float, seed: int, test_fraction: float = 0.0) -> np.ndarray:
    """'train' / 'val' / 'hold' / 'test' per frame, by subject: selection ('val') and held-out test ('hold')
    subjects are drawn (seeded) from the labelled list, disjoint; WCPA's unlabelled test list stays 'test'."""
    split = np.where(layout.split == "test", "test", "train").astype("<U5")
    subjects = np.random.default_rng(seed).permutation(np.unique(layout.ids[split == "train", 0]))
    n_val, n_hold = _split_sizes(len(subjects), val_fraction, test_fraction)
    for name, chosen in (("val", subjects[:n_val]), ("hold", subjects[n_val:n_val + n_hold])):
        split[(split == "train") & np.isin(layout.ids[:, 0], chosen)] = name
    return split


def _split_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """Selection and test subject counts: each fraction rounded, at least one where asked, one left to train."""
    sizes = []
    for fraction in (val_fraction, test_fraction):
        k = int(round(fraction * n))
        sizes.append(max(k, 1) if fraction > 0 and n > 1 else k)
    while sum(sizes) > n - 1 and max(sizes) > 0:  # training keeps at least one subject
        sizes[sizes.index(max(sizes))] -= 1
    return sizes[0], sizes[1]


_WORKER: dict = {}


def _init_worker(data: str) -> None:
    cv2.setNumThreads(1)
    _WORKER["layout"] = read_layout(data)


def _fill_chunk(tmp: str, start: int, stop: int, res: int, image_size: tuple[int, int],
                skip: bool) -> list[tuple[int, str]]:
    """Read, align and write frames [start, stop) into the memmaps; returns the (row, error) skipped."""
    layout: WcpaLayout = _WORKER["layout"]
    arrays = {name: np.load(Path(tmp) / f"{name}.npy", mmap_mode="r+") for name in frame_arrays(0, 0, 0)}
    nv = layout.model.num_vertices
    failed: list[tuple[int, str]] = []
    rows, lmks = [], []
    for i in range(start, stop):
        try:
            lmks.append(read_landmarks(layout.paths(i)[2]))
            rows.append(i)
        except LayoutError as exc:
            if not skip:
                raise
            failed.append((i, str(exc)))
    if not rows:
        return failed
    lmks_arr = np.stack(lmks)
    tforms = align_tforms(lmks_arr, res)
    for k, i in enumerate(rows):
        img_path, info_path, _ = layout.paths(i)
        try:
            image = read_image(img_path, image_size)
            labelled = layout.split[i] != "test"
            verts, rt = read_info(info_path, nv) if labelled else (None, None)
        except LayoutError as exc:
            if not skip:
                raise
            failed.append((i, str(exc)))
            continue
        arrays["images"][i] = warp(image, tforms[k], res)
        arrays["tform"][i] = tforms[k]
        arrays["landmarks2d"][i] = lmks_arr[k]
        if verts is not None:
            arrays["verts"][i] = verts
            arrays["R_t"][i] = rt
            pix = project(verts.astype(np.float64), rt.astype(np.float64), layout.projection, image_size)
            arrays["points2d"][i] = apply_tform(tforms[k], pix)
    # no msync per chunk: the page cache is shared by all processes, and a synchronous flush here
    # serialised the workers on the disk; build_cache fsyncs every file once before the manifest
    return failed


def _compact(tmp: Path, keep: np.ndarray, shapes: dict, chunk: int) -> None:
    """Drop skipped rows from every per-frame array, streaming chunk by chunk."""
    n = int(keep.sum())
    for name, (shape, dtype) in shapes.items():
        src = np.load(tmp / f"{name}.npy", mmap_mode="r")
        dst = np.lib.format.open_memmap(tmp / f"{name}.part.npy", mode="w+", dtype=dtype, shape=(n,) + shape[1:])
        rows = np.nonzero(keep)[0]
        for a in range(0, n, chunk):
            dst[a:a + chunk] = src[rows[a:a + chunk]]
        dst.flush()
        del src, dst
        os.replace(tmp / f"{name}.part.npy", tmp / f"{name}.npy")


def _allocate(tmp: Path, shapes: dict, test_rows: np.ndarray, chunk: int) -> None:
    """Preallocate every per-frame array as a memmap; test frames' labels are NaN."""
    for name, (shape, dtype) in shapes.items():
        arr = np.lib.format.open_memmap(tmp / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)
        if name in LABELS:
            for a in range(0, len(test_rows), chunk):
                arr[test_rows[a:a + chunk]] = np.nan
        arr.flush()
        del arr


def _fsync_all(folder: Path) -> None:
    """Make every file of `folder` durable before the manifest marks the cache complete."""
    for path in folder.iterdir():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _manifest(cfg: CacheConfig, layout: WcpaLayout, ids: np.ndarray, split: np.ndarray,
              failed: list[tuple[int, str]], seconds: float) -> dict:
    splits = SPLITS
    return {
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source": str(Path(cfg.data).resolve()),
        "synthetic": (Path(cfg.data) / SYNTH_MARKER).is_file(),  # `nas-data synth` leaves its config in the root
        "res": cfg.res, "image_size": list(layout.image_size),
        "num_vertices": layout.model.num_vertices, "num_triangles": int(len(layout.model.triangles)),
        "counts": {"total": int(len(ids)), **{s: int((split == s).sum()) for s in splits}},
        "subjects": {s: int(len(np.unique(ids[split == s, 0]))) for s in splits},
        "skipped": len(failed), "skipped_examples": [msg for _, msg in sorted(failed)[:10]],
        "template": {"canvas": CANVAS, "shift": list(SHIFT), "points": "eye centres, nose tip, mouth corners"},
        "seconds": round(seconds, 2),
        "config": {**asdict(cfg), "data": str(Path(cfg.data).resolve()), "out": str(Path(cfg.out).resolve())},
    }


def build_cache(cfg: CacheConfig, progress: Callable[[int], None] | None = None) -> dict:
    """Align and crop every listed frame of cfg.data into the cache folder cfg.out; returns the manifest."""
    cfg.validate()
    started = time.time()
    layout = read_layout(cfg.data)
    if len(layout) == 0:
        raise LayoutError(f"{Path(cfg.data) / 'list'}: the lists hold no frames")
    split = assign_splits(layout, cfg.val_subjects, cfg.seed, cfg.test_subjects)
    n = len(layout)
    shapes = frame_arrays(n, cfg.res, layout.model.num_vertices)
    failed: list[tuple[int, str]] = []

    def collect(job: tuple, result: list) -> None:
        failed.extend(result)
        if progress:
            progress(job[2] - job[1])

    with staged_folder(cfg.out, cfg.overwrite) as tmp:
        _allocate(tmp, shapes, np.nonzero(split == "test")[0], cfg.chunk)
        jobs = [(str(tmp), a, min(a + cfg.chunk, n), cfg.res, layout.image_size, cfg.on_error == "skip")
                for a in range(0, n, cfg.chunk)]
        run_jobs(_fill_chunk, jobs, cfg.workers, _init_worker, (cfg.data,), collect)
        keep = np.ones(n, dtype=bool)
        keep[[i for i, _ in failed]] = False
        if not keep.any():
            raise LayoutError(f"{cfg.data}: every frame was skipped; first error: {min(failed)[1]}")
        if not keep.all():
            _compact(tmp, keep, shapes, cfg.chunk)
        ids, split = layout.ids[keep], split[keep]
        arrays = {"subjects": ids[:, 0], "facial_actions": ids[:, 1], "img_ids": ids[:, 2], "split": split,
                  "triangles": layout.model.triangles, "flip_index": layout.model.flip_index,
                  "landmarks68": layout.model.landmarks68, "projection": layout.projection,
                  "image_size": np.array(layout.image_size, dtype=np.int64)}
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", np.asarray(arr))
        _fsync_all(tmp)
        manifest = _manifest(cfg, layout, ids, split, failed, time.time() - started)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")   # last: marks it complete
    return manifest


class FaceCache:
    """A crop cache opened for reading; N frames, V vertices, crops of res x res.

    Per frame, read-only memory maps: ``images`` (N, res, res, 3) uint8 RGB; ``verts`` (N, V, 3)
    float32 world metres (ARKit axes); ``R_t`` (N, 4, 4) float32 world -> camera (row vectors);
    ``tform`` (N, 2, 3) float32 from the W x H frame to the crop; ``points2d`` (N, V, 2) float32, the
    vertices projected by R_t and the projection, mapped by tform (crop pixels); ``landmarks2d``
    (N, 68, 2) float32 the detector landmarks in frame pixels. Labels (verts, R_t, points2d) of test
    frames are NaN. In memory: ``subjects``, ``facial_actions``, ``img_ids`` (N,) str (the challenge
    ids, leading zeros kept; ``ids`` stacks them) and ``split`` (N,) 'train' / 'val' / 'test'. Per set:
    ``triangles`` (F, 3) int64, ``flip_index`` (V,) int64, ``landmarks68`` (68,) int64 vertex ids,
    ``projection`` (4, 4) float64, ``image_size`` (W, H) ints; ``manifest`` the parsed manifest.json.
    """

    images: np.ndarray
    verts: np.ndarray
    R_t: np.ndarray
    tform: np.ndarray
    points2d: np.ndarray
    landmarks2d: np.ndarray
    subjects: np.ndarray
    facial_actions: np.ndarray
    img_ids: np.ndarray
    split: np.ndarray
    triangles: np.ndarray
    flip_index: np.ndarray
    landmarks68: np.ndarray
    projection: np.ndarray
    image_size: tuple[int, int]

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        manifest_path = self.path / "manifest.json"
        if not manifest_path.is_file():
            raise CacheError(f"{manifest_path}: missing (not a crop cache, or an unfinished one)")
        try:
            self.manifest = json.loads(manifest_path.read_text())
            version = self.manifest.get("format_version")
            n, res, verts = (self.manifest["counts"]["total"], self.manifest["res"], self.manifest["num_vertices"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CacheError(f"{manifest_path}: unreadable ({type(exc).__name__}: {exc})") from None
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (n, res, verts)):
            raise CacheError(f"{manifest_path}: counts.total, res and num_vertices must be positive whole numbers, "
                             f"got {n!r}, {res!r}, {verts!r}")
        if version != FORMAT_VERSION:
            raise CacheError(f"{manifest_path}: format version {version}, this toolkit reads {FORMAT_VERSION}")
        for name, (shape, dtype) in frame_arrays(n, res, verts).items():
            setattr(self, name, self._load(name, mmap=True, shape=shape, dtype=dtype))
        for name in STRINGS + PER_SET:
            setattr(self, name, self._load(name, mmap=False))
        self.image_size = tuple(int(v) for v in self.image_size)
        self._check_counts(manifest_path)

    def _check_counts(self, manifest_path: Path) -> None:
        """The manifest's counts must be what the arrays hold (a damaged or hand-edited cache is refused)."""
        held = {s: int(np.count_nonzero(self.split == s)) for s in SPLITS}
        stated = {s: self.manifest["counts"].get(s, 0 if s == "hold" else None) for s in held}  # older: no 'hold'
        if len(self.split) != self.manifest["counts"]["total"] or held != stated:
            raise CacheError(f"{manifest_path}: counts {stated} do not match split.npy's {held}")

    def _load(self, name: str, mmap: bool, shape: tuple | None = None, dtype: np.dtype | None = None) -> np.ndarray:
        path = self.path / f"{name}.npy"
        try:
            arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:  # EOFError: an empty file
            raise CacheError(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None
        if shape is not None and (arr.shape != shape or arr.dtype != dtype):
            raise CacheError(f"{path}: expected {shape} {dtype}, found {arr.shape} {arr.dtype}")
        return arr

    def __len__(self) -> int:
        return int(self.manifest["counts"]["total"])

    @property
    def res(self) -> int:
        """Crop size in pixels."""
        return int(self.manifest["res"])

    @property
    def ids(self) -> np.ndarray:
        """(N, 3) str: subject_id, facial_action, img_id of each frame (to write predictions back)."""
        return np.stack([self.subjects, self.facial_actions, self.img_ids], axis=1)

    def indices(self, split: str) -> np.ndarray:
        """Row indices (int64) of one split: 'train', 'val', 'hold' or 'test'."""
        if split not in SPLITS:
            raise CacheError(f"unknown split {split!r} (expected {', '.join(SPLITS)})")
        return np.nonzero(self.split == split)[0]

    def synthetic(self) -> bool | None:
        """Whether the frames are the toolkit's synthetic faces; None where the cache predates the record and its
        source folder is gone."""
        if "synthetic" in self.manifest:
            return bool(self.manifest["synthetic"])
        source = Path(str(self.manifest.get("source", "")))
        return (source / SYNTH_MARKER).is_file() if source.is_dir() else None

    def subject_splits(self) -> dict[str, list[str]]:
        """The subjects of each non-empty split, sorted."""
        return {s: sorted(map(str, np.unique(self.subjects[self.split == s]))) for s in SPLITS
                if np.any(self.split == s)}


def open_cache(path: str | os.PathLike) -> FaceCache:
    """Open a crop cache written by `nas-data cache` (see FaceCache for the arrays)."""
    return FaceCache(path)
