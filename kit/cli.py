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
                errno.ENAMETOOLONG, errno.ENOENT, errno.EEXIST}


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (`prog: error: ...`, exit 2) without the usage block: `--help`
    shows the usage."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        self.exit(BAD_INPUT, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def say(prog: str, message: str) -> None:
    """`prog: error: message` on one line of stderr."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)


def path_error(exc: OSError) -> str | None:
    """`PATH: reason` for an OSError about a file the user named (read-only, full disk, ...), else None."""
    if exc.errno not in _PATH_ERRORS or not exc.filename:
        return None
    reason = "no space left on the device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc)).lower()
    return f"{exc.filename}: {reason}"


def run_main(prog: str, body: Callable[[], "int | None"]) -> int:
    """Run a command's body and turn the toolkit's errors into one line and an exit code."""
    try:
        code = body()
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
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        text = path_error(exc)
        if text is None:
            raise
        say(prog, text)
        return BAD_INPUT
    return 0 if code is None else int(code)
