"""How far a training's checkpoint got, in a small file beside it that planners read without loading the network
(or torch): a driver with a time limit expects a resumable training to take only the epochs it has left."""
from __future__ import annotations

import json
from pathlib import Path

from kit.atomic import write_json

CHECKPOINT_NAME = "last.pt"  # a training folder's resumable checkpoint (trainers.checkpoint)
PROGRESS_NAME = "last.json"  # its epoch, beside it and written after it


def write_progress(folder: "str | Path", epoch: int, epochs: int, wall_s: float) -> Path:
    """Record that the checkpoint in `folder` holds `epoch` of `epochs` epochs, trained in `wall_s` seconds."""
    return write_json(Path(folder) / PROGRESS_NAME, {"epoch": int(epoch), "epochs": int(epochs),
                                                      "wall_s": float(wall_s)})


def fraction_left(folder: "str | Path") -> float:
    """The share of its epochs a training resumed from `folder` has still to run: 1.0 where there is no checkpoint
    or its record cannot be read (a full training is the safe guess), 0.0 for one that finished."""
    folder = Path(folder)
    try:
        if not (folder / CHECKPOINT_NAME).is_file():
            return 1.0
        record = json.loads((folder / PROGRESS_NAME).read_text())
        epoch, epochs = int(record["epoch"]), int(record["epochs"])
    except (OSError, ValueError, KeyError, TypeError):
        return 1.0
    if epochs <= 0 or not 0 <= epoch <= epochs:
        return 1.0
    return (epochs - epoch) / epochs
