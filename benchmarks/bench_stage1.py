"""Stage 1 of the default preset as main behaved before issue 13 and with the new defaults, on the same data and
the same architectures, every trial trained for a fixed number of epochs (no early stopping): GPU utilisation,
trials per hour, img/s per trial; then stage 2 with the new defaults; and the proxy's ranking before against
after beside the proxy's own seed-to-seed agreement.

Phases (each writes PHASE.json and PHASE_trials.csv into --out; a phase whose JSON is in --done is skipped):
    before   one trial per GPU, OpenCV PnP on the CPU (main before issue 13), seed 0
    after    measured packing, batched torch PnP on the GPU (the new defaults), seed 0
    repeat   as `after`, training seed 1 (same architectures): the proxy's seed-to-seed agreement
    stage2   stage 2 of the `after` run (top 2 + resnet18d, resnet34d, --final-epochs short)
    after_cv2  as `after` but with OpenCV's PnP on the CPU (which solver suits shared GPUs)
    after_kN   as `after` but N trainings per GPU, given rather than measured (e.g. after_k4, after_k6)
    after_mps, after_kN_mps  `after` / `after_kN` under NVIDIA MPS, so that the trainings' kernels run side by side
               instead of time-sliced: Ray is started as `nas-search` starts it (`nas.cluster.connect`), which starts
               the run's own daemon (`--mps on`), or uses the daemon that CUDA_MPS_PIPE_DIRECTORY names
               (`issue13_gpu.sh ... mps` starts one before this process); MPS phases need an invocation of their own
    data     only make the data (and print the crop cache's path)

    python benchmarks/bench_stage1.py --out OUT [--done DIR] [--phases before,after,repeat,stage2] [--trials 32]
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_util import GpuSampler  # noqa: E402

PHASES = ("before", "after", "repeat", "stage2", "after_cv2")
KN = r"after_k([1-9]\d*)(_mps)?"  # N trainings per GPU, given
MPS = r"after(_k[1-9]\d*)?_mps"


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path, help="folder for the phase results (small files)")
    p.add_argument("--work", type=Path, default=Path("/tmp/bench_stage1"), help="data and run folders")
    p.add_argument("--done", type=Path, default=None, help="folder holding phase results of an earlier call")
    p.add_argument("--phases", default=",".join(PHASES))
    p.add_argument("--trials", type=int, default=32)
    p.add_argument("--epochs", type=int, default=2, help="proxy epochs of every trial (no early stopping)")
    p.add_argument("--final-epochs", type=int, default=3)
    p.add_argument("--preset", default="default", help="the preset whose data and proxy are measured")
    p.add_argument("--extra", default="{}", help="JSON of settings overriding the preset (tiny CPU runs)")
    return p.parse_args()


def settings(args: argparse.Namespace, data: Path, phase: str):
    from nas.settings import make_settings
    before = phase == "before"
    k = re.fullmatch(KN, phase)
    forced = 1.0 / int(k.group(1)) if k else None
    # proxy trainings, as issue 13 measured them: the default preset's proxy is zero-cost (synflow) since issue 14
    values = {"budget": "5G", "data": str(data), "trials": args.trials, "proxy_epochs": args.epochs,
              "proxy_score": "final", "scheduler": "none", "top_k": 2, "final_epochs": args.final_epochs,
              "baselines": ["resnet18d", "resnet34d"], "name": phase if phase != "stage2" else "after",
              "out": str(args.work / "runs"), "seed": 1 if phase == "repeat" else 0,
              "gpus_per_trial": 1.0 if before else forced, "pnp": "cv2" if before or phase == "after_cv2" else "auto",
              **json.loads(args.extra)}
    return make_settings(values, args.preset)


def enqueue(s, archs: list[str]) -> None:
    """Put the architectures into the study first, so that every phase trains the same ones."""
    from nas.study import load_study
    param = s.search_space().parameterisation(s.window)
    study = load_study(s.storage_url, s.name)
    if not study.trials:
        for arch in archs:
            study.enqueue_trial(param.encode(s.search_space().parse(arch)))


def stage1(args, data, archs, phase, gpus: GpuSampler) -> dict:
    from nas.cluster import cluster_size
    from nas.runs import RunDir, read_summary, read_table
    from nas.search import run_stage1
    s = settings(args, data, phase)
    run = RunDir(s.run_dir)
    shutil.rmtree(run.root, ignore_errors=True)
    run.root.mkdir(parents=True)
    enqueue(s, archs)
    t0 = time.time()
    run_stage1(s, run, data, cluster_size())
    t1 = time.time()
    rows = read_table(run.trials)
    shutil.copy(run.trials, args.out / f"{phase}_trials.csv")
    packing = read_summary(run.summary).get("packing_stage1") or {}
    if s.gpus_per_trial is not None:
        packing = {"per_gpu": round(1 / s.gpus_per_trial), "reason": "given (--gpus-per-trial)"}
    ips = [float(r["images_per_s"]) for r in rows if r.get("images_per_s")]
    return {"phase": phase, "trials": len(rows), "complete": sum(r["status"] == "complete" for r in rows),
            "wall_s": round(t1 - t0, 1), "trials_per_h": round(len(rows) / (t1 - t0) * 3600, 1),
            "gpu_util_mean": round(gpus.mean(t0, t1), 1), "gpu_mem_peak_gb": round(gpus.peak_memory_gb(t0, t1), 1),
            "img_per_s_per_trial_median": round(statistics.median(ips), 1) if ips else None,
            "concurrent_per_gpu": packing.get("per_gpu", 1), "packing": packing, "pnp": s.pnp,
            "mps": phase.endswith("_mps")}


def stage2(args, data, gpus: GpuSampler) -> dict:
    """Stage 2 of the `after` run with the new defaults: utilisation and training images per second in total."""
    from nas.cluster import cluster_size
    from nas.final import run_stage2
    from nas.runs import RunDir, read_summary
    s = settings(args, data, "stage2")
    run = RunDir(s.run_dir)
    counts = json.loads((data / "manifest.json").read_text())["counts"]
    t0 = time.time()
    rows = run_stage2(s, run, data, cluster_size())
    t1 = time.time()
    finals = [r for r in rows if r.get("status") == "complete"]
    baseline_proxies = sum(r["kind"] == "baseline" for r in rows)
    images = len(finals) * s.final_epochs * counts["train"] + \
        baseline_proxies * s.proxy_epochs * round(s.proxy_fraction * counts["train"])
    packing = read_summary(run.summary).get("packing_stage2") or {}
    return {"phase": "stage2", "models": len(rows), "complete": len(finals), "wall_s": round(t1 - t0, 1),
            "gpu_util_mean": round(gpus.mean(t0, t1), 1), "gpu_mem_peak_gb": round(gpus.peak_memory_gb(t0, t1), 1),
            "img_per_s_total": round(images / (t1 - t0), 1), "concurrent_per_gpu": packing.get("per_gpu", 1),
            "packing": packing, "final_epochs": s.final_epochs, "train_frames": counts["train"],
            "img_per_s_per_model": {r["label"]: float(r["images_per_s"]) for r in finals if r.get("images_per_s")}}


def tau(a: Path, b: Path) -> dict:
    """Kendall tau between the proxy scores of the architectures complete in both trial tables."""
    from scipy import stats
    read = lambda p: {r["arch"]: float(r["proxy_score"]) for r in csv.DictReader(open(p))  # noqa: E731
                      if r["status"] == "complete" and r["proxy_score"]}
    x, y = read(a), read(b)
    both = sorted(set(x) & set(y))
    if len(both) < 3:
        return {"n": len(both), "kendall": None}
    return {"n": len(both), "kendall": round(float(stats.kendalltau([x[k] for k in both],
                                                                    [y[k] for k in both]).statistic), 4)}


def summary(results: dict, out: Path, device: str, gpus: int, args) -> dict:
    """docs/results/stage1_throughput.json's layout."""
    get = lambda phase, key: results.get(phase, {}).get(key)  # noqa: E731
    return {"device": device, "gpus": gpus, "trials": args.trials, "epochs_per_trial": args.epochs,
            "data": "synthetic (procedural faces), default preset: 50 subjects x 500 frames",
            "before": {"trials_per_h": get("before", "trials_per_h"), "gpu_util_mean": get("before", "gpu_util_mean"),
                       "concurrent_per_gpu": 1, "img_per_s_per_trial": get("before", "img_per_s_per_trial_median")},
            "after": {"trials_per_h": get("after", "trials_per_h"), "gpu_util_mean": get("after", "gpu_util_mean"),
                      "concurrent_per_gpu": get("after", "concurrent_per_gpu"),
                      "img_per_s_per_trial": get("after", "img_per_s_per_trial_median")},
            "stage2": {"gpu_util_mean": get("stage2", "gpu_util_mean"),
                       "img_per_s_total": get("stage2", "img_per_s_total"),
                       "concurrent_per_gpu": get("stage2", "concurrent_per_gpu")},
            "rank_kendall_after_vs_before": tau(out / "before_trials.csv", out / "after_trials.csv")["kendall"]
            if (out / "before_trials.csv").exists() and (out / "after_trials.csv").exists() else None,
            "rank_kendall_seed_repeat": tau(out / "after_trials.csv", out / "repeat_trials.csv")["kendall"]
            if (out / "after_trials.csv").exists() and (out / "repeat_trials.csv").exists() else None,
            **{p: {k: r.get(k) for k in ("trials_per_h", "gpu_util_mean", "concurrent_per_gpu", "wall_s",
                                        "gpu_mem_peak_gb", "img_per_s_per_trial_median", "mps")}
               for p, r in results.items() if p in ("after_cv2", "after_mps") or p.startswith("after_k")}}


def main() -> None:
    args = parse()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.done:  # an earlier call's results: keep them, skip their phases
        for f in args.done.glob("*"):
            if f.is_file() and not (args.out / f.name).exists():
                shutil.copy(f, args.out / f.name)
    phases = args.phases.split(",")
    unknown = [p for p in phases if p not in (*PHASES, "data") and not re.fullmatch(KN, p) and
               not re.fullmatch(MPS, p)]
    if unknown:
        print(f"bench_stage1: unknown phase {unknown[0]!r} (one of {', '.join(PHASES)}, after_kN, after_mps, "
              "after_kN_mps, data)", file=sys.stderr)
        sys.exit(2)
    mps = [bool(re.fullmatch(MPS, p)) for p in phases]
    if any(mps) and not all(mps):
        print("bench_stage1: MPS phases and others need separate invocations (one Ray instance each)", file=sys.stderr)
        sys.exit(2)
    import torch
    from nas.tasks import get_task
    from search_spaces import sample_archs
    t = time.time()
    data = get_task("faces").prepare_data(None, args.work, res=256 if args.preset == "default" else 64, seed=0,
                                          size={"subjects": settings(args, Path("."), "after").synth_subjects,
                                                "frames_per_subject": settings(args, Path("."),
                                                                               "after").synth_frames_per_subject})
    print(f"data ready in {time.time() - t:.0f} s: {data}", flush=True)
    if args.phases == "data":
        print(data)
        return
    s = settings(args, data, "after")
    archs = [str(x.arch) for x in sample_archs(s.search_space(), s.window, args.trials, seed=0)]
    # before Ray and its MPS daemon: a driver holding a CUDA context under the daemon would be a client it waits for
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    gpu_count = torch.cuda.device_count()
    from nas.cluster import connect
    from nas.mps import MpsError
    try:  # a local instance as nas-search starts it; MPS phases with the daemon its `--mps on` starts or finds
        mps_plan = connect(None, verbose=False, mps="on" if all(mps) else "off").reason
    except MpsError as exc:
        print(f"bench_stage1: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"MPS: {mps_plan}", flush=True)
    wanted = (*PHASES, *args.phases.split(","))
    results = {p: json.loads((args.out / f"{p}.json").read_text()) for p in wanted if (args.out / f"{p}.json").exists()}
    with GpuSampler() as gpus:
        for phase in args.phases.split(","):
            if phase in results:
                print(f"{phase}: done earlier", flush=True)
                continue
            results[phase] = stage2(args, data, gpus) if phase == "stage2" else stage1(args, data, archs, phase, gpus)
            results[phase]["mps_plan"] = mps_plan
            (args.out / f"{phase}.json").write_text(json.dumps(results[phase], indent=2) + "\n")
            print(json.dumps({k: v for k, v in results[phase].items() if k != "packing"}), flush=True)
    final = summary(results, args.out, device, gpu_count, args)
    (args.out / "stage1_throughput.json").write_text(json.dumps(final, indent=1) + "\n")
    print(json.dumps(final, indent=1))


if __name__ == "__main__":
    main()
