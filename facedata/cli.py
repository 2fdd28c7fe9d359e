"""`nas-data`: render a synthetic WCPA-layout data set, cache aligned crops, draw a contact sheet."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from kit.cli import Parser, run_main
from kit.config import fraction as _fraction, positive_int as _positive_int, seed as _seed
from kit.progress import one_bar


def _face_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--face-model", default="procedural", metavar="procedural|PATH",
                   help="'procedural' (default, built in), a folder with Neutral.obj + blendshape OBJs, "
                        "or a WCPA root with resources/example.obj")
    p.add_argument("--landmarks", metavar="KPT_IND.npy",
                   help="68 landmark vertex indices for an OBJ folder that has no kpt_ind.npy")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `nas-data`."""
    parser = Parser(prog="nas-data", description="Face data: synthesis and the crop cache.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    workers = os.cpu_count() or 1

    s = sub.add_parser("synth", help="render a synthetic data set in the WCPA layout")
    s.add_argument("--out", required=True, metavar="DIR", help="output WCPA root (must not exist or be empty)")
    s.add_argument("--subjects", type=_positive_int, default=40, help="number of subjects (default 40)")
    s.add_argument("--frames-per-subject", type=_positive_int, default=100, help="frames per subject (100)")
    s.add_argument("--frames-per-action", type=_positive_int, default=10,
                   help="frames per facial action, one expression and pose sweep each (10)")
    _face_model_args(s)
    s.add_argument("--test-subjects", type=_fraction, default=0.2,
                   help="fraction of subjects in the (unlabelled) test list (0.2)")
    s.add_argument("--size", type=_positive_int, default=800, help="image width and height (800)")
    s.add_argument("--seed", type=_seed, default=0, help="random seed; the output is a function of it (0)")
    s.add_argument("--workers", type=_positive_int, default=workers, help=f"processes (default {workers})")
    s.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")

    c = sub.add_parser("cache", help="align, crop and cache every frame of a WCPA root")
    c.add_argument("--data", required=True, metavar="DIR", help="WCPA root (real or from `nas-data synth`)")
    c.add_argument("--out", required=True, metavar="CACHE", help="cache folder to write")
    c.add_argument("--res", type=_positive_int, default=256, help="crop size in pixels (256)")
    c.add_argument("--val-subjects", type=_fraction, default=0.2,
                   help="fraction of labelled subjects for validation: what a search ranks and picks on (0.2)")
    c.add_argument("--test-subjects", type=_fraction, default=0.0,
                   help="fraction of labelled subjects held out as a labelled test split ('hold'): what a search's "
                        "final comparison is scored on, nothing picked on them (0; nas-search makes its own 0.15)")
    c.add_argument("--seed", type=_seed, default=0, help="seed of the subject draws (0)")
    c.add_argument("--workers", type=_positive_int, default=workers, help=f"processes (default {workers})")
    c.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="on a bad frame file: stop with an error (default) or skip the frame and count it")
    c.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")

    k = sub.add_parser("contact-sheet", help="a PNG of synthetic frames with their projected landmarks")
    k.add_argument("--out", required=True, metavar="PNG", help="image file to write")
    _face_model_args(k)
    k.add_argument("-n", type=_positive_int, default=16, help="number of frames (16)")
    k.add_argument("--seed", type=_seed, default=0, help="random seed (0)")
    k.add_argument("--tile", type=_positive_int, default=256, help="tile size in pixels (256)")
    return parser


def cmd_synth(args: argparse.Namespace) -> None:
    """Render the synthetic data set."""
    from facedata.synth import SynthConfig, synthesize
    cfg = SynthConfig(out=args.out, subjects=args.subjects, frames_per_subject=args.frames_per_subject,
                      frames_per_action=args.frames_per_action, face_model=args.face_model,
                      landmarks=args.landmarks, test_subjects=args.test_subjects, size=args.size,
                      seed=args.seed, workers=args.workers, overwrite=args.overwrite)
    with one_bar("synth", cfg.subjects * cfg.frames_per_subject) as advance:
        summary = synthesize(cfg, advance)
    print(f"wrote {summary['train_frames']} training frames ({summary['train_subjects']} subjects) and "
          f"{summary['test_frames']} test frames ({summary['test_subjects']} subjects) to {args.out}")


def cmd_cache(args: argparse.Namespace) -> None:
    """Build the crop cache."""
    from facedata.cache import CacheConfig, build_cache
    from facedata.wcpa import read_layout
    cfg = CacheConfig(data=args.data, out=args.out, res=args.res, val_subjects=args.val_subjects,
                      test_subjects=args.test_subjects, seed=args.seed, workers=args.workers, on_error=args.on_error, overwrite=args.overwrite)
    total = len(read_layout(args.data))
    with one_bar("cache", total) as advance:
        manifest = build_cache(cfg, advance)
    counts = manifest["counts"]
    print(f"cached {counts['total']} frames ({counts['train']} train, {counts['val']} val, "
          f"{counts['test']} test) at {cfg.res}x{cfg.res} in {args.out}")
    if manifest["skipped"]:
        print(f"nas-data: skipped {manifest['skipped']} bad frames; first: {manifest['skipped_examples'][0]}",
              file=sys.stderr)


def cmd_contact_sheet(args: argparse.Namespace) -> None:
    """Write the contact sheet PNG."""
    import cv2

    from facedata.contact import contact_sheet
    from kit.atomic import write_bytes
    sheet = contact_sheet(args.face_model, args.landmarks, n=args.n, seed=args.seed, tile=args.tile)
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    write_bytes(args.out, png.tobytes())
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `nas-data`; bad input is one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    commands = {"synth": cmd_synth, "cache": cmd_cache, "contact-sheet": cmd_contact_sheet}
    return run_main("nas-data", lambda: commands[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
