"""`nas-space`: FLOPs of an architecture and budgeted samples of the search space."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from search_spaces.arch import BLOCKS
from search_spaces.baselines import BASELINES, arch_label, resolve_arch
from search_spaces.budget import FlopWindow
from search_spaces.errors import SearchSpaceError
from search_spaces.flops import DEFAULT_RES, analytic_complexity, count_flops
from search_spaces.model import JMLR_OUTPUTS
from search_spaces.sampler import SearchSpace, sample_archs

ARCH_HELP = f"a baseline ({', '.join(BASELINES)}) or a text form such as d5.3.4.2_w64.160.272.512"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `nas-space`."""
    parser = argparse.ArgumentParser(
        prog="nas-space", description="The budgeted ResNet-'d' search space: FLOPs and samples.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    flops = sub.add_parser("flops", help="FLOPs (fvcore and analytic) and parameters of one architecture")
    flops.add_argument("arch", metavar="ARCH", help=ARCH_HELP)
    flops.add_argument("--res", type=_positive_int, default=DEFAULT_RES, help="input size (default 256)")
    flops.add_argument("--outputs", type=_positive_int, default=JMLR_OUTPUTS,
                       help="head outputs (default 6100, the JMLR head)")
    flops.add_argument("--json", action="store_true", help="print one JSON object")

    sample = sub.add_parser("sample", help="distinct architectures drawn uniformly inside a FLOP window")
    sample.add_argument("--budget", required=True, help="FLOP budget, e.g. 5G, 5.12G, 500M, 5e9")
    sample.add_argument("-n", type=int, default=16, help="number of architectures (default 16)")
    sample.add_argument("--tol", type=float, default=0.05,
                        help="window is [(1 - tol) * budget, budget] (default 0.05)")
    sample.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sample.add_argument("--block", choices=BLOCKS, default="basic", help="residual block (default basic)")
    sample.add_argument("--res", type=_positive_int, default=DEFAULT_RES, help="input size (default 256)")
    sample.add_argument("--outputs", type=_positive_int, default=JMLR_OUTPUTS,
                        help="head outputs (default 6100)")
    sample.add_argument("--json", action="store_true", help="print one JSON object a line")

    sub.add_parser("baselines", help="list the baseline names and their architectures")
    return parser


def cmd_flops(args: argparse.Namespace) -> None:
    """Print fvcore's and the analytic FLOP count of one architecture."""
    arch = resolve_arch(args.arch)
    cx = analytic_complexity(arch, args.res, args.outputs)
    row = {"arch": arch_label(arch), **arch.to_json(),
           "gflops": count_flops(arch, args.res, args.outputs) / 1e9,
           "gflops_analytic": int(cx.flops) / 1e9, "params_m": int(cx.params) / 1e6,
           "res": args.res, "outputs": args.outputs}
    if args.json:
        print(json.dumps(row))
    else:
        print(f"{row['arch']} ({arch}) at {args.res}x{args.res}, {args.outputs} outputs: "
              f"{row['gflops']:.4f} GFLOPs (fvcore), {row['gflops_analytic']:.4f} GFLOPs (analytic), "
              f"{row['params_m']:.3f} M params")


def cmd_sample(args: argparse.Namespace) -> None:
    """Print `-n` architectures sampled inside the budget window."""
    window = FlopWindow.below(args.budget, args.tol)
    space = SearchSpace(block=args.block, res=args.res, outputs=args.outputs)
    samples = sample_archs(space, window, args.n, seed=args.seed)
    if args.json:
        for s in samples:
            print(json.dumps(s.to_json()))
        return
    from rich.console import Console
    from rich.table import Table
    table = Table(title=f"{len(samples)} architectures in {window} at {args.res}x{args.res}")
    for col in ("arch", "GFLOPs", "params (M)"):
        table.add_column(col, justify="left" if col == "arch" else "right")
    for s in samples:
        table.add_row(str(s.arch), f"{s.flops / 1e9:.3f}", f"{s.params / 1e6:.2f}")
    Console().print(table)


def cmd_baselines(args: argparse.Namespace) -> None:
    """List the baselines with their 256x256 FLOPs."""
    for name, arch in BASELINES.items():
        cx = analytic_complexity(arch)
        print(f"{name:10s} {str(arch):40s} {int(cx.flops) / 1e9:6.3f} GFLOPs {int(cx.params) / 1e6:6.2f} M")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `nas-space`; bad input is one line on stderr and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        {"flops": cmd_flops, "sample": cmd_sample, "baselines": cmd_baselines}[args.command](args)
    except SearchSpaceError as exc:
        print(f"nas-space: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
