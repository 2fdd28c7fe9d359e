"""Files and folders written atomically: a temporary sibling, fsync, then `os.replace`. Finished work is never
left half-written, whatever kills the process; a failed write leaves no temporary file behind."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from kit.errors import ToolkitError


class OutputExistsError(ToolkitError):
    """An output folder that already holds something, where replacing it was not asked for."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: "str | Path", write: Callable[[Any], None], binary: bool = True,
                 mode: int | None = None) -> Path:
    """Call `write(f)` on a temp file beside `path`, fsync it, then rename it over `path`.

    `mode`: permission bits of the result (default: what a new file gets under the umask, not mkstemp's 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, (0o666 & ~_umask()) if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bytes(path: "str | Path", data: bytes) -> Path:
    """Atomically write bytes."""
    return atomic_write(path, lambda f: f.write(data))


def write_text(path: "str | Path", text: str) -> Path:
    """Atomically write text."""
    return atomic_write(path, lambda f: f.write(text), binary=False)


def write_json(path: "str | Path", value: Any) -> Path:
    """Atomically write `value` as indented JSON."""
    return write_text(path, json.dumps(value, indent=2, default=str) + "\n")


def write_csv(path: "str | Path", rows: Iterable[Mapping[str, Any]], columns: list[str] | None = None) -> Path:
    """Atomically write dict rows as CSV: `columns` first (all of them, even with no rows), then any other key
    in first-seen order; None is written as an empty cell."""
    rows = list(rows)
    names: list[str] = list(columns or [])
    for row in rows:
        names += [k for k in row if k not in names]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if row.get(k) is None else row.get(k)) for k in names} for row in rows)
    return write_text(path, buf.getvalue())


@contextmanager
def staged_folder(out: "str | Path", overwrite: bool) -> Iterator[Path]:
    """A fresh temporary folder beside `out`, renamed onto it when the block succeeds, removed if not.

    A non-empty `out` is refused (OutputExistsError) unless `overwrite`.
    """
    out = Path(out)
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise OutputExistsError(f"{out}: exists and is not empty (pass --overwrite to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
