"""Does the synthetic data separate architectures? The same frame count drawn from few or many identities, a few
architectures trained fully under a few seeds on each, every score's terms kept.

    python benchmarks/identity_check.py --out OUT [--work DIR] [--subjects 50,500] [--frames 25000]
        [--archs resnet18d,resnet50d] [--seeds 0,1] [--epochs 20] [--res 256] [--time-limit SECONDS]

For each subject count it makes the embedded synthetic data (`frames / subjects` frames per subject, the task's
default splits) once under WORK (outside OUT), scores the trivial predictors on every selection frame
(`score_floor.py`), then trains every
architecture x seed with `trainers.train` and appends one row to OUT/identity.csv as each ends (rerun the same
command to continue; done rows are skipped). `--time-limit` starts no training that the longest one so far would
not finish in time. Synthetic data only; the answer is in the shape term `v1_v4_x10`: against the mean shape's (in
OUT/floor_sN.json), and whether it differs between architectures by more than between seeds; `train_*`, the same
network's terms on its own training frames, tells a network that memorised the training faces (low there, above
the mean shape on unseen subjects) from one that learned no shape at all.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import score_floor  # noqa: E402
from kit.atomic import write_csv  # noqa: E402
from kit.cli import run_main  # noqa: E402

KEY = ("subjects", "frames_per_subject", "arch", "seed", "epochs", "res", "lr")  # what a finished row was trained with
DEFAULT_LR = 0.1  # TrainConfig's; tables written before --lr existed were trained at it
TERMS = ("score", "v1_v2", "v1_v3", "v1_v4_x10")
COLUMNS = ["subjects", "frames_per_subject", "arch", "seed", "epochs", "res", "lr", *TERMS, "gflops", "wall_s",
           *(f"train_{t}" for t in TERMS)]


def ints(text: str) -> list[int]:
    """A comma-separated list of non-negative integers."""
    try:
        values = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: every value must be >= 0")
    return values


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for identity.csv and floor_sN.json")
    p.add_argument("--work", type=Path, help="folder for the data, kept out of OUT, which a device call copies back "
                                             "(default: TMPDIR/identity_check)")
    p.add_argument("--subjects", type=ints, default=[50, 500], help="subject counts, e.g. 50,500")
    p.add_argument("--frames", type=int, default=25000, help="frames of each data set (default 25000)")
    p.add_argument("--archs", default="resnet18d,resnet50d", help="architectures (default resnet18d,resnet50d)")
    p.add_argument("--seeds", type=ints, default=[0, 1], help="training seeds (default 0,1)")
    p.add_argument("--epochs", type=int, default=20, help="epochs of each training (default 20)")
    p.add_argument("--res", type=int, default=256, help="crop size (default 256)")
    p.add_argument("--batch", type=int, default=256, help="batch size (default 256)")
    p.add_argument("--lr", type=float, default=DEFAULT_LR,
                   help=f"learning rate for a batch of 512, scaled with --batch (default {DEFAULT_LR})")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--time-limit", type=float, help="seconds from the start after which no training starts")
    p.add_argument("--train-frames", type=int, default=2000,
                   help="also score each trained network on this many of its own training frames, evenly spaced: "
                        "what it fits of the faces it saw, against the held-out subjects (default 2000; 0: skip)")
    args = p.parse_args(argv)
    if args.train_frames < 0:
        p.error(f"--train-frames {args.train_frames}: give 0 (skip) or more")
    if not 0 < args.lr < float("inf"):
        p.error(f"--lr {args.lr}: must be a positive number")
    if min(args.subjects) < 1 or args.frames < max(args.subjects):
        p.error(f"--subjects {args.subjects} and --frames {args.frames}: every data set needs a subject and a frame "
                "per subject")
    return args


def key(args: argparse.Namespace, subjects: int, arch: str, seed: int) -> tuple[str, ...]:
    """A training's identity in identity.csv: rows trained with other settings are not taken as done."""
    return tuple(str(v) for v in (subjects, args.frames // subjects, arch, seed, args.epochs, args.res, float(args.lr)))


def row_key(row: dict) -> tuple[str, ...]:
    """`key` of a finished row of identity.csv; a row from before --lr has no lr and was trained at DEFAULT_LR."""
    return tuple(str(float(row.get(k) or DEFAULT_LR)) if k == "lr" else str(row[k]) for k in KEY)


def late(args: argparse.Namespace, start: float, longest: float, what: str) -> bool:
    """Whether the longest training so far would no longer end within --time-limit (then say what stops)."""
    if args.time_limit is None or time.time() - start + longest <= args.time_limit:
        return False
    print(f"time limit: stopping before {what}", flush=True)
    return True


def make_data(args: argparse.Namespace, subjects: int) -> Path:
    """The embedded synthetic data of `subjects` x frames/subjects frames, cached at --res (made once)."""
    from nas.tasks import get_task
    return get_task("faces").prepare_data(None, args.work, res=args.res, seed=0,
                                          size={"subjects": subjects, "frames_per_subject": args.frames // subjects})


def train_one(args: argparse.Namespace, cache: Path, arch: str, seed: int) -> dict:
    """One full training's final score, its terms, FLOPs and wall time, and its terms on training frames."""
    from trainers.device_data import DeviceData
    from trainers.train import TrainConfig, train
    config = TrainConfig(arch=arch, epochs=args.epochs, res=args.res, batch=args.batch, seed=seed, lr=args.lr,
                         device=args.device, eval_every=args.epochs, val_max=None)  # all selection frames, as the floor
    start = time.perf_counter()
    data = DeviceData.open(str(cache), args.device)
    with tempfile.TemporaryDirectory(dir=args.work) as out:  # the checkpoint lives only until it is scored
        result = train(config, data, out if args.train_frames else None)
        wall = round(time.perf_counter() - start, 1)
        seen = train_terms(data, result.checkpoint, args.train_frames) if args.train_frames else {}
    return {"arch": arch, "seed": seed, "epochs": args.epochs, "res": args.res, "lr": float(args.lr),
            **{t: getattr(result, t) for t in TERMS}, "gflops": result.gflops, "wall_s": wall, **seen}


def train_terms(data, checkpoint: str, frames: int) -> dict:
    """The trained network's score and terms on `frames` of its own training frames, evenly spaced."""
    import numpy as np
    from trainers.evaluate import load_predictors, score_split
    n = len(data.source("train"))
    local = np.unique(np.linspace(0, n - 1, min(frames, n)).round().astype(np.int64))
    scored = score_split(load_predictors([checkpoint], data.topology, data.device), data, "train", local)
    return {f"train_{t}": v for t, v in scored.score.as_dict().items()}


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.work = args.work or Path(tempfile.gettempdir()) / "identity_check"
    table = args.out / "identity.csv"
    from nas.runs import read_table
    rows = read_table(table)
    done = {row_key(r) for r in rows}
    longest = max((float(r["wall_s"]) for r in rows), default=0.0)  # a resumed run knows its longest training
    start = time.time()
    for subjects in args.subjects:
        todo = [(arch, seed) for arch in args.archs.split(",") for seed in args.seeds
                if key(args, subjects, arch, seed) not in done]
        if not todo:
            continue
        if late(args, start, longest, f"the {subjects}-subject data"):
            return rows
        cache = make_data(args, subjects)
        floor = args.out / f"floor_s{subjects}.json"
        if not floor.exists():
            floor.write_text(json.dumps(score_floor.main(["--cache", str(cache), "--val-max", "0"]), indent=1) + "\n")
        for arch, seed in todo:
            if late(args, start, longest, f"{subjects} subjects, {arch}, seed {seed}"):
                return rows
            row = {"subjects": subjects, "frames_per_subject": args.frames // subjects,
                   **train_one(args, cache, arch, seed)}
            longest = max(longest, row["wall_s"])
            rows.append(row)
            write_csv(table, rows, COLUMNS)  # atomic: a killed run keeps every finished training
            print(json.dumps(row), flush=True)
    return rows


if __name__ == "__main__":  # bad input, a damaged identity.csv and unwritable output: one line, exit 2
    sys.exit(run_main("identity_check", lambda: main() and None))
