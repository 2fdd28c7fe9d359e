"""The data a search trains on: a crop cache, built from a WCPA root or the embedded synthetic set.

Built caches live in `OUT/.data/` and are shared by every run under the same output folder, so the
embedded data set is made once. Each is built in a temporary folder and renamed into place, so a
killed driver never leaves a half-built cache that a later run would trust.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

from facedata.cache import CacheConfig, build_cache
from facedata.errors import DataError
from facedata.synth import SynthConfig, synthesize

MANIFEST = "manifest.json"
Progress = Callable[[str, int], Callable[[int], None]]  # (label, total) -> advance(n)


def is_cache(path: Path) -> bool:
    """A crop cache written by `nas-data cache`."""
    return (path / MANIFEST).is_file()


def is_wcpa_root(path: Path) -> bool:
    """A WCPA-layout data set (real or synthetic)."""
    return (path / "list").is_dir() and (path / "image").is_dir()


def _workers() -> int:
    return max(1, min(16, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


LEGACY_SPLITS = (0.2, 0.0)  # caches made before held-out test subjects (issue 15): 20 % selection, no test


def split_tag(val: float, test: float) -> str:
    """The suffix that tells caches of other subject splits apart (none for the old 20 % / 0 % split)."""
    return "" if (val, test) == LEGACY_SPLITS else f"-v{round(100 * val)}t{round(100 * test)}"


def _cache_root(root: Path, out: Path, res: int, seed: int, progress: Progress | None,
                splits: tuple[float, float] = LEGACY_SPLITS) -> Path:
    from facedata.wcpa import read_layout
    if is_cache(out):
        return out
    total = len(read_layout(str(root)))
    advance = progress("caching crops", total) if progress else None
    build_cache(CacheConfig(data=str(root), out=str(out), res=res, seed=seed, workers=_workers(),
                            val_subjects=splits[0], test_subjects=splits[1]), advance)
    return out


def embedded_data(data_dir: Path, subjects: int, frames_per_subject: int, res: int, seed: int,
                  progress: Progress | None = None, splits: tuple[float, float] = LEGACY_SPLITS) -> Path:
    """The embedded synthetic data set (procedural face), made once and cached at `res` with `splits`
    (fractions of selection and held-out test subjects)."""
    tag = f"synth-s{subjects}-f{frames_per_subject}-seed{seed}"
    root, cache = data_dir / tag, data_dir / f"{tag}-cache{res}{split_tag(*splits)}"
    if is_cache(cache):
        return cache
    if not (root / "list").is_dir():
        advance = progress("rendering synthetic faces", subjects * frames_per_subject) if progress else None
        synthesize(SynthConfig(out=str(root), subjects=subjects, frames_per_subject=frames_per_subject,
                               test_subjects=0.0, seed=seed, workers=_workers(), overwrite=True), advance)
    return _cache_root(root, cache, res, seed, progress, splits)


def check_data(data: str | None) -> None:
    """Fail early on a `--data` that is neither a crop cache nor a WCPA root (nothing is built here)."""
    if data is None:
        return
    path = Path(data).expanduser().resolve()
    if not path.exists():
        raise DataError(f"--data {data}: no such file or folder")
    if not (is_cache(path) or is_wcpa_root(path)):
        raise DataError(f"--data {data}: neither a crop cache (no {MANIFEST}) nor a WCPA root (no list/ and image/)")
    if is_cache(path):
        from facedata.cache import open_cache
        open_cache(path)  # reads the manifest and maps the arrays: a damaged cache is refused before Ray starts


def prepare_data(data: str | None, out: Path, res: int, seed: int, subjects: int, frames_per_subject: int,
                 progress: Progress | None = None, splits: tuple[float, float] = LEGACY_SPLITS) -> Path:
    """The crop cache a search uses: `data` as given, a cache of a WCPA root, or the embedded set; a cache made
    here holds `splits` (fractions of selection and held-out test subjects; a given cache keeps its own)."""
    data_dir = out / ".data"
    if data is None:
        return embedded_data(data_dir, subjects, frames_per_subject, res, seed, progress, splits)
    check_data(data)
    path = Path(data).expanduser().resolve()
    if is_cache(path):
        return path
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    return _cache_root(path, data_dir / f"{path.name}-{digest}-cache{res}{split_tag(*splits)}", res, seed, progress,
                       splits)
