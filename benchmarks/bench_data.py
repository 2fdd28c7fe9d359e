"""Benchmark of `nas-data`: synthesis frames/s at 800x800 and caching frames/s, per worker count.

    python benchmarks/bench_data.py --frames 2000 --workers 1 16

Each worker count synthesises --frames frames into a temporary folder (procedural face, 20 frames per
subject), then caches them at --res. Caching is so much faster than synthesis that the frames are
listed --cache-repeat times over (a second root whose lists repeat the rows and whose folders link to
the first), so that the pool's start-up does not dominate; the files come from the page cache, so
this measures decoding, alignment, warping and writing, not the disk. Wall times include the pool's
start-up. Prints one summary table at the end, with per-core rates (frames/s divided by the workers).
The 1-worker run happens in this process, so its math libraries are pinned to one thread, as the
pool's workers are (an idle OpenBLAS thread otherwise spins on a second core: measured 6.7 s of CPU
for 4.6 s of wall time on 2 cores, which flatters the 1-worker "per-core" rate).
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (or the platform's answer)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def repeat_root(src: Path, dst: Path, times: int) -> Path:
    """A WCPA root whose folders link to `src` and whose training list repeats src's `times` times."""
    dst.mkdir()
    for name in ("image", "info", "68landmarks", "resources", "synth_config.json"):
        (dst / name).symlink_to(src / name)
    (dst / "list").mkdir()
    lines = (src / "list" / "WCPA_track2_train.csv").read_text().splitlines(keepends=True)
    (dst / "list" / "WCPA_track2_train.csv").write_text(lines[0] + "".join(lines[1:] * times))
    return dst


def main() -> None:
    """Run the benchmark and print the summary table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=400, help="frames to synthesise per run (400)")
    parser.add_argument("--workers", type=int, nargs="+", default=[os.cpu_count() or 1],
                        help="worker counts to run (default: all cores)")
    parser.add_argument("--size", type=int, default=800, help="image size (800)")
    parser.add_argument("--res", type=int, default=256, help="crop size of the cache (256)")
    parser.add_argument("--face-model", default="procedural", help="face model (procedural)")
    parser.add_argument("--landmarks", default=None, help="kpt_ind.npy for an OBJ-folder face model")
    parser.add_argument("--cache-repeat", type=int, default=5, help="times the frames are listed for caching (5)")
    parser.add_argument("--tmp", default=None, help="folder for the temporary data (default: system temp)")
    args = parser.parse_args()

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):   # before numpy loads
        os.environ.setdefault(var, "1")
    from facedata.cache import CacheConfig, build_cache
    from facedata.synth import SynthConfig, synthesize

    per_subject = 20
    subjects = max(1, math.ceil(args.frames / per_subject))
    rows = []
    for workers in args.workers:
        if args.tmp:
            Path(args.tmp).mkdir(parents=True, exist_ok=True)
        base = Path(tempfile.mkdtemp(prefix="bench_data_", dir=args.tmp))
        try:
            t0 = time.perf_counter()
            summary = synthesize(SynthConfig(out=str(base / "wcpa"), subjects=subjects,
                                             frames_per_subject=per_subject, face_model=args.face_model,
                                             landmarks=args.landmarks, test_subjects=0.0, size=args.size,
                                             workers=workers))
            t_synth = time.perf_counter() - t0
            n = summary["train_frames"]
            rows.append(("synth", f"{args.size}x{args.size}", n, workers, t_synth))
            print(f"synth  workers={workers:3d}: {n} frames in {t_synth:7.2f} s = {n / t_synth:8.1f} frames/s",
                  flush=True)
            repeated = repeat_root(base / "wcpa", base / "wcpa_rep", args.cache_repeat)
            t0 = time.perf_counter()
            manifest = build_cache(CacheConfig(data=str(repeated), out=str(base / "cache"), res=args.res,
                                               workers=workers))
            t_cache = time.perf_counter() - t0
            m = manifest["counts"]["total"]
            rows.append(("cache", f"{args.res}x{args.res}", m, workers, t_cache))
            print(f"cache  workers={workers:3d}: {m} frames in {t_cache:7.2f} s = {m / t_cache:8.1f} frames/s",
                  flush=True)
        finally:
            shutil.rmtree(base, ignore_errors=True)

    print()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical cores; face model: {args.face_model}")
    header = f"| {'stage':6s} | {'output':9s} | {'frames':>6s} | {'workers':>7s} | {'seconds':>8s} | " \
             f"{'frames/s':>9s} | {'frames/s/core':>13s} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for stage, output, n, workers, secs in rows:
        print(f"| {stage:6s} | {output:9s} | {n:6d} | {workers:7d} | {secs:8.2f} | {n / secs:9.1f} | "
              f"{n / secs / workers:13.1f} |")


if __name__ == "__main__":
    main()
