"""Files written atomically (a temp file in the same folder, then `os.replace`): finished work is never
left half-written, whatever kills the process."""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import torch


def atomic_write(path: "str | Path", write: Callable[[Any], None], binary: bool = True) -> Path:
    """Call `write(f)` on a temp file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: "str | Path", value: Any) -> Path:
    """Atomically write `value` as indented JSON."""
    return atomic_write(path, lambda f: f.write(json.dumps(value, indent=2, default=str) + "\n"), binary=False)


def write_csv(path: "str | Path", rows: Iterable[Mapping[str, Any]]) -> Path:
    """Atomically write dict rows as CSV (columns: the union of keys, in first-seen order)."""
    rows = list(rows)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return atomic_write(path, lambda f: f.write(buf.getvalue()), binary=False)


def save_torch(path: "str | Path", obj: Any) -> Path:
    """Atomically `torch.save` an object."""
    return atomic_write(path, lambda f: torch.save(obj, f))
