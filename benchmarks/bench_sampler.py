"""Feasible samples per second at a FLOP budget: analytic-count sampler vs fvcore-based rejection.

Both draw candidates from the same prior (uniform depths, uniform non-decreasing widths) and keep
those inside [(1 - tol) * budget, budget]. The analytic sampler counts in numpy batches; the fvcore
baseline builds each candidate (uninitialised, on the meta device first, which flatters fvcore) and
traces it with `FlopCountAnalysis`. Runs pinned to one CPU core, both in one process.

    python benchmarks/bench_sampler.py --budget 5G --fvcore-seconds 60
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from search_spaces import FlopWindow, acceptance_rate, create_space, sample_archs
from search_spaces.flops import count_flops
from search_spaces.resnet_d import Arch, parse_arch


def cpu_name() -> str:
    """The processor's model name, for the record."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def time_per_call(fn, min_seconds: float = 1.0) -> float:
    """Mean seconds per call of `fn`, repeated for at least `min_seconds`."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="5G")
    parser.add_argument("--tol", type=float, default=0.05)
    parser.add_argument("--analytic-samples", type=int, default=20_000)
    parser.add_argument("--fvcore-seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    torch.set_num_threads(1)
    space, window = create_space("resnet_d", outputs=6100), FlopWindow.below(args.budget, args.tol)

    # 1. analytic sampler, end to end (draw, count, reject, deduplicate)
    sample_archs(space, window, 100, seed=args.seed + 1)  # warm-up
    start = time.perf_counter()
    got = sample_archs(space, window, args.analytic_samples, seed=args.seed)
    analytic_rate = len(got) / (time.perf_counter() - start)
    accept = acceptance_rate(space, window, seed=args.seed, draws=2_000_000)

    # 2. fvcore-based rejection over the same prior, for a fixed time
    rng = np.random.default_rng(args.seed)
    draws = feasible = 0
    start = time.perf_counter()
    while time.perf_counter() - start < args.fvcore_seconds:
        depths, widths = space.draw_prior(rng, 1)
        if not len(depths):
            continue  # a repeated width slot: redrawn, as the analytic sampler does
        draws += 1
        feasible += count_flops(space, Arch(depths[0], widths[0])) in window
    fv_elapsed = time.perf_counter() - start
    fv_draw_rate = draws / fv_elapsed
    fv_rate_expected = fv_draw_rate * accept

    # 3. one count of the paper's architecture
    paper = parse_arch("d5.3.4.2_w64.160.272.512")
    t_analytic = time_per_call(lambda: space.flops(paper), 1.0)
    t_fvcore = time_per_call(lambda: count_flops(space, paper), 3.0)

    print(f"\ndevice: {cpu_name()}, 1 core pinned; torch {torch.__version__}; window {window}")
    print(f"acceptance of prior draws: {accept:.4%}\n")
    rows = [
        ("analytic sampler: feasible samples/s", f"{analytic_rate:,.0f}"),
        ("fvcore rejection: draws/s", f"{fv_draw_rate:.2f}"),
        ("fvcore rejection: feasible found", f"{feasible} in {fv_elapsed:.0f} s"),
        ("fvcore rejection: feasible samples/s (draws/s x acceptance)", f"{fv_rate_expected:.4f}"),
        ("speed-up, feasible samples/s", f"{analytic_rate / fv_rate_expected:,.0f}x"),
        ("one count of d5.3.4.2_w64.160.272.512: analytic", f"{t_analytic * 1e6:.1f} us"),
        ("one count of d5.3.4.2_w64.160.272.512: fvcore", f"{t_fvcore * 1e3:.1f} ms"),
        ("speed-up, one count", f"{t_fvcore / t_analytic:,.0f}x"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>18}")


if __name__ == "__main__":
    main()
