"""Files and folders written atomically: a temporary sibling, fsync, then `os.replace`. Finished work is never
left half-written, whatever kills the process; a failed write leaves no temporary file behind.

Temporary siblings are named after their writer (`.NAME.tmp-PID@HOST` for a folder, `.NAME.XXXXXXXX.tmp-PID@HOST`
for a file), so the temporaries of a killed writer are removed by the next write of the same output: only those
whose process is gone, and only those written on this host (a shared file system may have writers elsewhere).
An OSError while writing (read-only, no space left, ...) names the output, not the temporary, even where the
writer buried it (torch.save turns a failed write into a RuntimeError).
"""
from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import shutil
import socket
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


def owner_tag() -> str:
    """`PID@HOST` of this process: the suffix of its temporary files and folders."""
    return f"{os.getpid()}@{socket.gethostname()}"


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists on this host (another user's included)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_gone(tag: str) -> bool:
    """Whether the writer named by `PID` or `PID@HOST` is gone: never for another host's or a live process."""
    pid, _, host = tag.partition("@")
    if host and host != socket.gethostname():
        return False
    return pid.isdigit() and not pid_alive(int(pid))


def remove_stale(folder: "str | Path", name: str) -> list[Path]:
    """Remove the temporaries of output `name` in `folder` whose writers are gone (killed runs); returns them.

    Matches `.NAME.tmp-PID[@HOST]` and `.NAME.old-PID[@HOST]` (staged folders) and `.NAME.XXXXXXXX.tmp-PID@HOST`
    (atomic files); a live process's, another host's or an unreadable folder's are left alone."""
    pattern = re.compile(rf"\.{re.escape(name)}\.(?:[A-Za-z0-9_]+\.)?(?:tmp|old)-(\d+(?:@.+)?)")
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if not match or not _owner_gone(match.group(1)):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass  # another cleaner was first, or not ours to remove: harmless either way
    return removed


def buried_os_error(exc: BaseException) -> OSError | None:
    """The OSError behind `exc`: itself, or one in its chain of causes (torch.save, for one, raises a
    RuntimeError from the OSError of a failed write)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def named(exc: OSError, path: "str | Path") -> OSError:
    """The same error (errno and reason) naming `path`."""
    code = exc.errno if exc.errno is not None else errno.EIO
    return OSError(code, exc.strerror or os.strerror(code), str(path))


def atomic_write(path: "str | Path", write: Callable[[Any], None], binary: bool = True,
                 mode: int | None = None) -> Path:
    """Call `write(f)` on a temp file beside `path`, fsync it, then rename it over `path`.

    `mode`: permission bits of the result (default: what a new file gets under the umask, not mkstemp's 0600).
    An OSError (read-only folder, no space left, ...) names `path`; the temp file is removed whatever happens.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent, path.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp-{owner_tag()}", dir=path.parent)
    except OSError as exc:
        raise named(exc, path) from None  # the random temporary's name would mean nothing to the user
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, (0o666 & ~_umask()) if mode is None else mode)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        cause = buried_os_error(exc)
        if cause is not None and cause.filename in (None, tmp):
            raise named(cause, path) from exc
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

    A non-empty `out` is refused (OutputExistsError) unless `overwrite`; an `out` that is a file always is. The
    temporary folders of killed earlier writers of `out` are removed first. An OSError in the block that names
    no file (a full disk under np.save, say) is raised naming `out`.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out}: is a file, not a folder")
    if out.exists() and not overwrite and any(out.iterdir()):
        raise OutputExistsError(f"{out}: exists and is not empty (pass --overwrite to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out.parent, out.name)
    tmp = out.parent / f".{out.name}.tmp-{owner_tag()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
    except OSError as exc:
        raise named(exc, out) from None  # the temporary's name would mean nothing to the user
    try:
        yield tmp
        if out.exists():
            old = out.parent / f".{out.name}.old-{owner_tag()}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        cause = buried_os_error(exc)
        if cause is not None and cause.filename is None:
            raise named(cause, out) from exc
        raise
