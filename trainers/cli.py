"""`nas-train` and `nas-eval`: train one JMLR network on a crop cache; score or submit checkpoints."""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from search_spaces import SearchSpaceError, arch_label, resolve_arch
from search_spaces.cli import ARCH_HELP
from search_spaces.cli import _positive_int  # the same argument type as nas-space's
from kit.atomic import write_json
from trainers.errors import DivergedError, TrainerError


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, metavar="CACHE", help="crop cache folder (made by `nas-data cache`)")
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"),
                        help="auto: the GPU if there is one (default)")
    parser.add_argument("--data-mode", default="auto", choices=("auto", "resident", "stream"),
                        help="keep splits on the GPU (resident) or stream them from the cache (default: by size)")
    parser.add_argument("--pnp-workers", type=_positive_int, default=None, help="PnP threads (default: CPU count)")


def train_parser() -> argparse.ArgumentParser:
    """The argument parser of `nas-train`."""
    p = argparse.ArgumentParser(prog="nas-train", description="Train one JMLR network (backbone + V*5 head) on a "
                                "crop cache and score it on the held-out subjects after each epoch.")
    p.add_argument("--arch", required=True, help=ARCH_HELP)
    _common(p)
    p.add_argument("--epochs", type=_positive_int, default=40, help="epochs (default 40)")
    p.add_argument("--batch", type=_positive_int, default=256, help="batch size (default 256)")
    p.add_argument("--lr", type=float, default=0.1, help="learning rate for a batch of 512, scaled linearly "
                   "with --batch (default 0.1)")
    p.add_argument("--train-fraction", type=float, default=1.0,
                   help="train on this seeded random fraction of the training frames (default 1.0)")
    p.add_argument("--res", type=_positive_int, default=256, help="network input size (default 256)")
    p.add_argument("--no-flip", action="store_true", help="no flip augmentation (the paper's ablation)")
    p.add_argument("--no-jitter", action="store_true", help="no colour jitter")
    p.add_argument("--geo-aug", type=float, default=0.0,
                   help="probability of a small random rotation/scale/shift per sample (default 0)")
    p.add_argument("--loss-weights", default="1,0.25,2", metavar="V,E,L",
                   help="vertex, edge-length and landmark loss weights (default 1,0.25,2; 1,0,2: no edge loss)")
    p.add_argument("--warmup-steps", type=_positive_int, default=1000,
                   help="linear warm-up steps, at most 10%% of the run (default 1000)")
    p.add_argument("--compile", action="store_true", help="torch.compile the network (pays off on long runs)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--eval-every", type=_positive_int, default=1, help="validate every N epochs (default 1)")
    p.add_argument("--val-max", type=_positive_int, default=None, help="score at most N validation frames")
    p.add_argument("--flip-tta", action="store_true", help="validate with flip test-time augmentation")
    p.add_argument("--out", default=None, metavar="RUN_DIR", help="run folder (default runs/train/ARCH-sSEED)")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its last checkpoint")
    return p


@contextmanager
def _errors(prog: str) -> Iterator[list[int]]:
    """Turn typed errors into one line on stderr; the yielded list receives the exit code."""
    code = [0]
    try:
        yield code
    except (TrainerError, SearchSpaceError) as exc:
        print(f"{prog}: error: {exc}".replace("\n", " "), file=sys.stderr)
        code[0] = 2
    except DivergedError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        code[0] = 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        code[0] = 130


def _progress(description: str):
    """A rich progress bar on stderr, shown on terminals only (logs get the plain epoch lines)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    console = Console(stderr=True)
    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, disable=not console.is_terminal)


def train_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `nas-train`; bad input is one line on stderr and exit code 2."""
    args = train_parser().parse_args(argv)
    with _errors("nas-train") as code:
        from trainers.device_data import DeviceData
        from trainers.train import TrainConfig, train

        config = TrainConfig(arch=args.arch, epochs=args.epochs, batch=args.batch, lr=args.lr,
                             train_fraction=args.train_fraction, res=args.res, flip=not args.no_flip,
                             jitter=not args.no_jitter, geo_aug=args.geo_aug, loss_weights=args.loss_weights,
                             warmup_steps=args.warmup_steps, device=args.device, compile=args.compile,
                             seed=args.seed, eval_every=args.eval_every, val_max=args.val_max,
                             val_flip_tta=args.flip_tta, data_mode=args.data_mode, pnp_workers=args.pnp_workers)
        out = Path(args.out) if args.out else Path("runs") / "train" / f"{arch_label(resolve_arch(args.arch))}-s{args.seed}"
        data = DeviceData.open(args.data, config.device, config.data_mode)
        with _progress(arch_label(resolve_arch(config.arch))) as bar:
            task = bar.add_task("train", total=None)

            def on_step(step: int, total: int) -> None:
                bar.update(task, completed=step, total=total)

            def on_epoch(epoch: int, m: dict) -> None:
                score = f"  score {m['score']:.2f} mm ({m['v1_v2']:.2f} + {m['v1_v3']:.2f} + {m['v1_v4_x10']:.2f})" \
                    if m.get("score") is not None else ""
                print(f"epoch {epoch}/{config.epochs}  loss {m['train_loss']:.4f}  "
                      f"{m['images_per_s']:.0f} img/s{score}", flush=True)

            result = train(config, data, out, on_epoch=on_epoch, resume=args.resume, progress=on_step)
        score = "no validation split" if result.score is None else f"score {result.score:.3f} mm"
        print(f"{result.arch}: {score}, {result.gflops:.3f} GFLOPs, {result.params_m:.2f} M params, "
              f"{result.images_per_s:.0f} img/s on {result.device}; run folder {out}")
    return code[0]


def eval_parser() -> argparse.ArgumentParser:
    """The argument parser of `nas-eval`."""
    p = argparse.ArgumentParser(prog="nas-eval", description="Score checkpoints (one, or an ensemble averaged "
                                "before PnP) on a labelled split, or write the test split's submission.")
    p.add_argument("--checkpoint", nargs="+", required=True, metavar="CKPT",
                   help="checkpoint files or run folders (several: an ensemble)")
    _common(p)
    p.add_argument("--split", default="val", choices=("val", "test", "train"), help="split to predict (default val)")
    p.add_argument("--flip-tta", action="store_true", help="average with the mirrored image's prediction")
    p.add_argument("--batch", type=_positive_int, default=256, help="inference batch (default 256)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="FILE.npy: the submission layout (default submission.npy for the test split); "
                        "any other name: the scores as JSON")
    return p


def eval_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `nas-eval`; bad input is one line on stderr and exit code 2."""
    args = eval_parser().parse_args(argv)
    with _errors("nas-eval") as code:
        from trainers.device_data import DeviceData
        from trainers.evaluate import evaluate, write_submission

        data = DeviceData.open(args.data, args.device, args.data_mode, splits=(args.split,))
        source = data.source(args.split)
        with _progress(f"predict {args.split}") as bar:
            task = bar.add_task("predict", total=len(source) if source is not None else 0)
            result = evaluate(args.checkpoint, data, args.split, flip_tta=args.flip_tta, batch=args.batch,
                              workers=args.pnp_workers, progress=lambda n: bar.advance(task, n))
        metrics = {**result.metrics(), "split": args.split, "flip_tta": args.flip_tta,
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
    return code[0]
