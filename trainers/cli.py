"""`nas-train` and `nas-eval`: train one JMLR network on a crop cache; score or submit checkpoints.

`nas-train`'s options are generated from `trainers.train.TrainConfig` (its defaults and help, defined once).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

from kit.cli import Parser, run_main
from kit.config import add_options, given, positive_int


def _data_options(parser: argparse.ArgumentParser, train: bool) -> None:
    parser.add_argument("--data", required=True, metavar="CACHE", help="crop cache folder (made by `nas-data cache`)")
    if not train:  # nas-train takes these from TrainConfig
        parser.add_argument("--device", default="auto", help="auto: the GPU if there is one (default); cpu, cuda")
        parser.add_argument("--data-mode", default="auto", choices=("auto", "resident", "stream"),
                            help="keep the split on the GPU (resident) or stream it from the cache (default: by size)")
        parser.add_argument("--pnp-workers", type=positive_int, default=None,
                            help="PnP threads of the OpenCV solver (default: CPU count)")
        parser.add_argument("--pnp", default="auto", choices=("auto", "cv2", "torch"),
                            help="pose solver: torch (batched, on the GPU), cv2 (OpenCV on CPU threads); "
                                 "auto (default): torch on a GPU, cv2 on the CPU")


def train_parser() -> argparse.ArgumentParser:
    """The argument parser of `nas-train`."""
    from trainers.train import TrainConfig
    p = Parser(prog="nas-train", description="Train one JMLR network (backbone + V*5 head) on a "
                                "crop cache and score it on the held-out subjects after each epoch.")
    _data_options(p, train=True)
    add_options(p, TrainConfig)
    p.add_argument("--out", default=None, metavar="RUN_DIR", help="run folder (default runs/train/ARCH-sSEED)")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its last checkpoint")
    return p


def _train(args: argparse.Namespace) -> None:
    from kit.progress import one_bar
    from search_spaces import create_space
    from trainers.device_data import DeviceData
    from trainers.train import TrainConfig, train

    config = TrainConfig(**given(args, TrainConfig))
    space = create_space(config.space)
    name = space.label(space.parse(config.arch))
    out = Path(args.out) if args.out else Path("runs") / "train" / f"{name}-s{config.seed}"
    if args.resume and not (out / "last.pt").is_file():
        from kit.config import ConfigError
        raise ConfigError(f"--resume: {out} holds no run to continue (no last.pt); leave out --resume to start one")
    data = DeviceData.open(args.data, config.device, config.data_mode)
    with one_bar(name) as advance:
        def on_epoch(epoch: int, m: dict) -> None:
            score = f"  score {m['score']:.2f} mm ({m['v1_v2']:.2f} + {m['v1_v3']:.2f} + {m['v1_v4_x10']:.2f})" \
                if m.get("score") is not None else ""
            print(f"epoch {epoch}/{config.epochs}  loss {m['train_loss']:.4f}  {m['images_per_s']:.0f} img/s{score}",
                  flush=True)

        result = train(config, data, out, on_epoch=on_epoch, resume=args.resume,
                       progress=lambda step, total: advance(completed=step, new_total=total))
    score = "no validation split" if result.score is None else f"score {result.score:.3f} mm"
    print(f"{result.arch}: {score}, {result.gflops:.3f} GFLOPs, {result.params_m:.2f} M params, "
          f"{result.images_per_s:.0f} img/s on {result.device}; run folder {out}")


def train_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `nas-train`; bad input is one line on stderr and exit code 2, divergence exit code 1."""
    args = train_parser().parse_args(argv)
    return run_main("nas-train", lambda: _train(args))


def eval_parser() -> argparse.ArgumentParser:
    """The argument parser of `nas-eval`."""
    p = Parser(prog="nas-eval", description="Score checkpoints (one, or an ensemble averaged "
                                "before PnP) on a labelled split, or write the test split's submission.")
    p.add_argument("--checkpoint", nargs="+", required=True, metavar="CKPT",
                   help="checkpoint files or run folders (several: an ensemble)")
    _data_options(p, train=False)
    p.add_argument("--split", default="val", choices=("val", "test", "train"), help="split to predict (default val)")
    p.add_argument("--flip-tta", action="store_true", help="average with the mirrored image's prediction")
    p.add_argument("--batch", type=positive_int, default=256, help="inference batch (default 256)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="FILE.npy: the submission layout (default submission.npy for the test split); "
                        "any other name: the scores as JSON")
    return p


def _evaluate(args: argparse.Namespace) -> None:
    from kit.atomic import write_json
    from kit.progress import one_bar
    from trainers.device_data import DeviceData
    from trainers.evaluate import evaluate, write_submission

    data = DeviceData.open(args.data, args.device, args.data_mode, splits=(args.split,))
    source = data.source(args.split)
    with one_bar(f"predict {args.split}", len(source) if source is not None else 0) as advance:
        result = evaluate(args.checkpoint, data, args.split, flip_tta=args.flip_tta, batch=args.batch,
                          workers=args.pnp_workers, pnp=args.pnp, progress=advance)
    metrics: dict[str, Any] = {**result.metrics(), "split": args.split, "flip_tta": args.flip_tta,
                               "checkpoints": [str(c) for c in args.checkpoint]}
    out = args.out or ("submission.npy" if args.split == "test" else None)
    if out and out.endswith(".npy"):
        npy, ids = write_submission(out, result, data.cache)
        print(f"wrote {len(result.rows)} predictions to {npy} (rows named in {ids})")
    elif out:
        write_json(out, metrics)
    if result.score is not None:
        s = result.score
        print(f"{args.split}: score {s.score:.3f} mm = {s.v1_v2:.3f} + {s.v1_v3:.3f} + {s.v1_v4_x10:.3f} "
              f"({len(result.rows)} images, {result.pnp_failures} PnP failures)")


def eval_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `nas-eval`; bad input is one line on stderr and exit code 2."""
    args = eval_parser().parse_args(argv)
    return run_main("nas-eval", lambda: _evaluate(args))
