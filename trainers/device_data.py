"""`DeviceData`: the splits of a crop cache prepared once on one device and reused by many trainings
(a Ray Tune worker keeps one and passes it to `train` for each trial it runs)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainers.dataset import Topology, check_cache, open_cache, split_rows, subset_size
from trainers.errors import ConfigError
from trainers.feeder import make_source, resolve_device


class DeviceData:
    """Splits of one cache on one device: GPU-resident uint8 where they fit, streamed otherwise.

    Nothing global: the object owns its tensors; drop it to free the device memory. Trainings only
    read from it, so several can use it one after another.
    """

    def __init__(self, cache: Any, device: "str | torch.device" = "auto", mode: str = "auto",
                 splits: tuple[str, ...] = ("train", "val", "hold"), source: str = "cache") -> None:
        self.cache = cache
        self.topology: Topology = check_cache(cache, source)
        self.device = resolve_device(device)
        self.mode = mode
        self.rows = {s: split_rows(cache, s) for s in splits}
        # made on first use: a proxy training never touches the held-out test subjects, so they never reach its GPU
        self.sources: dict[str, Any] = {}
        self.flip_index = torch.as_tensor(self.topology.flip_index, device=self.device)

    @classmethod
    def open(cls, path: "str | Path", device: "str | torch.device" = "auto", mode: str = "auto",
             splits: tuple[str, ...] = ("train", "val", "hold")) -> "DeviceData":
        """Open the cache at `path` (`facedata.open_cache`) and prepare `splits` on `device`."""
        return cls(open_cache(path), device, mode, splits, str(path))

    def source(self, split: str):
        """The batch source of a split, or None where the cache holds no frame of it."""
        if split not in self.rows:
            raise ConfigError(f"split {split!r} was not prepared on the device (prepared: {list(self.rows)})")
        if split not in self.sources and len(self.rows[split]):
            self.sources[split] = make_source(self.cache, self.rows[split], self.device, self.mode)
        return self.sources.get(split)

    def labels(self, split: str, local: np.ndarray, names: tuple[str, ...] = ("verts", "R_t", "tform")
               ) -> dict[str, np.ndarray]:
        """Host labels of local rows of a split: world `verts`, `R_t` and the crop `tform` (or `names`)."""
        rows = self.rows[split][np.asarray(local, dtype=np.int64)]
        return {name: np.asarray(getattr(self.cache, name)[rows]) for name in names}


def subset(n: int, fraction: float | None = None, limit: int | None = None, seed: int = 0) -> np.ndarray:
    """Sorted local indices of a seeded random subset: `fraction` of `n` rows, at most `limit` rows.

    The subset depends on the seed only, so every architecture of a search sees the same frames.
    """
    k = subset_size(n, fraction, limit)
    if k >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng([seed, n, k]).choice(n, size=k, replace=False)).astype(np.int64)
