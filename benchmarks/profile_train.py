"""Where a training step's time goes: batch gathering, augmentation, the SGD step, and all together.

Each phase is timed alone (synchronised before and after) and in the real loop's order, eager and
compiled, so the gap between the compute-only ceiling and end-to-end training can be attributed.
Optionally writes a torch.profiler table of the loop.

    python benchmarks/profile_train.py --cache CACHE [--steps 40] [--profile out.txt]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from bench_train import make_data, release
from trainers.augment import AugmentConfig, prepare_batch
from trainers.device_data import DeviceData
from trainers.feeder import resolve_device
from trainers.losses import JMLRLoss
from trainers.model import build_jmlr
from trainers.train import make_step


def timed(fn, steps: int, device: torch.device) -> float:
    """Milliseconds per call of `fn`, after two untimed calls."""
    for _ in range(2):
        fn()
    torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) * 1e3 / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="resnet34d")
    p.add_argument("--res", type=int, default=256)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--data")
    p.add_argument("--cache")
    p.add_argument("--work", default="/tmp/face-nas-bench-train")
    p.add_argument("--subjects", type=int, default=10)
    p.add_argument("--frames-per-subject", type=int, default=800)
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--profile", help="write a torch.profiler table of the compiled loop here")
    p.add_argument("--train-epochs", type=int, default=0,
                   help="also run trainers.train.train for this many epochs, eager and compiled, and print "
                        "each epoch's images/s (shows per-epoch costs the steady loop does not have)")
    args = p.parse_args()
    device = resolve_device("auto")
    _, cache = make_data(args)
    data = DeviceData.open(cache, device)
    src, topo = data.source("train"), data.topology
    order = np.resize(np.arange(len(src)), args.batch * (args.steps + 8))
    aug = AugmentConfig()
    gen = torch.Generator(device=device)
    gen.manual_seed(0)
    rows = []
    for compile_aug in (False, True):
        for compile in (False, True):
            if compile_aug and not compile:
                continue
            torch.manual_seed(0)
            model = build_jmlr(args.arch, topo.num_verts).to(device, memory_format=torch.channels_last)
            opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4, fused=True)
            step = make_step(model, opt, JMLRLoss(topo.triangles).to(device), topo.num_verts, amp=True, compile=compile)
            prep = torch.compile(prepare_batch) if compile_aug else prepare_batch
            batches = src.iter_batches(order, args.batch)

            def gather():
                return next(batches)

            def augment(b=next(batches)):
                return prep(b.images, b.verts, b.points, res=args.res, flip_index=data.flip_index, augment=aug,
                            generator=gen)

            fixed = augment()
            t_gather = timed(gather, 10, device)
            t_aug = timed(augment, 10, device)
            t_step = timed(lambda: step(*fixed), args.steps, device)

            def loop():
                b = next(batches)
                step(*prep(b.images, b.verts, b.points, res=args.res, flip_index=data.flip_index, augment=aug,
                           generator=gen))

            batches = src.iter_batches(order, args.batch)
            t_loop = timed(loop, args.steps, device)
            name = ("compile" if compile else "eager") + (" + compiled augment" if compile_aug else "")
            rows.append((name, t_gather, t_aug, t_step, t_loop))
            if args.profile and compile and not compile_aug:
                from torch.profiler import ProfilerActivity, profile
                batches = src.iter_batches(order, args.batch)
                with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                    for _ in range(8):
                        loop()
                    torch.cuda.synchronize(device)
                Path(args.profile).write_text(prof.key_averages().table(sort_by="cuda_time_total", row_limit=30))
            del model, opt, step
            release(device)
    if args.train_epochs:
        from trainers.train import TrainConfig, train
        for compile in (False, True):
            cfg = TrainConfig(arch=args.arch, epochs=args.train_epochs, batch=args.batch, res=args.res,
                              compile=compile, eval_every=args.train_epochs, val_max=64)
            result = train(cfg, data)
            rates = " ".join(f"{h['images_per_s']:.0f}" for h in result.history)
            print(f"train() {'compile' if compile else 'eager'}: images/s per epoch: {rates}")
            release(device)
    print(f"\n{args.arch}, batch {args.batch}, {args.res}x{args.res}, {torch.cuda.get_device_name(device)}")
    print(f"{'mode':32s} {'gather ms':>10s} {'augment ms':>11s} {'step ms':>8s} {'loop ms':>8s} "
          f"{'loop img/s':>11s} {'step img/s':>11s}")
    for name, g, a, s, l in rows:
        print(f"{name:32s} {g:10.2f} {a:11.2f} {s:8.2f} {l:8.2f} {args.batch / l * 1e3:11.0f} "
              f"{args.batch / s * 1e3:11.0f}")


if __name__ == "__main__":
    main()
