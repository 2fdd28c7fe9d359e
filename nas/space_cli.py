"""`nas-space`: FLOPs of an architecture and budgeted samples of a registered search space, counted as the task
counts budgets (for faces: 256x256 input, the 6,100-output head)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

from kit.cli import Parser, run_main
from kit.config import positive_int
from kit.config import seed as seed_type
from nas.tasks import DEFAULT_TASK, get_task, list_tasks
from search_spaces import DEFAULT_SPACE, FlopWindow, SearchSpace, create_space, list_spaces, sample_archs


MAX_SAMPLES = 10_000  # distinct draws from a window: more is a typo, and would run for hours


def _common(p: argparse.ArgumentParser, outputs: bool = True) -> None:
    p.add_argument("--space", default=DEFAULT_SPACE, choices=list_spaces(), help=f"search space (default {DEFAULT_SPACE})")
    p.add_argument("--task", default=DEFAULT_TASK, choices=list_tasks(),
                   help=f"the task whose head and input size count the FLOPs (default {DEFAULT_TASK})")
    if outputs:
        p.add_argument("--res", type=positive_int, default=None, help="input size (default: the task's, 256)")
        p.add_argument("--outputs", type=positive_int, default=None, help="head outputs (default: the task's, 6100)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `nas-space`."""
    parser = Parser(
        prog="nas-space", description="Budgeted search spaces: FLOPs (fvcore and analytic) and samples.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    flops = sub.add_parser("flops", help="FLOPs (fvcore and analytic) and parameters of one architecture")
    flops.add_argument("arch", metavar="ARCH", help="a baseline name or the space's text form (as `sample` prints)")
    _common(flops)
    flops.add_argument("--json", action="store_true", help="print one JSON object")

    sample = sub.add_parser("sample", help="distinct architectures drawn uniformly inside a FLOP window")
    sample.add_argument("--budget", required=True, help="FLOP budget, e.g. 5G, 5.12G, 500M, 5e9")
    sample.add_argument("-n", type=int, default=16,
                        help=f"number of architectures, 1 to {MAX_SAMPLES:,} (default 16)")
    sample.add_argument("--tol", type=float, default=0.05, help="window is [(1 - tol) * budget, budget] (default 0.05)")
    sample.add_argument("--seed", type=seed_type, default=0, help="random seed, >= 0 (default 0)")
    sample.add_argument("--block", choices=("basic", "bottleneck"), default=None,
                        help="resnet_d only: residual block (bottleneck: the resnet_d_bottleneck space)")
    _common(sample)
    sample.add_argument("--json", action="store_true", help="print one JSON object a line")

    base = sub.add_parser("baselines", help="list the space's baselines with their FLOPs")
    _common(base)
    return parser


def _space(args: argparse.Namespace) -> SearchSpace:
    task = get_task(args.task)
    name = "resnet_d_bottleneck" if getattr(args, "block", None) == "bottleneck" and args.space == "resnet_d" \
        else args.space
    return create_space(name, res=args.res or task.flop_res, outputs=args.outputs or task.flop_outputs)



def cmd_flops(args: argparse.Namespace) -> None:
    """Print fvcore's and the analytic FLOP count of one architecture."""
    from search_spaces.flops import count_flops
    space = _space(args)
    arch = space.parse(args.arch)
    space.check_buildable(arch, args.arch)  # fvcore's count builds the network
    size = space.complexity(arch)
    row = {"arch": space.label(arch), "space": space.name, **space.to_json(arch),
           "gflops": count_flops(space, arch) / 1e9, "gflops_analytic": size.flops / 1e9,
           "params_m": size.params / 1e6, "res": space.res, "outputs": space.outputs}
    if args.json:
        print(json.dumps(row))
    else:
        print(f"{row['arch']} ({arch}) at {space.res}x{space.res}, {space.outputs} outputs: "
              f"{row['gflops']:.4f} GFLOPs (fvcore), {row['gflops_analytic']:.4f} GFLOPs (analytic), "
              f"{row['params_m']:.3f} M params")


def sample_row(space: SearchSpace, arch: Any, flops: int, params: int) -> dict[str, Any]:
    """One JSON line of `nas-space sample --json`."""
    stages = space.to_json(arch)
    return {"arch": str(arch), "space": space.name, "depths": stages["depths"], "widths": stages["widths"],
            "gflops": flops / 1e9, "params_m": params / 1e6}


def cmd_sample(args: argparse.Namespace) -> None:
    """Print `-n` architectures sampled inside the budget window."""
    from search_spaces import SearchSpaceError
    if not 1 <= args.n <= MAX_SAMPLES:
        raise SearchSpaceError(f"-n must be 1 to {MAX_SAMPLES:,} architectures, got {args.n}")
    space = _space(args)
    window = FlopWindow.below(args.budget, args.tol)
    samples = sample_archs(space, window, args.n, seed=args.seed)
    if args.json:
        for s in samples:
            print(json.dumps(sample_row(space, s.arch, s.flops, s.params)))
        return
    from rich.console import Console
    from rich.table import Table
    table = Table(title=f"{len(samples)} {space.name} architectures in {window} at {space.res}x{space.res}")
    for col in ("arch", "GFLOPs", "params (M)"):
        table.add_column(col, justify="left" if col == "arch" else "right")
    for s in samples:
        table.add_row(str(s.arch), f"{s.flops / 1e9:.3f}", f"{s.params / 1e6:.2f}")
    Console().print(table)


def cmd_baselines(args: argparse.Namespace) -> None:
    """List the baselines with their FLOPs."""
    space = _space(args)
    for name, arch in space.baselines.items():
        size = space.complexity(arch)
        print(f"{name:16s} {str(arch):44s} {size.flops / 1e9:7.3f} GFLOPs {size.params / 1e6:7.2f} M")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `nas-space`; bad input is one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    commands = {"flops": cmd_flops, "sample": cmd_sample, "baselines": cmd_baselines}
    return run_main("nas-space", lambda: commands[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
