"""Training checkpoints: what they hold, saving them atomically and loading them with clear errors."""
from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from search_spaces import DEFAULT_SPACE, SearchSpaceError
from kit.atomic import atomic_write
from trainers.errors import CheckpointError
from trainers.progress import CHECKPOINT_NAME
from trainers.model import build_jmlr

FORMAT = "face-nas/jmlr-checkpoint"
VERSION = 1
_KEYS = ("format", "version", "arch", "num_verts", "res", "topology", "config", "epoch", "model")


def save_checkpoint(path: "str | Path", **payload: Any) -> Path:
    """Write a checkpoint (model and optimizer state, config, history, topology) atomically."""
    return atomic_write(path, lambda f: torch.save({"format": FORMAT, "version": VERSION, **payload}, f))


def resolve_checkpoint(path: "str | Path") -> Path:
    """A checkpoint file, or a run folder holding `last.pt`."""
    path = Path(path)
    return path / CHECKPOINT_NAME if path.is_dir() else path


def load_checkpoint(path: "str | Path") -> dict[str, Any]:
    """Load and check a checkpoint on the CPU; a missing, corrupt or foreign file is a `CheckpointError`."""
    path = resolve_checkpoint(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with warnings.catch_warnings():  # a refused pickle is one line of ours, not torch's warning as well
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a face-nas JMLR checkpoint")
    if ckpt.get("version") != VERSION or any(k not in ckpt for k in _KEYS):
        raise CheckpointError(f"{path}: checkpoint version {ckpt.get('version')} or keys not understood "
                              f"(expected version {VERSION})")
    return ckpt


MESH_KEYS = ("num_verts", "num_triangles", "triangles_sum", "flip_sum")
"""What a trained network depends on; the crop size and frame size of the data do not matter to it."""


def check_topology(ckpt: dict[str, Any], signature: dict[str, Any], path: "str | Path", what: str,
                   keys: "tuple[str, ...] | None" = None) -> None:
    """Refuse a checkpoint made on another mesh topology (or, with `keys=None`, other data sizes)."""
    stored = ckpt["topology"]
    keys = tuple(set(stored) | set(signature)) if keys is None else keys
    diff = sorted(k for k in keys if stored.get(k) != signature.get(k))
    if diff:
        details = ", ".join(f"{k}: checkpoint {stored.get(k)} vs {what} {signature.get(k)}" for k in diff)
        raise CheckpointError(f"{path}: checkpoint does not match {what} ({details})")


def model_from_checkpoint(ckpt: dict[str, Any], path: "str | Path" = "checkpoint") -> nn.Module:
    """Rebuild the network of a checkpoint and load its weights (on the CPU, eval mode)."""
    try:
        model = build_jmlr(ckpt["arch"], int(ckpt["num_verts"]), ckpt.get("space", DEFAULT_SPACE))
        model.load_state_dict(ckpt["model"])
    except (SearchSpaceError, RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: weights do not fit architecture {ckpt.get('arch')!r} "
                              f"({str(exc).splitlines()[0]})") from None
    return model.eval()
