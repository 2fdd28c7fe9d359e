"""The one error base class: every bad-input error of the toolkit derives from `ToolkitError`.

A command's `main` (see `kit.cli.run_main`) turns a `ToolkitError` into one line on stderr and exit code 2,
a `RunFailure` (the work itself failed, e.g. a diverged training) into one line and exit code 1.
"""
from __future__ import annotations


class ToolkitError(ValueError):
    """Bad input: a malformed setting, a missing or damaged file, an unwritable output (exit code 2)."""


class RunFailure(RuntimeError):
    """The work failed although its input was fine (exit code 1)."""


def one_line(exc: BaseException, limit: int = 400) -> str:
    """`Type: message` folded onto one line and bounded in length."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:limit]
