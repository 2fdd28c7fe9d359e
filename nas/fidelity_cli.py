"""`nas-fidelity`: measure how well each proxy ranks architectures against full training (issue 14)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from kit.cli import Parser, run_main
from kit.config import ConfigError, add_options, given, overrides, read_mapping
from nas.settings import DRIVER_RESUME_FREE as RESUME_FREE, PRESET_DIR, SettingsError, resume_settings


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `nas-fidelity`, generated from `FidelitySettings`."""
    from nas.fidelity import FidelitySettings
    p = Parser(
        prog="nas-fidelity",
        description="Draw architectures at random from the FLOP window, train each fully under several seeds and run "
                    "every proxy of the zoo on them under several seeds; write how well each proxy ranks them "
                    "(Kendall tau, Spearman rho, bootstrap 95% intervals, repeatability, GPU cost), the noise "
                    "ceiling of full training, and the proxy it recommends. Render it with nas-report OUT/NAME; "
                    "search with its proxy by nas-search --proxy-from OUT/NAME.")
    add_options(p, FidelitySettings)
    p.add_argument("--preset", help="default | smoke (toy sizes, CPU): partial overrides of the defaults")
    p.add_argument("--resume", action="store_true", help="continue the study NAME where it stopped")
    return p


def load_preset(name: str) -> dict[str, Any]:
    """A fidelity preset (nas/presets/fidelity-NAME.yaml) as a partial mapping of settings."""
    from nas.fidelity import FidelitySettings
    path = PRESET_DIR / f"fidelity-{name}.yaml"
    if not path.is_file():
        raise SettingsError(f"unknown preset {name!r}: give default or smoke")
    try:
        return overrides(read_mapping(path, "preset"), FidelitySettings, str(path))
    except ConfigError as exc:
        raise SettingsError(str(exc)) from None


def resolve(args: argparse.Namespace) -> tuple[Any, bool]:
    """Settings from the preset and the arguments, or from the study being resumed."""
    from nas.fidelity import COMMAND, FidelitySettings
    from nas.runs import RunDir, read_config
    explicit = given(args, FidelitySettings)
    run = RunDir((Path(args.out or "runs") / (args.name or "fidelity")).resolve())
    if args.resume:
        if not run.exists():
            raise SettingsError(f"{run.config} does not exist: nothing to resume")
        try:
            values = overrides(read_config(run.config), FidelitySettings, str(run.config))
        except (ValueError, ConfigError) as exc:
            raise SettingsError(f"{run.config}: not a config.yaml of {COMMAND} ({exc})") from None
        return resume_settings(FidelitySettings(**values), explicit, RESUME_FREE), True
    if not explicit.get("data"):
        raise SettingsError("--data is required: a crop cache made by nas-data cache, or a WCPA root")
    if run.exists():
        raise SettingsError(f"{run.root} holds a run already: continue it with --resume, or choose another --name")
    preset = args.preset or "default"
    return FidelitySettings(**{**load_preset(preset), **explicit, "preset": preset}), False


def run(args: argparse.Namespace) -> int | None:
    """Check everything, join Ray, run the study, print the fidelity table."""
    from nas.deadline import Deadline, Paused
    from nas.cluster import probe
    from nas.runs import RunDir
    from nas.tasks import get_task

    settings, resuming = resolve(args)
    deadline = Deadline.after(settings.time_limit)  # counted from the start, data preparation included
    task = get_task(settings.task)
    task.check_data(settings.data)
    if settings.address and settings.address != "auto":
        probe(settings.address)
    run_dir = RunDir(settings.run_dir)
    if resuming:  # a damaged table is named before Ray starts and before the summary is touched
        from nas.runs import read_table
        for name in ("jobs.csv", "models.csv"):
            read_table(run_dir.root / name)
    from nas.driver import discard_if_empty, driving, paused_exit
    try:
        with driving(run_dir, "nas-fidelity", f"nas-fidelity --name {settings.name} --out {settings.out} --resume"):
            study(settings, resuming, run_dir, task, deadline)
    except Paused as exc:
        return paused_exit("nas-fidelity", exc)
    finally:
        discard_if_empty(run_dir)


def study(settings: Any, resuming: bool, run_dir: Any, task: Any, deadline: Any = None) -> None:
    """Join Ray, run what is missing of the study, print the fidelity table."""
    import ray
    from nas.cluster import cluster_size
    from nas.driver import begin_given_data
    from nas.fidelity import run_study
    from nas.runs import read_table
    data = begin_given_data("nas-fidelity", settings, run_dir, task, resuming, settings.final_res,
                            deadline)
    run_study(settings, run_dir, data, cluster_size(), deadline=deadline)
    print_fidelity(read_table(run_dir.root / "fidelity.csv"))
    print(f"nas-fidelity: render it with: nas-report {run_dir.root}")
    ray.shutdown()


def print_fidelity(rows: list[dict[str, str]]) -> None:
    """The fidelity table, best first."""
    from rich.console import Console
    from rich.table import Table

    def cell(r: dict[str, str], k: str) -> str:
        return "-" if r.get(k) in (None, "", "nan") else f"{float(r[k]):+.2f}"
    table = Table(title="proxy fidelity: Kendall tau against the mean full score (95% interval)")
    for col in ("proxy", "Kendall tau", "interval", "Spearman rho", "repeat tau", "GPU s / arch"):
        table.add_column(col, justify="left" if col == "proxy" else "right")
    key = lambda r: -float(r["kendall"]) if r.get("kendall") not in (None, "", "nan") else 9.0  # noqa: E731
    for r in sorted(rows, key=key):
        gpu = "-" if not r.get("gpu_s_per_arch") else f"{float(r['gpu_s_per_arch']):.1f}"
        name = f"{r['proxy']} (reference)" if r.get("reference") else r["proxy"]  # size alone: never recommended
        table.add_row(name, cell(r, "kendall"), f"[{cell(r, 'kendall_lo')}, {cell(r, 'kendall_hi')}]",
                      cell(r, "spearman"), cell(r, "repeat_kendall"), gpu)
    Console(width=None if sys.stdout.isatty() else 140).print(table)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; bad input is one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    return run_main("nas-fidelity", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
