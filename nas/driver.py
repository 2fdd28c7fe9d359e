"""What every driver (`nas-search`, `nas-ablate`, `nas-fidelity`) does around its work: one writer per run folder,
and a first Ctrl-C (SIGINT or SIGTERM) that stops the whole run cleanly.

On an interrupt nothing moves on to a next stage: Ray's processes are ended, summary.json records the
interruption (stage and time; `--resume` keeps the list), and one line says how to resume; exit code 130.
Ray Tune's own SIGINT handler, which would end only the current `Tuner.fit` and let the driver go on, is off.
"""
from __future__ import annotations

import os
import signal
import time
from contextlib import contextmanager
from typing import Iterator

from kit.lock import run_lock
from nas.runs import RunDir, read_summary, update_summary


class Interrupted(KeyboardInterrupt):
    """The run was stopped by the user; the message says how to resume it."""


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def discard_if_empty(run: RunDir) -> None:
    """Remove a run folder that holds nothing but its lock (a run that failed before writing anything)."""
    if run.root.is_dir() and {p.name for p in run.root.iterdir()} <= {".lock"}:
        (run.root / ".lock").unlink(missing_ok=True)
        run.root.rmdir()


@contextmanager
def driving(run: RunDir, command: str, resume: str) -> Iterator[None]:
    """Hold the run folder's lock; turn SIGINT/SIGTERM into a clean stop that records itself and says `resume`."""
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # the driver, not Tune, decides what an interrupt stops
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with run_lock(run.root, command):
            summary = read_summary(run.summary)
            if summary.get("interrupted"):  # a resumed run: the interruption becomes history
                update_summary(run.summary, interrupted=None,
                               interruptions=[*summary.get("interruptions", []), summary["interrupted"]])
            try:
                yield
            except KeyboardInterrupt:
                stage = next((k for k, v in read_summary(run.summary).items() if v == "running"), "start")
                update_summary(run.summary, interrupted={"stage": stage, "at": time.strftime("%Y-%m-%d %H:%M:%S")},
                               **{stage: "interrupted"} if stage != "start" else {})
                _stop_ray()
                raise Interrupted(f"interrupted: resume with `{resume}`") from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop_ray() -> None:
    import ray
    if ray.is_initialized():
        ray.shutdown()
