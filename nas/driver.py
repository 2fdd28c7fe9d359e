"""What every driver (`nas-search`, `nas-ablate`, `nas-fidelity`) does around its work: one writer per run folder,
and a first Ctrl-C (SIGINT or SIGTERM) that stops the whole run cleanly.

A run that stops at its `--time-limit` (`nas.deadline`) lets its running trainings finish, records `paused` in
summary.json, says how to resume, and exits with code 75. On an interrupt nothing moves on to a next stage: Ray's processes are ended, summary.json records the
interruption (stage and time; `--resume` keeps the list), and one line says how to resume; exit code 130.
The stop takes at most STOP_GRACE_S: a driver still inside Ray's shutdown by then says the same line and ends itself.
Ray Tune's own SIGINT handler, which would end only the current `Tuner.fit` and let the driver go on, is off.
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Iterator

from kit.cli import INTERRUPTED
from kit.errors import ToolkitError
from kit.lock import run_lock
from nas.deadline import PAUSED_EXIT, Paused
from nas.runs import (RunDir, RunFileError, check_trials, read_summary, read_table, study_location,
                      update_summary)


class Interrupted(KeyboardInterrupt):
    """The run was stopped by the user; the message says how to resume it."""


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# what a driver that fails before writing its config.yaml may leave: its lock, and SQLite's new study (and journal)
_BEFORE_CONFIG = {".lock", "study.db", "study.db-journal", "study.db-wal", "study.db-shm"}
# a run needs room for its tables, the study and the first checkpoints: less is refused before Ray starts
MIN_FREE_BYTES = 64 << 20
# an interrupted driver records the stop and shuts Ray down within this, or ends itself: a SIGTERM to the process
# group ends a local instance's GCS too, and Ray's core worker aborts the driver (exit 1, no resume line) when its
# GCS has been gone for 60 s, which a slow shutdown on a loaded machine reached (CI, 2 cores)
STOP_GRACE_S = 30.0


def _study_is_empty(db: Path) -> bool:
    """Whether an SQLite study file records no trial (a half-made file, one SQLite cannot read, included)."""
    if not db.is_file():
        return True
    import sqlite3
    from nas.study import connect_read_only
    try:
        with closing(connect_read_only(db)) as con:
            return con.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 0
    except sqlite3.Error:
        return True


def _now() -> str:
    """The local time as summary.json's entries give it."""
    return time.strftime("%Y-%m-%d %H:%M:%S")


def discard_if_empty(run: RunDir) -> None:
    """Remove a run folder that holds nothing but its lock, or its lock and a study with no trial (a run that
    failed before writing its config: Ray would not start, the disk was full, ...), so that re-running the same
    command is not refused and no half-made study.db is left behind."""
    if not run.root.is_dir() or run.exists():
        return
    names = {p.name for p in run.root.iterdir()}
    if names <= _BEFORE_CONFIG and _study_is_empty(run.root / "study.db"):
        for name in names:
            (run.root / name).unlink(missing_ok=True)
        run.root.rmdir()


def _check_tables(run: RunDir) -> None:
    """Before a search resumes: RunFileError where trials.csv lists trials its study does not hold (or holds
    otherwise); the study is the record, so a trials.csv cut short or ragged is simply rebuilt from it."""
    try:
        rows = read_table(run.trials, check=False)
    except (RunFileError, UnicodeDecodeError):
        return
    where = study_location(run)
    if rows and where is not None and not where[0].is_file():  # its study was made before any trial was listed
        raise RunFileError(f"{run.trials}: lists {len(rows)} trials but the run's study {where[0]} is missing; "
                           "copy study.db back beside it, or start a new --name")
    check_trials(run, rows)


def check_space(folder: Path, need: int = MIN_FREE_BYTES) -> None:
    """ToolkitError where the file system of `folder` (or of its nearest existing parent) has less than `need`
    bytes free for this user."""
    where = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if where is None:
        return
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return  # the write itself will say what is wrong
    if free < need:
        have = f"{free / 2**20:.1f} MiB" if free >= 2**20 else f"{free / 2**10:.0f} KiB"
        raise ToolkitError(f"{folder}: no space left on the device for a run ({have} free, "
                           f"at least {need / 2**20:.0f} MiB needed)")


@contextmanager
def driving(run: RunDir, command: str, resume: str) -> Iterator[None]:
    """Hold the run folder's lock; turn SIGINT/SIGTERM into a clean stop that records itself and says `resume`."""
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # the driver, not Tune, decides what an interrupt stops
    check_space(run.root)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with run_lock(run.root, command):
            summary = read_summary(run.summary)  # first: a damaged summary.json is named before the tables
            if command == "nas-search":
                _check_tables(run)
            if summary.get("paused"):
                update_summary(run.summary, paused=None)
            if summary.get("interrupted"):  # a resumed run: the interruption becomes history
                update_summary(run.summary, interrupted=None,
                               interruptions=[*summary.get("interruptions", []), summary["interrupted"]])
            try:
                yield
            except Paused as exc:  # --time-limit: what was running finished; the rest waits for --resume
                update_summary(run.summary, paused={"at": _now(), "left": str(exc)})
                _stop_ray()
                raise Paused(f"paused at the time limit ({exc}): resume with `{resume}`") from None
            except KeyboardInterrupt:
                last = f"interrupted: resume with `{resume}`"
                ending = _end_within(STOP_GRACE_S, f"{command}: {last}", INTERRUPTED)
                with _signals_held():  # `timeout`, schedulers and Ctrl-C signal a process and its group: two at once
                    stage = next((k for k, v in read_summary(run.summary).items() if v == "running"), "start")
                    update_summary(run.summary, interrupted={"stage": stage, "at": _now()},
                                   **{stage: "interrupted"} if stage != "start" else {})
                _stop_ray()
                ending.cancel()
                raise Interrupted(last) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM ignored while the stop is recorded, then handled as before."""
    held = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in held.items():
            if handler is not None:  # None: not set from Python, nothing to put back
                signal.signal(signum, handler)


def _end_within(seconds: float, line: str, code: int) -> threading.Timer:
    """Arm the end of a stopping driver: unless cancelled within `seconds`, print `line` and exit with `code`
    (what finished is on disk already; the guard ends what is left of a local Ray instance)."""
    def end() -> None:
        print(line, file=sys.stderr, flush=True)
        os._exit(code)  # the main thread is stuck in Ray's shutdown: exit hooks would wait on the same Ray
    timer = threading.Timer(seconds, end)
    timer.daemon = True
    timer.start()
    return timer


def _stop_ray() -> None:
    """Shut Ray down; a further interrupt meanwhile skips the rest (the guard ends what is left of a local instance,
    a cluster keeps its nodes)."""
    import ray
    try:
        if ray.is_initialized():
            ray.shutdown()
    except KeyboardInterrupt:
        pass


def paused_exit(prog: str, exc: Paused) -> int:
    """A run paused at its time limit: one line, and exit code 75 (to be resumed)."""
    import sys
    print(f"{prog}: {exc}", file=sys.stderr)
    return PAUSED_EXIT


def say_limit(command: str, deadline: Any) -> None:
    """One line at a driver's start: when its `--time-limit` ends and what it lets start (nothing without one)."""
    if deadline is not None and deadline.at is not None:
        print(f"{command}: {deadline.describe()}")


def begin_given_data(command: str, settings: Any, run: RunDir, task: Any, resuming: bool, res: int,
                     deadline: Any = None) -> Path:
    """How a run on a given cache starts (nas-ablate, nas-fidelity): join Ray, write a new run's resolved
    config, say its time limit, open the cache and record its provenance; returns the cache's path."""
    from nas.runs import write_yaml
    mps = join_ray(command, settings)
    if not resuming:
        write_yaml(run.config, settings.to_dict())
    record_mps(run, mps)
    print(f"{command}: run folder {run.root}")
    say_limit(command, deadline)
    data = task.prepare_data(settings.data, Path(settings.out).resolve(), res=res, seed=settings.seed,
                             size={"subjects": 1, "frames_per_subject": 1})  # unused: these commands need --data
    record_data(run, task, data, embedded=False)
    return data


def join_ray(command: str, settings: Any) -> str:
    """Join or start Ray as the settings say (`nas.cluster.connect`, MPS included); returns what was done about
    MPS, for summary.json, and says it in one line where it matters."""
    from nas.cluster import connect
    mps = connect(settings.address, settings.verbose, settings.mps)
    if mps.notable:
        print(f"{command}: NVIDIA MPS {mps.reason}")
    return mps.reason


def record_mps(run: RunDir, reason: str) -> None:
    """summary.json's `mps`: what each invocation of the run did about MPS (a resumed run may differ)."""
    earlier = read_summary(run.summary).get("mps")
    earlier = earlier if isinstance(earlier, list) else []
    update_summary(run.summary, mps=[*earlier, f"{_now()}: {reason}"])


def record_data(run: RunDir, task: Any, data: Path, embedded: bool) -> None:
    """summary.json's provenance of the data: where it is, synthetic or not, and the subjects of each split."""
    splits = task.splits(str(data))
    synthetic = True if embedded else splits.get("synthetic")  # None: an older cache that does not say
    update_summary(run.summary, data={"path": str(data), "synthetic": synthetic, "frames": splits["frames"]},
                   splits=splits["subjects"])
