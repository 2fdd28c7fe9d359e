"""Run independent jobs in this process or in a pool of spawned worker processes."""
from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

# BLAS / OpenMP pools read these when a worker imports numpy; each worker must use one thread, or N
# workers start N x cores threads (measured: 2 workers on 2 cores ran at 1.2x one worker, not 2x)
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


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


def run_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], workers: int, initializer: Callable[..., None],
             initargs: tuple, on_result: Callable[[tuple, Any], None]) -> None:
    """Call fn(*job) for every job, after initializer(*initargs) in each process; on_result(job, value).

    With one worker everything runs here (no start-up cost, easy to debug); otherwise in `workers`
    spawned processes (spawn, not fork: safe beside threads, CUDA or Ray in the parent), results in
    completion order. A job's exception propagates.
    """
    if workers == 1:
        initializer(*initargs)
        for job in jobs:
            on_result(job, fn(*job))
        return
    with single_threaded_children(), ProcessPoolExecutor(
            workers, mp_context=mp.get_context("spawn"), initializer=initializer, initargs=initargs) as pool:
        futures = {pool.submit(fn, *job): job for job in jobs}
        for fut in as_completed(futures):
            on_result(futures[fut], fut.result())
