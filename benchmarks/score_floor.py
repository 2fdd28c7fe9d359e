"""The WCPA score of trivial predictors on a cache's selection split: how far below "predict the mean" a trained
network gets, and which of the score's three terms it can move at all.

    python benchmarks/score_floor.py --cache CACHE [--out OUT] [--split val] [--val-max 2000] [--solver cv2]

Predictors (each decoded as a network's output is, then posed by the toolkit's `pose_and_score`): the ground truth
(a check: 0), the training split's mean vertices and mean crop points, the mean shape with the true crop points
(what the pose terms reach with a perfect 2D head), the true shape with the mean points, each selection
subject's own mean shape with the true points (what knowing the identity is worth), and a training subject's mean
shape with the true points, one drawn per frame (what a network that takes an unseen face for a training face it
memorised would score). Writes OUT/score_floor.json
and prints one line per predictor. No training; CPU is enough (the score does not depend on the crop size).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kit.cli import run_main  # noqa: E402
from kit.errors import ToolkitError  # noqa: E402
from trainers.device_data import DeviceData, subset  # noqa: E402
from trainers.evaluate import pose_and_score  # noqa: E402

TERMS = ("v1_v2", "v1_v3", "v1_v4_x10")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache", required=True, help="a crop cache made by nas-data cache")
    p.add_argument("--out", type=Path, help="folder for score_floor.json (default: print only)")
    p.add_argument("--split", default="val", choices=("val", "hold"),
                   help="the split scored (default: val, the selection split; hold: the test subjects)")
    p.add_argument("--val-max", type=int, default=2000,
                   help="frames scored, drawn as a seed-0 training validates; 0: all (default 2000)")
    p.add_argument("--solver", default="cv2", choices=("cv2", "torch"), help="PnP solver (default cv2)")
    args = p.parse_args(argv)
    if args.val_max < 0:
        p.error(f"--val-max {args.val_max}: must be >= 0")
    return args


def subject_means(verts: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """Each frame's subject's mean vertices."""
    out = np.empty_like(verts)
    for s in np.unique(subjects):
        out[subjects == s] = verts[subjects == s].mean(axis=0)
    return out


def other_subjects(verts: np.ndarray, subjects: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """`n` mean shapes of subjects drawn uniformly (seeded) from those of `verts`, one per frame."""
    names = np.unique(subjects)
    means = np.stack([verts[subjects == s].mean(axis=0) for s in names])
    return means[np.random.default_rng(seed).integers(len(names), size=n)]


def predictors(data: DeviceData, split: str, rows: np.ndarray) -> tuple[dict, dict]:
    """The labels of `rows` and the trivial predictions (vertices, crop points) by name."""
    train = data.labels("train", np.arange(len(data.rows["train"])), ("verts", "points2d"))
    train_subjects = np.asarray(data.cache.subjects)[data.rows["train"]]
    mean_v, mean_p = (train[k].astype(np.float64).mean(axis=0) for k in ("verts", "points2d"))
    labels = data.labels(split, rows, ("verts", "R_t", "tform", "points2d"))
    gv, gp = labels["verts"].astype(np.float64), labels["points2d"].astype(np.float64)
    subjects = np.asarray(data.cache.subjects)[data.rows[split]][rows]
    n = len(rows)
    mv, mp = np.broadcast_to(mean_v, (n, *mean_v.shape)).copy(), np.broadcast_to(mean_p, (n, *mean_p.shape)).copy()
    return labels, {"ground truth": (gv, gp), "mean of training targets": (mv, mp),
                    "mean shape + true points": (mv, gp), "true shape + mean points": (gv, mp),
                    "subject's mean shape + true points": (subject_means(gv, subjects), gp),
                    "a training subject's mean shape + true points":
                        (other_subjects(train["verts"].astype(np.float64), train_subjects, n), gp)}


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    data = DeviceData.open(args.cache, "cpu")
    if len(data.rows.get(args.split, ())) == 0:
        raise ToolkitError(f"{args.cache} has no labelled frames in split {args.split!r}")
    rows = subset(len(data.rows[args.split]), limit=args.val_max or None, seed=0)
    labels, preds = predictors(data, args.split, rows)
    out = {"cache": str(args.cache), "split": args.split, "frames": int(len(rows)), "solver": args.solver}
    for name, (verts, points) in preds.items():
        _, _, score, fails = pose_and_score(verts, points, labels["tform"], data.topology, verts_gt=labels["verts"],
                                            R_t_gt=labels["R_t"], solver=args.solver)
        terms = score.per_image_terms.mean(axis=0)
        out[name] = {"score": round(float(terms.sum()), 2), **{k: round(float(v), 2) for k, v in zip(TERMS, terms)},
                     "pnp_failures": int(fails)}
        print(f"{name:46s} " + "  ".join(f"{k} {v:7.2f}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in out[name].items()), flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "score_floor.json").write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":  # bad input and unwritable output: one line, exit 2
    sys.exit(run_main("score_floor", lambda: main() and None))
