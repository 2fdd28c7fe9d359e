"""Is a reused trial worker's memory flat over many trials (issue 16)? Runs stage 1 with one training at a time
(so one Ray worker serves every trial), each architecture different, and reads each trial's host RSS and the
GPU memory its allocator holds from trials.csv; the goal: RSS after trial 30 within 10 % of after trial 3. "After
trial k" is the worker's RSS as trial k + 1 starts (`host_rss_start_gb`), once trial k has released its memory.

    python benchmarks/bench_memory.py --out OUT [--trials 31] [--preset smoke] [--work /tmp/bench_memory] [--data CACHE]

On a machine without a GPU it runs the smoke preset's sizes on the CPU; on a GPU the default preset's data.
Prints one line per trial and a JSON summary (also written to OUT/memory.json, with the trials as OUT/trials.csv).
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path, help="folder for memory.json and trials.csv")
    p.add_argument("--work", type=Path, default=Path("/tmp/bench_memory"), help="data and run folders")
    p.add_argument("--trials", type=int, default=31, help="trials (31: the RSS after trial 30 is read at the 31st)")
    p.add_argument("--preset", default=None, help="smoke or default (default: default on a GPU, else smoke)")
    p.add_argument("--data", type=Path, default=None,
                   help="a crop cache made already (e.g. by bench_stage1.py --phases data); default: make the preset's")
    return p.parse_args()


def main() -> None:
    args = parse()
    args.out.mkdir(parents=True, exist_ok=True)
    import ray
    import torch
    from nas.cluster import cluster_size
    from nas.runs import RunDir, read_table
    from nas.search import run_stage1
    from nas.settings import make_settings
    from nas.tasks import get_task
    gpu = torch.cuda.is_available()
    preset = args.preset or ("default" if gpu else "smoke")
    base = make_settings({"budget": "5G", "trials": args.trials}, preset)
    data = args.data or get_task("faces").prepare_data(None, args.work, res=base.data_res, seed=0,
                                          size={"subjects": base.synth_subjects,
                                                "frames_per_subject": base.synth_frames_per_subject})
    s = make_settings({"budget": "5G", "data": str(data), "trials": args.trials, "scheduler": "none",
                       "proxy_score": "final",  # trained proxies, as issue 16 measured (the default's is zero-cost)
                       "proxy_epochs": 1, "name": "memory", "out": str(args.work / "runs"),
                       "gpus_per_trial": 1.0 if gpu else None, "cpus_per_trial": None if gpu else 2}, preset)
    run = RunDir(s.run_dir)
    shutil.rmtree(run.root, ignore_errors=True)
    run.root.mkdir(parents=True)
    ray.init(include_dashboard=False, log_to_driver=False, num_cpus=2 if not gpu else None)
    start = time.time()
    run_stage1(s, run, data, cluster_size())
    rows = sorted(read_table(run.trials), key=lambda r: int(r["number"]))
    shutil.copy(run.trials, args.out / "trials.csv")
    rss = [float(r["host_rss_start_gb"]) for r in rows[1:] if r.get("host_rss_start_gb")]  # after trial 1, 2, ...
    peak = [float(r["host_rss_gb"]) for r in rows if r.get("host_rss_gb")]
    gpu_gb = [float(r["gpu_reserved_gb"]) for r in rows if r.get("gpu_reserved_gb")]
    for i, r in enumerate(rows, 1):
        print(f"trial {i:3d} {r['arch']:32s} host RSS at start {float(r['host_rss_start_gb'] or 'nan'):.3f} GB, "
              f"during {float(r['host_rss_gb'] or 'nan'):.3f} GB  "
              f"GPU reserved {float(r['gpu_reserved_gb'] or 'nan'):.2f} GB")
    third, last = rss[2] if len(rss) > 2 else None, rss[-1] if rss else None  # after trial 3 and the last-but-one
    result = {"device": torch.cuda.get_device_name() if gpu else "cpu", "preset": preset, "trials": len(rows),
              "workers": len({r.get("gpu") for r in rows}) if gpu else 1, "wall_s": round(time.time() - start, 1),
              "host_rss_gb_after_trial3": third, "host_rss_gb_after_last": last,
              "growth_pct": round(100 * (last - third) / third, 1) if third and last else None,
              "host_rss_gb_after_each": rss, "host_rss_gb_during_each": peak, "gpu_reserved_gb": gpu_gb,
              "data": f"synthetic (procedural faces), {preset} preset"}
    (args.out / "memory.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}))


if __name__ == "__main__":
    main()
