"""`nas-search`: budgeted backbone search (stage 1) and the final comparison with the baselines (stage 2)."""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from search_spaces import SearchSpaceError
from nas.settings import PROXY_SCORES, SAMPLERS, SCHEDULERS, SettingsError, default_notes


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `nas-search`; every default comes from the preset, so all are None here."""
    p = argparse.ArgumentParser(
        prog="nas-search",
        description="Search ResNet-d backbones inside a FLOP budget for JMLR face reconstruction: Optuna proposes, "
                    "Ray Tune runs proxy trainings on every GPU, the best are fully trained beside the baselines. "
                    "Defaults come from the preset (nas/presets/*.yaml): 'default' with a GPU, 'smoke' without.")
    a = p.add_argument
    a("--budget", help="FLOP budget at 256x256, e.g. 5G; the window is [(1 - tol) * budget, budget]")
    a("--data", help="crop cache or WCPA root (default: the embedded synthetic set, made once)")
    a("--trials", type=int, help="stage-1 proxy trainings")
    a("--sampler", choices=SAMPLERS, help="regnet: uniform in the window; tpe / nsga2: Optuna's samplers")
    a("--tol", type=float, help="window tolerance")
    a("--proxy-epochs", type=int, help="epochs of a proxy training")
    a("--proxy-fraction", type=float, help="fraction of the training frames a proxy sees")
    a("--proxy-res", type=int, help="input size of proxy trainings")
    a("--proxy-score", choices=PROXY_SCORES, help="final: last validation score; tse: sum of training losses")
    a("--scheduler", choices=SCHEDULERS, help="asha stops weak proxies early")
    a("--gpus-per-trial", type=float, help="GPUs per trial; fractions pack small proxies")
    a("--cpus-per-trial", type=int, help="CPUs per trial (default: shared out evenly)")
    a("--top-k", type=int, help="searched architectures trained fully in stage 2")
    a("--final-epochs", type=int, help="epochs of stage-2 trainings")
    a("--final-res", type=int, help="input size of stage-2 trainings")
    a("--baselines", type=lambda t: [x.strip() for x in t.split(",") if x.strip()],
      help="comma-separated baselines trained in stage 2 ")
    a("--batch", type=int, help="batch size")
    a("--val-max", type=int, help="validation frames scored after each proxy epoch")
    a("--address", help="Ray cluster to join ('auto' or host:port; also RAY_ADDRESS); default: start Ray locally")
    a("--storage", help="Optuna storage URL (default: sqlite:///runs/NAME/study.db)")
    a("--name", help="run name: the folder OUT/NAME")
    a("--out", help="output folder")
    a("--resume", action="store_true", default=None, help="continue the run NAME where it stopped")
    a("--seed", type=int, help="random seed")
    a("--preset", help="smoke | default | a YAML file (default: smoke without GPUs, else default)")
    notes = default_notes()
    for action in p._actions:
        if action.dest in notes and action.dest not in ("preset", "resume") and "default:" not in (action.help or ""):
            action.help = f"{action.help} ({notes[action.dest]})"
    return p


@contextmanager
def _progress() -> Iterator[Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn()) as bars:
        def start(label: str, total: int):
            task = bars.add_task(label, total=total)
            return lambda n=1: bars.advance(task, n)
        yield start


def _resolve(args: argparse.Namespace) -> Any:
    """Settings from the preset and the explicit arguments, or from the run being resumed."""
    from nas.runs import RunDir
    from nas.settings import load_settings, make_settings, resume_settings
    explicit = {k: v for k, v in vars(args).items() if v is not None and k != "resume"}
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


def run(args: argparse.Namespace) -> None:
    """Resolve settings, join Ray, prepare data, run both stages, print the comparison."""
    import ray
    from nas.cluster import connect, gpu_count, plan_slots, probe
    from nas.data import check_data, prepare_data
    from nas.final import run_stage2
    from nas.runs import RunDir, write_yaml
    from nas.search import run_stage1
    from nas.settings import make_settings
    from nas.study import StorageError, open_storage

    settings, resuming = _resolve(args)
    # everything that can be checked is checked before Ray starts and before anything is written
    check_data(settings.data)
    if settings.address and settings.address != "auto":
        probe(settings.address)
    run_dir = RunDir(settings.run_dir)
    created = not run_dir.root.exists()
    run_dir.root.mkdir(parents=True, exist_ok=True)  # SQLite creates study.db only inside an existing folder
    try:
        open_storage(settings.storage_url)
    except StorageError:
        if created:
            run_dir.root.rmdir()
        raise
    connect(settings.address)
    if not resuming and not args.preset and gpu_count() == 0:
        explicit = {k: v for k, v in vars(args).items() if v is not None and k != "resume"}
        settings = make_settings(explicit, "smoke", "no GPU in the Ray cluster")
        print("nas-search: no GPU found: using the smoke preset (toy sizes, CPU); "
              "pass --preset default to override", file=sys.stderr)
    if not resuming:
        write_yaml(run_dir.config, settings.to_dict())
    print(f"nas-search: run folder {run_dir.root}")
    with _progress() as progress:
        data = prepare_data(settings.data, Path(settings.out).resolve(), settings.data_res, settings.seed,
                            settings.synth_subjects, settings.synth_frames_per_subject, progress)
    print(f"nas-search: data {data}")
    slots = plan_slots(settings.gpus_per_trial, settings.cpus_per_trial)
    run_stage1(settings, run_dir, data, slots)
    rows = run_stage2(settings, run_dir, data, slots)
    print_comparison(rows)
    print(f"nas-search: render the report with: nas-report {run_dir.root}")
    ray.shutdown()


def print_comparison(rows: list[dict[str, Any]], ref: str = "resnet34d",
                     title: str = "stage 2: held-out WCPA score (mm, lower is better)") -> None:
    """The stage-2 table, best first, with each score's difference to the row labelled `ref`."""
    from rich.console import Console
    from rich.table import Table

    def num(v: Any) -> float | None:
        return None if v in (None, "") else float(v)

    ref_score = next((num(r.get("score")) for r in rows if r["label"] == ref), None)
    table = Table(title=title)
    for col in ("model", "GFLOPs", "params (M)", "proxy", "score", "v1_v2", "v1_v3", "v1_v4_x10", f"vs {ref}"):
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for r in sorted(rows, key=lambda r: (num(r.get("score")) is None, num(r.get("score")) or 0)):
        score = num(r.get("score"))
        cells = [num(r.get(k)) for k in ("gflops", "params_m", "proxy_score", "score", "v1_v2", "v1_v3", "v1_v4_x10")]
        text = [f"{c:.3f}" if c is not None else "-" for c in cells]
        delta = f"{score - ref_score:+.3f}" if score is not None and ref_score is not None else "-"
        table.add_row(r["label"], *text, delta)
    Console(width=None if sys.stdout.isatty() else 160).print(table)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; bad input is one line on stderr and exit code 2."""
    from nas.cluster import ClusterError
    from nas.study import StorageError
    from trainers.errors import TrainerError
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (SettingsError, SearchSpaceError, ClusterError, StorageError, TrainerError) as exc:
        print(f"nas-search: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
