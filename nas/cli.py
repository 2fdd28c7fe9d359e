"""`nas-search`: budgeted backbone search (stage 1) and the final comparison with the baselines (stage 2).

This module only parses arguments, calls the library and writes the resolved config; every default and help
text comes from `nas.settings.SearchSettings` and the presets.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from kit.cli import Parser, run_main
from kit.numbers import short_number
from kit.config import add_options, given
from nas.settings import SearchSettings, SettingsError, default_notes


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `nas-search`, generated from `SearchSettings`; defaults come from the preset."""
    p = Parser(
        prog="nas-search",
        description="Search backbones inside a FLOP budget for a task (faces: JMLR reconstruction): Optuna "
                    "proposes, Ray Tune runs proxy trainings on every GPU, the best are fully trained beside the "
                    "baselines. Defaults come from the preset (nas/presets/*.yaml): 'default' with a GPU, "
                    "'smoke' without.")
    add_options(p, SearchSettings, notes=default_notes())
    p.add_argument("--resume", action="store_true", default=None, help="continue the run NAME where it stopped")
    p.add_argument("--proxy-from", metavar="RUN_DIR", help="search with the proxy a nas-fidelity run recommends "
                                                          "(its schedule included)")
    p.add_argument("--preset", help="smoke | default | a YAML file of settings (default: smoke without GPUs, "
                                    "else default)")
    return p


def _resolve(args: argparse.Namespace) -> tuple[SearchSettings, bool]:
    """Settings from the preset and the explicit arguments, or from the run being resumed."""
    from nas.runs import RunDir
    from nas.settings import load_settings, make_settings, resume_settings
    explicit = given(args, SearchSettings)
    if args.proxy_from:
        explicit.update(proxy_score=recommended_proxy(Path(args.proxy_from)),
                        proxy_from=str(Path(args.proxy_from).resolve()))
    if args.resume:
        if not args.name:
            raise SettingsError("--resume needs --name NAME of the run to continue")
        run = RunDir((Path(args.out or "runs") / args.name).resolve())
        return resume_settings(load_settings(run.config), explicit), True
    if not args.budget:
        raise SettingsError("--budget is required, e.g. --budget 5G")
    settings = make_settings(explicit, args.preset or "default")
    if RunDir(settings.run_dir).exists():
        raise SettingsError(f"{settings.run_dir} holds a run already: continue it with --resume, "
                            "or choose another --name")
    return settings, False


def recommended_proxy(run_dir: Path) -> str:
    """The proxy a nas-fidelity run recommends (its summary.json)."""
    from nas.runs import read_summary
    try:
        summary = read_summary(run_dir / "summary.json")
    except (OSError, ValueError) as exc:
        raise SettingsError(f"--proxy-from {run_dir}: cannot read its summary.json ({exc})") from None
    name = summary.get("recommended_proxy")
    if not name and summary.get("fidelity") == "done" and summary.get("rule"):
        raise SettingsError(f"--proxy-from {run_dir}: the study recommends no proxy ({summary['rule']}); choose "
                            "one with --proxy-score NAME, or leave the default")
    if not name:
        raise SettingsError(f"--proxy-from {run_dir}: not a finished nas-fidelity run (no recommended_proxy in "
                            "summary.json)")
    return str(name)


def run(args: argparse.Namespace) -> int | None:
    """Resolve settings, check everything, hold the run folder and search."""
    from nas.deadline import Deadline, Paused
    from nas.cluster import probe
    from nas.driver import discard_if_empty, driving, paused_exit
    from nas.runs import RunDir
    from nas.study import open_storage, storage_guard
    from nas.tasks import get_task

    settings, resuming = _resolve(args)
    deadline = Deadline.after(settings.time_limit)  # counted from the start, data preparation included
    # everything that can be checked is checked before Ray starts and before anything is written
    get_task(settings.task).check_data(settings.data)
    if settings.address and settings.address != "auto":
        probe(settings.address)
    run_dir = RunDir(settings.run_dir)
    run_dir.root.mkdir(parents=True, exist_ok=True)  # SQLite creates study.db only inside an existing folder
    resume = f"nas-search --name {settings.name} --out {settings.out} --resume"
    try:
        with driving(run_dir, "nas-search", resume), storage_guard(settings.storage_url):
            open_storage(settings.storage_url)
            search(args, settings, resuming, run_dir, deadline)
    except Paused as exc:
        return paused_exit("nas-search", exc)
    finally:
        discard_if_empty(run_dir)


def search(args: argparse.Namespace, settings: SearchSettings, resuming: bool, run_dir: Any,
           deadline: Any = None) -> None:
    """Join Ray, prepare the data, run both stages, print the comparison."""
    import ray
    from kit.progress import progress
    from nas.cluster import cluster_size, gpu_count
    from nas.final import run_stage2
    from nas.driver import join_ray, record_data, record_mps, say_limit
    from nas.runs import write_yaml
    from nas.search import run_stage1
    from nas.settings import make_settings
    from nas.tasks import get_task

    mps = join_ray("nas-search", settings)
    if not resuming and not args.preset and gpu_count() == 0:
        settings = make_settings(given(args, SearchSettings), "smoke", "no GPU in the Ray cluster")
        print("nas-search: no GPU found: using the smoke preset (toy sizes, CPU); "
              "pass --preset default to override", file=sys.stderr)
    if not resuming:
        write_yaml(run_dir.config, settings.to_dict())
    record_mps(run_dir, mps)
    print(f"nas-search: run folder {run_dir.root}")
    say_limit("nas-search", deadline)
    task = get_task(settings.task)
    with progress() as start:
        data = task.prepare_data(settings.data, Path(settings.out).resolve(), res=settings.data_res, seed=settings.seed,
                                 size={"subjects": settings.synth_subjects,
                                       "frames_per_subject": settings.synth_frames_per_subject,
                                       "selection_subjects": settings.selection_subjects,
                                       "test_subjects": settings.test_subjects}, progress=start)
    print(f"nas-search: data {data}")
    record_data(run_dir, task, data, embedded=settings.data is None)
    cluster = cluster_size()
    run_stage1(settings, run_dir, data, cluster, deadline=deadline)
    rows = run_stage2(settings, run_dir, data, cluster, deadline=deadline)
    print_comparison(rows, task.metric)
    print(f"nas-search: render the report with: nas-report {run_dir.root}")
    ray.shutdown()


def print_comparison(rows: list[dict[str, Any]], metric: Any, ref: str = "resnet34d", title: str | None = None) -> None:
    """The stage-2 table, best first, with each score's difference to the mean of the rows labelled `ref`."""
    from rich.console import Console
    from rich.table import Table

    def num(v: Any) -> float | None:
        return None if v in (None, "") else float(v)

    name = metric.name
    sign = 1 if metric.direction == "min" else -1
    title = title or f"stage 2: {metric.title} ({metric.unit}, {'lower' if sign > 0 else 'higher'} is better)"
    ref_scores = [s for s in (num(r.get(name)) for r in rows if r["label"] == ref) if s is not None]
    ref_score = sum(ref_scores) / len(ref_scores) if ref_scores else None  # its mean over seeds
    table = Table(title=title)
    numbers = ("gflops", "params_m", "proxy_score", name, *metric.terms)
    versus = f"vs {ref}" + (" mean" if len(ref_scores) > 1 else "")
    for col in ("model", "seed", "GFLOPs", "params (M)", "proxy", name, *metric.terms, versus):
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for r in sorted(rows, key=lambda r: (num(r.get(name)) is None, sign * (num(r.get(name)) or 0))):
        score = num(r.get(name))
        text = [short_number(r.get(k), decimals=3) for k in numbers]
        delta = f"{score - ref_score:+.3f}" if score is not None and ref_score is not None else "-"
        table.add_row(r["label"], str(r.get("seed") or 0), *text, delta)
    Console(width=None if sys.stdout.isatty() else 160).print(table)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; bad input is one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    return run_main("nas-search", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
