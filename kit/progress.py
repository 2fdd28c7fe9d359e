"""The one progress helper: a rich bar on stderr for terminals; silent in logs and pipes."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

Advance = Callable[[int], None]
Starter = Callable[[str, "int | None"], Advance]
"""`start(label, total)` adds a bar and returns `advance(n)`; `total=None` is a bar of unknown length."""


@contextmanager
def progress(enabled: bool | None = None) -> Iterator[Starter]:
    """A group of progress bars: `with progress() as start: advance = start("caching", 100); advance(1)`.

    Shown only where stderr is a terminal (or where `enabled` says so), so logs get no control codes.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    console = Console(stderr=True)
    show = console.is_terminal if enabled is None else enabled
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, disable=not show) as bars:
        def start(label: str, total: int | None = None) -> Advance:
            task = bars.add_task(label, total=total)

            def advance(n: int = 1, *, completed: int | None = None, new_total: int | None = None) -> None:
                if completed is not None or new_total is not None:
                    bars.update(task, completed=completed, total=new_total)
                else:
                    bars.advance(task, n)
            return advance
        yield start


@contextmanager
def one_bar(label: str, total: int | None = None) -> Iterator[Advance]:
    """A single bar: `with one_bar("synth", 400) as advance: ...`."""
    with progress() as start:
        yield start(label, total)


def is_terminal() -> bool:
    """Whether stderr is a terminal."""
    return sys.stderr.isatty()
