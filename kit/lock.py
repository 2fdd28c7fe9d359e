"""One writer per run folder: an exclusive `flock` on `FOLDER/.lock`, held by the driver for as long as it runs.

The kernel releases the lock when the holder dies, however it dies (SIGKILL included), so a killed driver's lock
is never stale: the next `--resume` simply takes it. A second driver on the same folder is refused at once,
with the holder's pid and host named.
"""
from __future__ import annotations

import fcntl
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from kit.errors import ToolkitError


class RunLockedError(ToolkitError):
    """Another process is writing the same run folder."""


@contextmanager
def run_lock(folder: "str | Path", what: str = "run") -> Iterator[Path]:
    """Hold the run folder's lock for the block; RunLockedError where another process holds it."""
    path = Path(folder) / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise RunLockedError(f"{path.parent} is being written by {holder}: wait for it to end (or stop it), "
                                 f"or choose another --name") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{what} pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing releases the lock
