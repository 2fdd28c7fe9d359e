"""`nas-ablate`: a task's ablation grid (faces: the JMLR paper's Table 1) trained through stage 2's machinery."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from kit.cli import Parser, run_main
from kit.config import add_options, given
from nas.settings import DRIVER_RESUME_FREE as RESUME_FREE, SettingsError, resume_settings


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `nas-ablate`, generated from `AblateSettings`."""
    from nas.ablate import AblateSettings
    from search_spaces.resnet_d import PAPER_SEARCHED
    p = Parser(
        prog="nas-ablate",
        description="Train the JMLR paper's Table 1 grid: ResNet-34d with and without flip and without the edge "
                    "loss, ResNet-18d, ResNet-50d, the searched architecture, and the ensemble of ResNet-34d with "
                    "the searched net, each as a Ray Tune trial. Render it with nas-report OUT/NAME.")
    add_options(p, AblateSettings)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--searched", help=f"the searched architecture (default: the paper's {PAPER_SEARCHED})")
    which.add_argument("--from-run", metavar="RUN_DIR", help="use the best searched architecture of a nas-search run")
    p.add_argument("--resume", action="store_true", help="continue the ablation NAME where it stopped")
    return p


def resolve(args: argparse.Namespace) -> tuple[Any, bool]:
    """Settings from the arguments, or from the run being resumed (after checking they agree)."""
    from nas.ablate import AblateSettings, best_searched
    from nas.runs import RunDir, read_config
    explicit = {k: v for k, v in given(args, AblateSettings).items() if k not in ("name", "out")}
    if args.searched:
        explicit["searched"] = args.searched
    if args.from_run:
        explicit.update(searched=best_searched(Path(args.from_run)), searched_from=str(Path(args.from_run).resolve()))
    name, out = args.name or "ablate", args.out or "runs"
    run = RunDir((Path(out) / name).resolve())
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
    if not explicit.get("data"):
        raise SettingsError("--data is required: a crop cache made by nas-data cache")
    if run.exists():
        raise SettingsError(f"{run.root} holds a run already: continue it with --resume, or choose another --name")
    return AblateSettings(**explicit, name=name, out=out), False


def run(args: argparse.Namespace) -> int | None:
    """Check everything, join Ray, train the grid, score the ensembles, print the rows."""
    from nas.deadline import Deadline, Paused
    from nas.cli import print_comparison
    from nas.cluster import probe
    from nas.runs import RunDir, read_summary, read_table
    from nas.tasks import get_task

    settings, resuming = resolve(args)
    deadline = Deadline.after(settings.time_limit)  # counted from the start, data preparation included
    task = get_task(settings.task)
    run_dir = RunDir(settings.run_dir)
    ref = f"resnet34d-s{settings.seed}"
    title = f"ablation: {task.metric.title} ({task.metric.unit})"
    if resuming and read_summary(run_dir.summary).get("ablation") == "done":
        print(f"nas-ablate: {run_dir.root}: every experiment is done already")
        print_comparison(read_table(run_dir.final), task.metric, ref=ref, title=title)
        return
    task.check_data(settings.data)
    if settings.address and settings.address != "auto":
        probe(settings.address)
    from nas.driver import discard_if_empty, driving, paused_exit
    try:
        with driving(run_dir, "nas-ablate", f"nas-ablate --name {settings.name} --out {settings.out} --resume"):
            ablate(settings, resuming, run_dir, task, ref, title, deadline)
    except Paused as exc:
        return paused_exit("nas-ablate", exc)
    finally:
        discard_if_empty(run_dir)


def ablate(settings: Any, resuming: bool, run_dir: Any, task: Any, ref: str, title: str,
           deadline: Any = None) -> None:
    """Join Ray, train the grid, score the ensembles, print the rows."""
    import ray
    from nas.ablate import run_ablation
    from nas.cli import print_comparison
    from nas.cluster import cluster_size
    from nas.driver import begin_given_data
    data = begin_given_data("nas-ablate", settings, run_dir, task, resuming, settings.res, deadline)
    print(f"nas-ablate: searched architecture {settings.searched}")
    rows = run_ablation(settings, run_dir, data, cluster_size(), deadline=deadline)
    print_comparison(rows, task.metric, ref=ref, title=title)
    print(f"nas-ablate: render it with: nas-report {run_dir.root}")
    ray.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; bad input is one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    return run_main("nas-ablate", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
