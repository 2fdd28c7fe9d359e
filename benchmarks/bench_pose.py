"""The batched torch pose solver (`trainers.pose_batch`: its three starts refined one after another) against a
candidate that refines all three in one batch (a third of the operator calls): wall time, operator calls and the
poses' agreement, in one run on one device. The candidate is adopted only where it measures faster.

Faces as `bench_eval.py` makes them (the procedural face in random poses, crop points with 1.5 px noise); 2,000
faces is a proxy trial's validation, 5,000 the default preset's selection split.

    python benchmarks/bench_pose.py [--faces 2000,5000] [--repeats 5] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_eval import faces, timed  # noqa: E402
from facedata.conventions import apply_tform, intrinsics, invert_tform  # noqa: E402
from trainers import pose_batch  # noqa: E402


def one_after_another(x: torch.Tensor, uv: torch.Tensor, k: torch.Tensor, kinv: torch.Tensor) -> torch.Tensor:
    """Rotation and translation (N, 12) from `trainers.pose_batch`'s own chunk solver (OpenGL form turned back)."""
    r_t = pose_batch._solve_chunk(x, uv, k, kinv)
    flip = torch.as_tensor(pose_batch.OPENCV_FLIP, dtype=x.dtype, device=x.device)
    return torch.cat([(flip @ r_t[:, :3, :3].transpose(1, 2)).flatten(1), r_t[:, 3, :3] @ flip], 1)


def in_one_batch(x: torch.Tensor, uv: torch.Tensor, k: torch.Tensor, kinv: torch.Tensor) -> torch.Tensor:
    """The candidate: the same (N, 12) with every start refined in one batch (ties: the earlier start)."""
    xn = (torch.cat([uv, torch.ones_like(uv[..., :1])], -1) @ kinv.T)[..., :2]
    starts = [pose_batch._dlt(x, xn), *pose_batch._weak_perspective(x, xn)]
    n, xs = len(x), x.repeat(len(starts), 1, 1)
    rot, t, cost = pose_batch._refine(torch.cat([r for r, _ in starts]), torch.cat([t for _, t in starts]), xs,
                                      uv.repeat(len(starts), 1, 1), k)
    depth = (torch.einsum("nij,nvj->nvi", rot, xs)[..., 2] + t[:, 2:3]).mean(1)
    cost = torch.where(torch.isfinite(cost) & (depth > 0), cost, torch.full_like(cost, float("inf")))
    pick = cost.view(len(starts), n).argmin(0) * n + torch.arange(n, device=x.device)
    return torch.cat([rot[pick].flatten(1), t[pick]], 1)


def inputs(n: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """World vertices, noisy frame pixels, intrinsics and their inverse, float64 on `device`."""
    cache = faces(n, res=8)
    frame = apply_tform(invert_tform(cache.tform), cache.points2d)
    frame = frame + np.random.default_rng(1).normal(0, 1.5, frame.shape)
    k = torch.as_tensor(intrinsics(cache.projection.astype(np.float64), (800, 800)), device=device)
    as64 = lambda a: torch.as_tensor(np.asarray(a, np.float64), device=device)  # noqa: E731
    return as64(cache.verts), as64(frame), k, torch.linalg.inv(k)


def repeated(fn, args, repeats: int) -> tuple[torch.Tensor, list[float]]:
    """The result and the wall times of `repeats` calls after one warm-up (`bench_eval.timed` each)."""
    out, times = fn(*args), []
    for _ in range(repeats):
        out, seconds = timed(lambda: fn(*args))
        times.append(seconds)
    return out, times


def operator_calls(fn, args) -> int:
    """How many aten operator events one call records (nested ones included: a measure of dispatch work, not a
    count of kernel launches)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn(*args)
    return sum(e.count for e in prof.key_averages() if e.key.startswith("aten::"))


def _positive(text: str) -> int:
    """One positive integer (argparse turns a ValueError into one line and exit 2)."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _sizes(text: str) -> list[int]:
    """Positive integers separated by commas."""
    return [_positive(v) for v in text.split(",")]


def main(argv: list[str] | None = None) -> dict:
    """Measure every size, print a JSON line each; returns the whole result."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--faces", default=[2000, 5000], type=_sizes, help="comma-separated batch sizes")
    p.add_argument("--repeats", type=_positive, default=5, help="timed calls after the warm-up")
    p.add_argument("--json", default=None, type=Path)
    args = p.parse_args(argv)
    if args.json is not None and not os.access(args.json if args.json.exists() else args.json.parent, os.W_OK):
        p.error(f"--json {args.json}: cannot be written")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = {"device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({torch.get_num_threads()} "
           "threads)", "data": "in-memory procedural faces, random poses, 1.5 px noise", "sizes": []}
    for n in args.faces:
        x = inputs(n, device)
        row = {"faces": n}
        for name, fn in (("apart", one_after_another), ("batched", in_one_batch)):
            pose, times = repeated(fn, x, args.repeats)
            row[f"{name}_s"], row[f"{name}_ops"] = round(statistics.median(times), 4), operator_calls(fn, x)
            row[f"{name}_pose"], row[f"{name}_times_s"] = pose, [round(t, 4) for t in times]
        row["speedup"] = round(row["apart_s"] / row["batched_s"], 2)
        row["max_abs_diff"] = float((row.pop("apart_pose") - row.pop("batched_pose")).abs().max())
        print(json.dumps(row), flush=True)
        out["sizes"].append(row)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
