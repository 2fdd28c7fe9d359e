"""One `main` wrapper for every command: bad input is one line and exit 2, a failed run one line and exit 1,
Ctrl-C one line and exit 130; never a traceback for any of them."""
from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import Callable, NoReturn

from kit.errors import RunFailure, ToolkitError

BAD_INPUT, FAILED, INTERRUPTED = 2, 1, 130
# an OSError with a file name and one of these numbers is the user's input or output, not a bug of ours
_PATH_ERRORS = {errno.EROFS, errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.ENOTDIR, errno.EISDIR,
                errno.ENAMETOOLONG, errno.ENOENT, errno.EEXIST, errno.EFBIG}
# a full disk or quota is the machine's state, not a bug of ours, even where the failed write named no file
_SPACE_ERRORS = {errno.ENOSPC, errno.EDQUOT}


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (`prog: error: ...`, exit 2) without the usage block: `--help`
    shows the usage."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        self.exit(BAD_INPUT, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def say(prog: str, message: str) -> None:
    """`prog: error: message` on one line of stderr."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)


def _file_in_the_way(path: str) -> str | None:
    """The first part of `path` (itself included) that exists and is not a folder."""
    from pathlib import Path
    p = Path(path)
    for part in [*reversed(p.parents), p]:
        try:
            if part.exists() and not part.is_dir():
                return str(part)
        except OSError:
            return None
    return None


def path_error(exc: OSError) -> str | None:
    """`PATH: reason` for an OSError about a file the user named (read-only, full disk, ...), else None.

    A full disk or quota that names no file is still one line (`no space left on the device`): the writers of
    `kit.atomic` name their output, a bare write elsewhere may not."""
    if exc.errno in _SPACE_ERRORS:
        reason = "no space left on the device" if exc.errno == errno.ENOSPC else "disk quota exceeded (no space left)"
        return f"{exc.filename}: {reason}" if exc.filename else f"{reason} (while writing output)"
    if exc.errno not in _PATH_ERRORS or not exc.filename:
        return None
    reason = (exc.strerror or str(exc)).lower()
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        blocker = _file_in_the_way(str(exc.filename))
        if blocker is not None:
            reason = f"{blocker} is a file, not a folder" if blocker != str(exc.filename) else "is a file, not a folder"
    return f"{exc.filename}: {reason}"


def _drop_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered for a reader that went away, or a full disk, is dropped
    instead of failing again (and printing `Exception ignored ...`) when Python exits."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # not a real file (captured by a test harness): nothing will be flushed to a file at exit


def _flush_stdout() -> None:
    """Flush stdout while a failure (`> file` on a full disk) can still be reported, naming it."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        _drop_stdout()
        if exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, "standard output") from None


def run_main(prog: str, body: Callable[[], "int | None"]) -> int:
    """Run a command's body and turn the toolkit's errors into one line and an exit code."""
    try:
        code = body()
        _flush_stdout()
    except ToolkitError as exc:
        say(prog, str(exc))
        return BAD_INPUT
    except RunFailure as exc:
        say(prog, str(exc))
        return FAILED
    except KeyboardInterrupt as exc:
        print(f"{prog}: {exc}" if str(exc) else f"{prog}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say, and no traceback
        _drop_stdout()
        return 0
    except OSError as exc:
        try:
            sys.stdout.flush()
        except OSError:  # stdout cannot be written either: what failed was most likely stdout (`> file`, disk full)
            _drop_stdout()
            if not exc.filename and exc.errno is not None:
                exc = OSError(exc.errno, exc.strerror, "standard output")
        text = path_error(exc)
        if text is None:
            raise
        say(prog, text)
        return BAD_INPUT
    return 0 if code is None else int(code)
