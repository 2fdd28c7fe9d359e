"""A simulated N-node Ray cluster on loopback: are trials spread, and does the driver's cost per trial stay flat?

For each N of `--nodes`, starts a real Ray head on 127.0.0.1 and N-1 worker nodes (`ray start`, each with
its own `--temp-dir`, 1 CPU and 1 *declared* GPU: Ray's scheduler sees N GPUs, while the trial itself
trains on the CPU because CUDA is absent), runs stage 1 only (`--top-k 0`, `--controls 0`, no baselines) of the
real `nas-search --address 127.0.0.1:PORT --gpus-per-trial 1` on a tiny crop cache (32x32, 1 proxy epoch,
batch 8), and reads the run folder: trials per node from trials.csv (`node` is Ray's node id), and from
Ray Tune's per-trial results (benchmarks/trial_overhead.py) the gap between consecutive trials in one
worker and the slot time per trial not spent in a trial body:
(stage-1 wall x slots - sum of trial bodies) / trials; and the nas-search driver's own CPU seconds
per finished trial, from /proc, between its first and last finished trial (not inflated when the
nodes crowd the cores, as wall times are). Then it kills its own Ray processes, no others.

Every node shares this machine's cores, so the numbers measure the driver and Ray, not training.

    python benchmarks/sim_cluster.py --nodes 1 2 4 8 [--trials-per-node 4] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ray_local import LOOPBACK_ENV, kill_ray, start_node  # noqa: E402
from trial_overhead import overhead, trial_spans  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def progress(text: str) -> None:
    """One status line, rewritten in place on a terminal."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{text}")
    else:
        sys.stderr.write(text + "\n")
    sys.stderr.flush()


def python(*args: str, log: Path | None = None, timeout: float = 600) -> None:
    """Run `python -m ...` of this checkout (PYTHONPATH points at it), failing with the output's tail."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=timeout)
    if log:
        log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed ({done.returncode}): {(done.stdout + done.stderr)[-600:]}")


def make_cache(folder: Path) -> Path:
    """A tiny crop cache made by `nas-data`: 6 synthetic subjects x 8 frames, 32x32 crops."""
    wcpa, cache = folder / "wcpa", folder / "cache"
    python("-m", "facedata.cli", "synth", "--out", str(wcpa), "--subjects", "6", "--frames-per-subject", "8",
           "--frames-per-action", "4", "--test-subjects", "0.34", "--workers", "1")
    python("-m", "facedata.cli", "cache", "--data", str(wcpa), "--out", str(cache), "--res", "32",
           "--val-subjects", "0.34", "--workers", "1")
    return cache


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def search_args(cache: Path, out: Path, name: str, port: int, trials: int) -> list[str]:
    """Stage 1 only of a toy search on the cluster at `port`: one declared GPU per trial."""
    return ["-m", "nas.cli", "--budget", "2G", "--data", str(cache), "--trials", str(trials), "--proxy-epochs", "1",
            "--proxy-res", "32", "--proxy-fraction", "1.0", "--batch", "8", "--val-max", "4", "--scheduler", "none",
            "--top-k", "0", "--controls", "0", "--baselines", "", "--gpus-per-trial", "1", "--preset", "smoke",
            "--address", f"127.0.0.1:{port}", "--out", str(out), "--name", name]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (from /proc; 0 where it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def run_search(args: list[str], run: Path, trials: int, label: str, log: Path, timeout: float) -> dict[str, float]:
    """Run nas-search, showing finished trials; its wall seconds and the driver's CPU seconds per trial
    between the first and the last finished trial (start-up and shut-down left out)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           **LOOPBACK_ENV}
    start = time.time()
    samples: list[tuple[int, float]] = []  # (finished trials, driver CPU seconds), when the count changes
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, *args], stdout=out, stderr=subprocess.STDOUT, env=env)
        while proc.poll() is None:
            if time.time() - start > timeout:
                proc.kill()
                raise RuntimeError(f"{label}: nas-search ran past {timeout:.0f} s (log {log})")
            time.sleep(0.25)
            done, cpu = count_rows(run / "trials.csv"), cpu_seconds(proc.pid)
            if done and (not samples or done != samples[-1][0]) and cpu:
                samples.append((done, cpu))
                progress(f"{label}: nas-search, {done}/{trials} trials, {time.time() - start:.0f} s")
    if proc.returncode != 0:
        raise RuntimeError(f"{label}: nas-search exited {proc.returncode}: {log.read_text()[-600:]}")
    (n0, c0), (n1, c1) = (samples[0], samples[-1]) if samples else ((0, 0.0), (0, 0.0))
    return {"search_s": time.time() - start, "driver_cpu_s": (c1 - c0) / (n1 - n0) if n1 > n0 else float("nan")}


def count_rows(path: Path) -> int:
    """Rows of a CSV table (0 where it does not exist yet)."""
    try:
        return max(0, len(path.read_text().splitlines()) - 1)
    except OSError:
        return 0


def analyse(run: Path, nodes: int) -> dict[str, Any]:
    """Spread and overhead of the stage-1 trials of one finished run folder."""
    from nas.runs import read_summary, read_table
    rows = read_table(run / "trials.csv")
    per_node = Counter(r["node"] for r in rows)
    spans = [s for e in sorted((run / "ray").glob("stage1-*")) for s in trial_spans(e)]
    o = overhead(spans)
    wall = float(read_summary(run / "summary.json")["stage1_wall_s"])
    bodies = o["bodies"]
    return {"nodes": nodes, "trials": len(rows), "complete": sum(r["status"] == "complete" for r in rows),
            "per_node": sorted(per_node.values(), reverse=True), "workers": o["workers"], "wall_s": wall,
            "body_s": statistics.mean(bodies), "gap_s": statistics.mean(o["gaps"]) if o["gaps"] else float("nan"),
            "gap_median_s": statistics.median(o["gaps"]) if o["gaps"] else float("nan"),
            "slot_overhead_s": (wall * nodes - sum(bodies)) / len(spans),
            "span_overhead_s": (o["span"] * nodes - sum(bodies)) / len(spans)}


def measure(nodes: int, cache: Path, folder: Path, trials: int, timeout: float = 900,
            say: Callable[[str], None] = progress) -> dict[str, Any]:
    """Start a cluster of `nodes` nodes, run the search on it, kill the cluster; the analysed row."""
    ray_tmp = Path(tempfile.mkdtemp(prefix=f"sim{nodes}-", dir="/tmp"))  # short: Unix socket paths
    label = f"{nodes} node{'s' * (nodes > 1)}"
    port = free_port()
    try:
        start = time.time()
        for i in range(nodes):
            say(f"{label}: starting node {i + 1}/{nodes} ({'head' if i == 0 else 'worker'})")
            start_node(ray_tmp, port, head=i == 0, cpus=1, gpus=1, index=i)
        up = time.time() - start
        name = f"sim{nodes}"
        search = run_search(search_args(cache, folder, name, port, trials), folder / name, trials, label,
                            folder / f"{name}.log", timeout)
    finally:
        say(f"{label}: stopping its Ray processes")
        kill_ray(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    row = analyse(folder / name, nodes)
    log = (folder / f"{name}.log").read_text()
    row.update(start_s=up, **search, ray_tmp=str(ray_tmp), slots_line=next(
        (line.strip() for line in log.splitlines() if "at a time" in line), "?"))
    return row


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of the measured rows."""
    head = ("| nodes (slots) | trials done | trials per node | cluster start | stage-1 wall | trial body (mean) "
            "| gap between trials in a worker (mean / median) | slot time per trial outside bodies "
            "| driver CPU per trial |\n| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    lines = [f"| {r['nodes']} | {r['complete']}/{r['trials']} | {'/'.join(map(str, r['per_node']))} "
             f"| {r['start_s']:.0f} s | {r['wall_s']:.1f} s | {r['body_s']:.2f} s "
             f"| {r['gap_s']:.3f} / {r['gap_median_s']:.3f} s | {r['slot_overhead_s']:.2f} s "
             f"| {r['driver_cpu_s']:.3f} s |" for r in rows]
    return "\n".join([head, *lines])


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                epilog="The numbers measure the driver and Ray on one machine, not training.")
    p.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4, 8], help="cluster sizes (default 1 2 4 8)")
    p.add_argument("--trials-per-node", type=int, default=4, help="stage-1 trials per node (default 4)")
    p.add_argument("--keep", type=Path, help="keep the run folders and logs here (default: a temp folder, removed)")
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = p.parse_args(argv)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="simcluster-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    try:
        progress("making a tiny crop cache (nas-data synth, cache --res 32)")
        cache = make_cache(folder) if not (folder / "cache").is_dir() else folder / "cache"
        for n in args.nodes:
            try:
                rows.append(measure(n, cache, folder, args.trials_per_node * n))
            except (RuntimeError, subprocess.TimeoutExpired, KeyError, ValueError) as exc:
                progress(f"{n} nodes failed: {' '.join(str(exc).split())[:400]}")
                print(f"\n{n} nodes: failed: {' '.join(str(exc).split())[:400]}", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    for r in rows:
        print(f"{r['nodes']} nodes: {r['slots_line']}")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
