"""Run independent jobs in this process or in a pool of spawned worker processes."""
from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Sequence


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
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=initializer,
                             initargs=initargs) as pool:
        futures = {pool.submit(fn, *job): job for job in jobs}
        for fut in as_completed(futures):
            on_result(futures[fut], fut.result())
