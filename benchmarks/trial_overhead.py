"""The time Ray Tune and Optuna add between trials, read from a finished run's Ray Tune results.

For every trial of a stage, Ray's `result.json` gives each report's wall-clock time (`reported_at`,
which nas/trial.py adds, else Ray's `timestamp` in whole seconds) and the seconds since the previous
report (`time_this_iter_s`), so a trial's body runs from its first report's time minus that first
interval to its last report. Trials that ran in the same worker
process (`pid`, reused actors) follow each other: the gap between one's end and the next one's start
is what the driver adds (scheduling, Optuna's suggestion, result handling, actor reuse).

    python benchmarks/trial_overhead.py runs/NAME [--stage stage1]
"""
from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path


def trial_spans(experiment: Path) -> list[dict]:
    """(pid, start, end) of every trial folder under a Ray Tune experiment folder."""
    spans = []
    for result in experiment.glob("*/result.json"):
        rows = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
        if rows:
            first, last = rows[0], rows[-1]
            start = first.get("reported_at", first["timestamp"]) - first.get("time_this_iter_s", 0.0)
            spans.append({"trial": result.parent.name, "pid": first.get("pid"), "start": start,
                          "end": last.get("reported_at", last["timestamp"])})
    return spans


def overhead(spans: list[dict]) -> dict:
    """Trial bodies, worker processes, the whole span and the gaps between consecutive trials in one worker."""
    by_worker = defaultdict(list)
    for s in spans:
        by_worker[s["pid"]].append(s)
    gaps = []
    for worker in by_worker.values():
        worker.sort(key=lambda s: s["start"])
        gaps += [b["start"] - a["end"] for a, b in zip(worker, worker[1:])]
    return {"trials": len(spans), "workers": len(by_worker), "bodies": [s["end"] - s["start"] for s in spans],
            "gaps": gaps, "span": max(s["end"] for s in spans) - min(s["start"] for s in spans)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--stage", default="stage1")
    args = p.parse_args()
    for experiment in sorted((args.run / "ray").glob(f"{args.stage}-*")):
        spans = trial_spans(experiment)
        if not spans:
            continue
        o = overhead(spans)
        bodies, gaps = o["bodies"], o["gaps"]
        print(f"{experiment.name}: {o['trials']} trials in {o['workers']} worker processes over {o['span']:.1f} s")
        print(f"  trial body: mean {statistics.mean(bodies):.2f} s (sum {sum(bodies):.1f} s)")
        if gaps:
            print(f"  gap between trials in one worker: mean {statistics.mean(gaps):.3f} s, "
                  f"median {statistics.median(gaps):.3f} s, max {max(gaps):.3f} s "
                  f"= {statistics.mean(gaps) / statistics.mean(bodies):.1%} of a trial body")


if __name__ == "__main__":
    main()
