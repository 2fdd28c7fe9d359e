"""Run independent jobs in this process or in a pool of spawned worker processes.

Workers die with their parent: however the parent ends (SIGKILL included), its pool's workers end within about a
second instead of rendering on for nobody (Linux: the kernel's parent-death signal; elsewhere a watchdog thread
that notices the parent is gone). A worker that dies (out of memory, killed) is one line, not a
BrokenProcessPool traceback.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from kit.errors import RunFailure

# BLAS / OpenMP pools read these when a worker imports numpy; each worker must use one thread, or N
# workers start N x cores threads (measured: 2 workers on 2 cores ran at 1.2x one worker, not 2x)
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_SECONDS = 1.0  # how often the watchdog (where there is no parent-death signal) looks for the parent


@contextmanager
def single_threaded_children() -> Iterator[None]:
    """Environment for spawning workers whose math libraries run one thread each."""
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: "1" for k in THREAD_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    os._exit(1)


def die_with_parent(parent: int) -> None:
    """End this process when process `parent` ends: the kernel's parent-death signal on Linux, else a daemon
    thread polling os.getppid(). Where the parent is gone already (it died while this one started), exit now."""
    if not _parent_death_signal():
        threading.Thread(target=_watch_parent, args=(parent,), name="die-with-parent", daemon=True).start()
    if os.getppid() != parent:  # died before the signal was armed: nobody would deliver it
        os._exit(1)


def _init_child(parent: int, initializer: Callable[..., None], initargs: tuple) -> None:
    die_with_parent(parent)
    initializer(*initargs)


def run_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], workers: int, initializer: Callable[..., None],
             initargs: tuple, on_result: Callable[[tuple, Any], None]) -> None:
    """Call fn(*job) for every job, after initializer(*initargs) in each process; on_result(job, value).

    With one worker everything runs here (no start-up cost, easy to debug); otherwise in `workers`
    spawned processes (spawn, not fork: safe beside threads, CUDA or Ray in the parent), results in
    completion order, workers ending with this process however it ends. A job's exception propagates; a
    worker that died is a RunFailure.
    """
    if workers == 1:
        initializer(*initargs)
        for job in jobs:
            on_result(job, fn(*job))
        return
    try:
        with single_threaded_children(), ProcessPoolExecutor(
                workers, mp_context=mp.get_context("spawn"), initializer=_init_child,
                initargs=(os.getpid(), initializer, initargs)) as pool:
            futures = {pool.submit(fn, *job): job for job in jobs}
            for fut in as_completed(futures):
                on_result(futures[fut], fut.result())
    except BrokenProcessPool as exc:
        if "initializer" in str(exc):
            raise RunFailure("a worker process failed to start (its initialisation raised)") from None
        raise RunFailure("a worker process died (killed, or out of memory?); nothing was kept: run again, "
                         "perhaps with fewer --workers") from None
