"""Training throughput of the JMLR trainer on one GPU, in one run (issue 4).

Rows of the summary table (printed last):
  end-to-end   `trainers.train.train` with its real feeder (GPU-resident uint8 crops, on-device
               augmentation) on a crop cache: median images/s over the epochs (validation excluded)
  ceiling      the same model and the same SGD step (`trainers.train.make_step`) on GPU-resident random
               tensors: the compute-only upper bound of end-to-end
  reference    a DataLoader whose workers decode the JPEGs, align and warp on the CPU (the public JMLR
               code's pipeline), feeding the same step in fp32/TF32 (no autocast, no channels_last)
end-to-end and ceiling run eagerly and with torch.compile (`--modes`). The data set is synthetic, made
here with `nas-data synth` and `nas-data cache` unless `--data`/`--cache` name existing ones.

Model FLOP utilisation: fvcore counts one multiply-add as one FLOP, so a forward pass is 2 x the
analytic count in hardware FLOPs, and a training step is taken as 3 x the forward (backward ~ 2 x
forward): MFU = 6 x analytic FLOPs x images/s / peak (dense bf16 peak; TF32 peak for the reference).

GPU:  python benchmarks/bench_train.py --json bench_train.json
CPU smoke test (tiny, checks the plumbing only):
      python benchmarks/bench_train.py --device cpu --arch d1.1.1.1_w8.16.16.16 --res 64 --batch 4 \\
          --subjects 3 --frames-per-subject 8 --epochs 1 --steps 2 --modes eager
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_pipeline import ReferenceDataset  # noqa: E402

from search_spaces import create_space  # noqa: E402
from trainers.device_data import DeviceData  # noqa: E402
from trainers.feeder import resolve_device  # noqa: E402
from trainers.losses import JMLRLoss  # noqa: E402
from trainers.model import build_jmlr  # noqa: E402
from trainers.train import TrainConfig, make_step, train  # noqa: E402

# dense peak TFLOP/s by device-name fragment: (bf16, tf32); None where unknown (MFU then not shown)
PEAKS = {"H100 PCIe": (756.0, 378.0), "H100": (989.4, 494.7), "H200": (989.4, 494.7), "A100": (312.0, 156.0),
         "L40S": (362.0, 183.0)}


def peak_tflops(name: str, override: float | None) -> tuple[float | None, float | None]:
    """(bf16, tf32) dense peaks of a device; `override` replaces the bf16 one."""
    for key, peaks in PEAKS.items():
        if key in name:
            return (override or peaks[0], peaks[1])
    return (override, None)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_data(args: argparse.Namespace) -> tuple[Path, Path]:
    """The WCPA-layout root and its crop cache: given, reused from --work, or made with `nas-data`."""
    work = Path(args.work)
    root = Path(args.data) if args.data else work / "wcpa"
    cache = Path(args.cache) if args.cache else work / f"cache{args.res}"
    nas_data = shutil.which("nas-data") or str(Path(sys.executable).with_name("nas-data"))
    if not args.data and not (root / "list").exists():
        subprocess.run([nas_data, "synth", "--out", str(root), "--subjects", str(args.subjects),
                        "--frames-per-subject", str(args.frames_per_subject), "--workers", str(args.workers),
                        "--test-subjects", "0"], check=True)
    if not args.cache and not cache.exists():
        subprocess.run([nas_data, "cache", "--data", str(root), "--out", str(cache), "--res", str(args.res),
                        "--workers", str(args.workers)], check=True)
    return root, cache


def release(device: torch.device) -> None:
    """Drop compiled graphs and cached blocks between measurements, so they do not share memory."""
    import gc

    torch._dynamo.reset()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def ceiling(args: argparse.Namespace, device: torch.device, compile: bool, num_verts: int,
            triangles: np.ndarray) -> float:
    """images/s of the training step alone on GPU-resident random inputs and targets."""
    torch.manual_seed(0)
    cuda = device.type == "cuda"
    model = build_jmlr(args.arch, num_verts).to(device, memory_format=torch.channels_last if cuda else
                                                torch.contiguous_format)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4,
                          **({"fused": True} if cuda else {}))
    step = make_step(model, opt, JMLRLoss(triangles).to(device), num_verts, amp=cuda, compile=compile)
    x = torch.randn(args.batch, 3, args.res, args.res, device=device).contiguous(memory_format=torch.channels_last)
    verts, points = torch.randn(args.batch, num_verts, 3, device=device), torch.rand(args.batch, num_verts, 2, device=device)
    for _ in range(args.warmup):
        step(x, verts, points)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step(x, verts, points)
    _sync(device)
    return args.steps * args.batch / (time.perf_counter() - t0)


def reference(args: argparse.Namespace, device: torch.device, root: Path, data: DeviceData) -> float:
    """images/s of the reference-style pipeline: CPU workers decode and warp, fp32/TF32 step."""
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    topo = data.topology
    dataset = ReferenceDataset(root, topo.projection, topo.flip_index, args.res, topo.image_size)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, shuffle=True, drop_last=True,
                                         num_workers=args.workers, pin_memory=device.type == "cuda",
                                         persistent_workers=args.workers > 0)
    torch.manual_seed(0)
    model = build_jmlr(args.arch, topo.num_verts).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    step = make_step(model, opt, JMLRLoss(topo.triangles).to(device), topo.num_verts, amp=False)
    if len(loader) == 0:
        raise SystemExit(f"{root}: fewer training frames than one batch")
    need, done, t0 = args.warmup + args.steps, 0, 0.0
    while done < need:  # as many passes over the data as the warm-up and timed steps need
        for x, verts, points in loader:
            if done == args.warmup:
                _sync(device)
                t0 = time.perf_counter()
            step(*(t.to(device, non_blocking=True) for t in (x, verts, points)))
            done += 1
            if done == need:
                break
    _sync(device)
    return args.steps * args.batch / (time.perf_counter() - t0)


def end_to_end(args: argparse.Namespace, data: DeviceData, compile: bool) -> tuple[float, int]:
    """Median images/s over the epochs after the first of a real `train` run, and steps/epoch.

    The first epoch carries cuDNN autotuning and, compiled, the compilation itself (measured on an H100:
    189 img/s, then 6,000-6,600): it is warm-up, as the ceiling's untimed steps are.
    """
    config = TrainConfig(arch=args.arch, epochs=args.epochs, batch=args.batch, res=args.res,
                         device=str(data.device), compile=compile, eval_every=args.epochs, val_max=64, seed=0)
    result = train(config, data)
    rates = [h["images_per_s"] for h in result.history]
    return float(np.median(rates[1:] if len(rates) > 1 else rates)), result.steps // args.epochs


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="resnet34d")
    p.add_argument("--res", type=int, default=256)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--epochs", type=int, default=6,
                   help="end-to-end epochs (the median of all but the first is reported)")
    p.add_argument("--steps", type=int, default=50, help="timed steps of the ceiling and the reference")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (cuDNN autotuning, compile)")
    p.add_argument("--device", default="auto")
    p.add_argument("--modes", default="eager,compile", help="eager and/or compile")
    p.add_argument("--skip-reference", action="store_true", help="leave out the reference-style pipeline")
    p.add_argument("--data", help="an existing WCPA-layout root (default: synthesise one under --work)")
    p.add_argument("--cache", help="an existing crop cache of it (default: make one under --work)")
    p.add_argument("--work", default="/tmp/face-nas-bench-train", help="where generated data is kept")
    p.add_argument("--subjects", type=int, default=10)
    p.add_argument("--frames-per-subject", type=int, default=800)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak, if the table lacks the device")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        p.error("--steps must be positive and --warmup not negative")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not set(modes) <= {"eager", "compile"}:
        p.error(f"--modes takes eager and/or compile, got {args.modes!r}")
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    bf16_peak, tf32_peak = peak_tflops(name, args.peak_tflops)
    root, cache_path = make_data(args)
    data = DeviceData.open(cache_path, device)
    topo = data.topology
    space = create_space("resnet_d", res=args.res, outputs=topo.num_verts * 5)
    flops = space.flops(space.parse(args.arch))
    train_flops = 6.0 * flops  # 2 hardware FLOPs per fvcore multiply-add, backward ~ 2 x forward

    rows = []

    def add(pipeline: str, mode: str, rate: float, peak: float | None, note: str = "") -> None:
        mfu = train_flops * rate / (peak * 1e12) if peak else None
        rows.append({"pipeline": pipeline, "mode": mode, "images_per_s": rate, "mfu": mfu, "note": note})
        print(f"{pipeline:11s} {mode:8s} {rate:9.1f} img/s" + (f"  MFU {mfu:.1%}" if mfu else ""), flush=True)

    for mode in modes:
        add("ceiling", mode, ceiling(args, device, mode == "compile", topo.num_verts, topo.triangles), bf16_peak)
        release(device)
        rate, steps = end_to_end(args, data, mode == "compile")
        add("end-to-end", mode, rate, bf16_peak, f"{steps} steps/epoch, median of epochs 2-{args.epochs}, "
            f"train split {'resident' if data.source('train').resident else 'streamed'}")
        release(device)
    if not args.skip_reference:
        add("reference", "fp32/tf32", reference(args, device, root, data), tf32_peak, f"{args.workers} workers")

    ceilings = {r["mode"]: r["images_per_s"] for r in rows if r["pipeline"] == "ceiling"}
    ref = next((r["images_per_s"] for r in rows if r["pipeline"] == "reference"), None)
    for r in rows:
        r["of_ceiling"] = r["images_per_s"] / ceilings[r["mode"]] if r["mode"] in ceilings else None
        r["vs_reference"] = r["images_per_s"] / ref if ref else None
    meta = {"device": name, "arch": args.arch, "res": args.res, "batch": args.batch, "gflops_fvcore": flops / 1e9,
            "train_gflops_per_image": train_flops / 1e9, "peak_bf16_tflops": bf16_peak, "peak_tf32_tflops": tf32_peak,
            "torch": torch.__version__}
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    _print_table(meta, rows)
    return rows


def _print_table(meta: dict, rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{meta['arch']} at {meta['res']}x{meta['res']}, batch {meta['batch']}, on {meta['device']} "
                        f"({meta['gflops_fvcore']:.2f} GFLOPs fvcore; training ~{meta['train_gflops_per_image']:.1f} "
                        "hardware GFLOP/image)")
    for col in ("pipeline", "mode", "img/s", "of ceiling", "MFU", "vs reference", "note"):
        table.add_column(col, justify="left" if col in ("pipeline", "mode", "note") else "right")

    def pct(v):
        return "-" if v is None else f"{v:.1%}"

    for r in rows:
        table.add_row(r["pipeline"], r["mode"], f"{r['images_per_s']:.0f}", pct(r["of_ceiling"]), pct(r["mfu"]),
                      "-" if r["vs_reference"] is None else f"{r['vs_reference']:.2f}x", r["note"])
    Console().print(table)


if __name__ == "__main__":
    main()
