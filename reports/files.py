"""Report files written atomically, readable as any new file would be (the umask's mode)."""
from __future__ import annotations

from pathlib import Path

from kit.atomic import atomic_write


def write_file(path: Path, data: "str | bytes") -> Path:
    """Write text or bytes to `path` atomically (0666 & ~umask: a report is meant to be shared)."""
    return atomic_write(path, lambda f: f.write(data), binary=isinstance(data, bytes))
