"""`nas-ablate`: the paper's Table 1 grid trained through stage 2's machinery (Ray Tune, every GPU)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from search_spaces import PAPER_SEARCHED, SearchSpaceError
from nas.settings import SettingsError, resume_settings

# settings a resumed ablation may change: where it runs, not what it computes
RESUME_FREE = frozenset({"address", "gpus_per_trial", "cpus_per_trial"})
TITLE = "ablation: held-out WCPA score (mm, lower is better)"


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `nas-ablate`."""
    p = argparse.ArgumentParser(
        prog="nas-ablate",
        description="Train the JMLR paper's Table 1 grid: ResNet-34d with and without flip and without the edge "
                    "loss, ResNet-18d, ResNet-50d, the searched architecture, and the ensemble of ResNet-34d with "
                    "the searched net, each as a Ray Tune trial. Render it with nas-report OUT/NAME.")
    a = p.add_argument
    a("--data", help="crop cache (nas-data cache) or WCPA root (required unless --resume)")
    a("--epochs", type=int, default=None, help="epochs of each training (default 40)")
    a("--seeds", type=int, default=None, help="seeds per experiment; several give mean +- sd (default 1)")
    a("--seed", type=int, default=None, help="first seed (default 0)")
    a("--res", type=int, default=None, help="input size (default 256)")
    a("--batch", type=int, default=None, help="batch size (default 256)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--searched", help=f"the searched architecture (default: the paper's {PAPER_SEARCHED})")
    which.add_argument("--from-run", metavar="RUN_DIR", help="use the best searched architecture of a nas-search run")
    a("--address", help="Ray cluster to join ('auto' or host:port; also RAY_ADDRESS); default: start Ray locally")
    a("--gpus-per-trial", type=float, default=None, help="GPUs per training (default 1)")
    a("--cpus-per-trial", type=int, default=None, help="CPUs per training (default: shared out evenly)")
    a("--name", default="ablate", help="run name: the folder OUT/NAME (default ablate)")
    a("--out", default="runs", help="output folder (default runs)")
    a("--resume", action="store_true", help="continue the ablation NAME where it stopped")
    return p


def resolve(args: argparse.Namespace) -> tuple[Any, bool]:
    """Settings from the arguments, or from the run being resumed (after checking they agree)."""
    from nas.ablate import AblateSettings, best_searched
    from nas.runs import RunDir, read_config
    explicit = {k: v for k, v in vars(args).items() if v is not None and k not in ("resume", "from_run", "name", "out")}
    if args.from_run:
        explicit.update(searched=best_searched(Path(args.from_run)), searched_from=str(Path(args.from_run).resolve()))
    run = RunDir((Path(args.out) / args.name).resolve())
    if args.resume:
        if not run.exists():
            raise SettingsError(f"{run.config} does not exist: nothing to resume")
        try:
            values = read_config(run.config)
        except ValueError as exc:
            raise SettingsError(f"{run.config}: not a config.yaml of nas-ablate ({exc})") from None
        stored = AblateSettings.from_dict(values, run.config)
        if "searched" in explicit:
            explicit["searched"] = AblateSettings(data=stored.data, searched=explicit["searched"]).searched
        return resume_settings(stored, explicit, RESUME_FREE), True
    if not args.data:
        raise SettingsError("--data is required: a crop cache made by nas-data cache")
    if run.exists():
        raise SettingsError(f"{run.root} holds a run already: continue it with --resume, or choose another --name")
    return AblateSettings(**explicit, name=args.name, out=args.out), False


def run(args: argparse.Namespace) -> None:
    """Check everything, join Ray, train the grid, score the ensembles, print the rows."""
    import ray
    from nas.ablate import run_ablation
    from nas.cli import print_comparison
    from nas.cluster import connect, plan_slots, probe
    from nas.data import check_data, prepare_data
    from nas.runs import RunDir, read_summary, read_table, write_yaml

    settings, resuming = resolve(args)
    run_dir = RunDir(settings.run_dir)
    if resuming and read_summary(run_dir.summary).get("ablation") == "done":
        print(f"nas-ablate: {run_dir.root}: every experiment is done already")
        print_comparison(read_table(run_dir.final), ref=f"resnet34d-s{settings.seed}", title=TITLE)
        return
    check_data(settings.data)
    if settings.address and settings.address != "auto":
        probe(settings.address)
    connect(settings.address)
    slots = plan_slots(settings.gpus_per_trial, settings.cpus_per_trial)
    if not resuming:
        write_yaml(run_dir.config, settings.to_dict())
    print(f"nas-ablate: run folder {run_dir.root}; searched architecture {settings.searched}")
    data = prepare_data(settings.data, Path(settings.out).resolve(), settings.res, settings.seed, 1, 1)
    rows = run_ablation(settings, run_dir, data, slots)
    print_comparison(rows, ref=f"resnet34d-s{settings.seed}", title=TITLE)
    print(f"nas-ablate: render it with: nas-report {run_dir.root}")
    ray.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; bad input is one line on stderr and exit code 2."""
    from nas.cluster import ClusterError
    from facedata.errors import DataError
    from trainers.errors import TrainerError
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (SettingsError, SearchSpaceError, ClusterError, DataError, TrainerError) as exc:
        print(f"nas-ablate: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
