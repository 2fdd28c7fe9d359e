"""Report files written atomically, readable as any new file would be (the umask's mode, not the temp file's 0600)."""
from __future__ import annotations

import os
from pathlib import Path

from trainers.atomic import atomic_write


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_file(path: Path, data: "str | bytes") -> Path:
    """Write text or bytes to `path` atomically; a report is meant to be shared, so 0666 & ~umask."""
    binary = isinstance(data, bytes)
    atomic_write(path, lambda f: f.write(data), binary=binary)
    os.chmod(path, 0o666 & ~_umask())
    return path
