"""Where a proxy trial's time goes, for fresh architectures: first epoch, later epochs, validation, rest.

Runs `trainers.train.train` (no Ray) on architectures sampled from the budget window, once with cuDNN
autotuning off and once on (in that order, so the heuristic run cannot profit from the autotune cache),
on one prepared data set. Shows whether autotuning pays for itself over a proxy's few epochs.

    python benchmarks/bench_trial.py --cache CACHE [--archs 4] [--epochs 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from search_spaces import FlopWindow, create_space, sample_archs
from trainers.device_data import DeviceData
from trainers.train import TrainConfig, train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", required=True)
    p.add_argument("--archs", type=int, default=4)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--budget", default="5G")
    p.add_argument("--res", type=int, default=256)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--val-max", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pnp", default="cv2,torch", help="pose solvers of validation to compare (cv2, torch)")
    p.add_argument("--train-fraction", type=float, default=1.0, help="as --proxy-fraction")
    p.add_argument("--autotune", action="store_true", help="also run with cuDNN autotuning (first solver)")
    args = p.parse_args()
    t0 = time.perf_counter()
    data = DeviceData.open(args.cache, "auto")
    upload = time.perf_counter() - t0
    archs = [str(s.arch) for s in sample_archs(create_space("resnet_d", outputs=6100), FlopWindow.below(args.budget), args.archs, args.seed)]
    rows = []
    runs = [(False, pnp) for pnp in args.pnp.split(",")] + ([(True, args.pnp.split(",")[0])] if args.autotune else [])
    for bench, pnp in runs:
        for arch in archs:
            cfg = TrainConfig(arch=arch, epochs=args.epochs, batch=args.batch, res=args.res, val_max=args.val_max,
                              seed=args.seed, cudnn_benchmark=bench, pnp=pnp, train_fraction=args.train_fraction)
            t = time.perf_counter()
            result = train(cfg, data)
            wall = time.perf_counter() - t
            h = result.history
            first, later = h[0]["train_s"], [e["train_s"] for e in h[1:]]
            val = sum(e.get("val_s", 0.0) for e in h)
            rows.append({"autotune": bench, "pnp": pnp, "arch": arch, "wall": wall, "first": first,
                         "later": statistics.mean(later) if later else float("nan"), "val": val,
                         "rest": wall - first - sum(later) - val, "img_s": result.images_per_s})
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    print(f"\n{name}; data prepared on the device in {upload:.1f} s; {args.epochs} epochs of "
          f"{result.steps // args.epochs} steps (batch {args.batch}), validation on {args.val_max} frames each epoch")
    print(f"{'autotune':8s} {'pnp':5s} {'arch':28s} {'wall s':>7s} {'epoch 1':>8s} {'later':>7s} {'val s':>6s} "
          f"{'rest':>6s}")
    for r in rows:
        print(f"{str(r['autotune']):8s} {r['pnp']:5s} {r['arch']:28s} {r['wall']:7.2f} {r['first']:8.2f} "
              f"{r['later']:7.2f} {r['val']:6.2f} {r['rest']:6.2f}")
    for bench, pnp in runs:
        sel = [r for r in rows if r["autotune"] == bench and r["pnp"] == pnp]
        print(f"autotune={bench} pnp={pnp}: mean wall {statistics.mean(r['wall'] for r in sel):.2f} s per trial, "
              f"validation {statistics.mean(r['val'] for r in sel):.2f} s")


if __name__ == "__main__":
    main()
