"""A task's ablation grid (for faces: the JMLR paper's Table 1 — flip, edge loss, ResNet depth, the searched net,
the ensemble) through stage 2's machinery: one Ray Tune trial per experiment and seed, then one per seed for
each ensemble, whose members' predictions are averaged. Results go to final.csv as they finish.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ray import tune

from kit.config import ConfigError, option, overrides
from kit.config import seed as seed_type
from kit.errors import one_line
from kit.task import Experiment
from nas.cluster import Slots, slots_for
from nas.packing import decide
from nas.deadline import Deadline, Paused
from nas.final import FinalRecorder, expect_durations, fit_grid, full_plan, is_done
from nas.runs import ABLATE_COMMAND, RunDir, final_columns, read_table, update_summary, write_table
from nas.schema import Status, run_schema
from nas.settings import MPS_HELP, MPS_MODES, TIME_LIMIT_HELP, minutes, RunSettings, SettingsError, check_name
from nas.tasks import get_task
from nas.trial import TrialPlan, device_name, location, prepared, run_training
from search_spaces import DEFAULT_SPACE, SearchSpaceError
from search_spaces.resnet_d import PAPER_SEARCHED


@dataclass
class AblateSettings(RunSettings):
    """Everything `nas-ablate` needs to run (and re-run) the grid; written to config.yaml."""

    data: str = option(help="crop cache (nas-data cache) or WCPA root (required unless --resume)")
    epochs: int = option(40, help="epochs of each training")
    seeds: int = option(1, help="seeds per experiment; several give mean +- sd")
    seed: int = option(0, help="first seed (>= 0)", parse=seed_type)
    res: int = option(256, help="input size")
    batch: int = option(256, help="batch size")
    searched: str = option(PAPER_SEARCHED, help="the searched architecture (default: the JMLR paper's)", cli=False)
    searched_from: str | None = option(None, help="the search run whose best architecture `searched` is", cli=False)
    space: str = option(DEFAULT_SPACE, help="the search space of the searched architecture", cli=False)
    task: str = option("faces", help="the task whose ablation grid is trained", cli=False)
    name: str = option("ablate", help="run name: the folder OUT/NAME")
    out: str = option("runs", help="output folder")
    address: str | None = option(None, help="Ray cluster to join ('auto' or host:port; also RAY_ADDRESS); "
                                            "default: start Ray locally")
    mps: str = option("auto", help=MPS_HELP, choices=MPS_MODES)
    gpus_per_trial: float | None = option(None, help="GPUs per training (default: measured, see nas-search)",
                                          parse=lambda t: None if t == "auto" else float(t), metavar="auto|GPUS")
    cpus_per_trial: int | None = option(None, help="CPUs per training (default: shared out evenly)")
    verbose: bool = option(False, help="Ray Tune's own per-trial output (default: one line of progress)")
    time_limit: float | None = option(None, help=TIME_LIMIT_HELP, parse=minutes, metavar="MINUTES")
    command: str = option(ABLATE_COMMAND, help="which command wrote this config", cli=False)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or self.seed < 0:
            raise SettingsError(f"--seed must be a whole number >= 0, got {self.seed!r}")
        if self.cpus_per_trial is not None and (not isinstance(self.cpus_per_trial, int) or self.cpus_per_trial < 1):
            raise SettingsError(f"--cpus-per-trial must be a positive whole number, got {self.cpus_per_trial!r}")
        for key in ("epochs", "seeds", "res", "batch"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise SettingsError(f"--{key} must be a positive whole number, got {value!r}")
        try:
            space = self.search_space()
            parsed = space.parse(self.searched)
            space.check_buildable(parsed, str(self.searched))
            self.searched = str(parsed)
        except SearchSpaceError as exc:
            raise SettingsError(f"--searched: {exc}") from None
        if self.gpus_per_trial is not None and not self.gpus_per_trial >= 0:
            raise SettingsError(f"--gpus-per-trial must not be negative, got {self.gpus_per_trial}")
        check_name(self.name)
        if self.command != ABLATE_COMMAND:
            raise SettingsError(f"not a config of {ABLATE_COMMAND} (command: {self.command!r})")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], path: Path) -> "AblateSettings":
        """Settings stored in a run's config.yaml."""
        if values.get("command") != ABLATE_COMMAND:
            raise SettingsError(f"{path}: not a config.yaml of {ABLATE_COMMAND} (no 'command: {ABLATE_COMMAND}')")
        try:
            return cls(**overrides(values, cls, str(path)))
        except ConfigError as exc:
            raise SettingsError(f"not a config.yaml of {ABLATE_COMMAND}: {exc}") from None
        except SettingsError as exc:
            raise SettingsError(f"{path}: {exc}") from None


def label(key: str, seed: int) -> str:
    """The row (and final/ folder) name of one experiment and seed."""
    return f"{key}-s{seed}"


def model_rows(s: AblateSettings, grid: list[Experiment]) -> list[dict[str, Any]]:
    """final.csv's rows before anything ran: one per experiment and seed, with FLOPs and parameters."""
    space = s.search_space()
    rows = []
    for e in grid:
        parts = [space.parse(a) for a in e.arch.split("+")]
        sizes = [space.complexity(a) for a in parts]
        for seed in range(s.seed, s.seed + s.seeds):
            rows.append({"experiment": e.key, "seed": seed, **e.columns, "label": label(e.key, seed),
                         "arch": "+".join(map(str, parts)),
                         "kind": "ensemble" if e.members else "searched" if e.key == "searched" else "baseline",
                         "gflops": sum(c.flops for c in sizes) / 1e9, "params_m": sum(c.params for c in sizes) / 1e6})
    return rows


def best_searched(run_dir: Path) -> str:
    """The best architecture of a search run: by full score in final.csv, else by proxy score in trials.csv."""
    run = RunDir(Path(run_dir).resolve())
    if not run.exists():
        raise SettingsError(f"--from-run {run_dir}: not a run folder of nas-search (no config.yaml)")
    from nas.runs import read_config
    command = read_config(run.config).get("command")
    if command not in (None, "nas-search"):  # runs of nas-search before the key was written have none
        raise SettingsError(f"--from-run {run_dir}: a run of {command}, not of nas-search")

    def best(rows: list[dict[str, str]], key: str) -> str | None:
        scored = []
        for r in rows:
            try:
                value = float(r.get(key) or "nan")
            except ValueError:
                raise SettingsError(f"--from-run {run_dir}: {key} {r.get(key)!r} of {r.get('arch')} is not a "
                                    "number") from None
            if math.isfinite(value):
                scored.append((value, r["arch"]))
        return min(scored)[1] if scored else None

    final = [r for r in read_table(run.final) if r.get("kind") == "searched" and is_done(r)]
    trials = [r for r in read_table(run.trials) if Status.parse(r.get("status")) == Status.COMPLETE]
    arch = best(final, "score") or best(trials, "proxy_score")
    if arch is None:
        raise SettingsError(f"--from-run {run_dir}: no finished searched architecture in final.csv or trials.csv")
    return arch


def run_ensemble(config: dict[str, Any], plans: dict[str, TrialPlan]) -> None:
    """Score the ensemble of `config['checkpoints']` on the held-out data (predictions averaged by the task)."""
    job = config.get("job", config)
    plan = plans[job["plan"]]
    where = location()
    device = device_name()
    start = time.perf_counter()
    try:
        # the same held-out subjects as its members' trainings were scored on (the plan's split)
        result = get_task(plan.task).evaluate(job["checkpoints"], prepared(plan.task, plan.data, device), plan.split)
    except Exception as exc:
        tune.report({"failed": 1, "failure": one_line(exc), **where})
        return
    tune.report({**result, "wall_s": time.perf_counter() - start, "checkpoint": "", **where})


def ablation_slots(s: AblateSettings, run: RunDir, data: Path, cluster: tuple[int, float], log=print) -> Slots:
    """Trainings per GPU: `--gpus-per-trial` where given, else measured on resnet34d under the full schedule."""
    cpus, gpus = cluster
    if s.gpus_per_trial is not None or gpus < 1:
        return slots_for(cpus, gpus, s.gpus_per_trial if s.gpus_per_trial is not None else 1.0, s.cpus_per_trial)
    plan = full_plan(s.task, s.space, data, run, epochs=s.epochs, res=s.res, batch=s.batch, seed=s.seed, threads=None)
    decided = decide("packing", run.summary, s.task, plan, "resnet34d", s.epochs, 1, cluster, log)
    log(f"packing: {decided.reason}")
    return slots_for(cpus, gpus, decided.gpus_per_trial, s.cpus_per_trial)


def run_ablation(s: AblateSettings, run: RunDir, data: Path, cluster: tuple[int, float], log=print,
                 deadline: Deadline | None = None) -> list[dict[str, Any]]:
    """Train what is missing of the grid (what can end before `deadline`), then score the ensembles; returns the
    final.csv rows."""
    task = get_task(s.task)
    grid = task.ablation(s.searched)
    by_key = {e.key: e for e in grid}
    schema = run_schema(s.task, s.space)
    columns = final_columns(schema, task.ablation_columns)
    recorder = FinalRecorder(run, model_rows(s, grid), schema, columns)
    write_table(run.final, recorder.rows(), columns)
    update_summary(run.summary, ablation="running")
    slots = ablation_slots(s, run, data, cluster, log)
    threads = slots.cpus if slots.gpus == 0 else None

    def pending(kind_ensemble: bool) -> list[dict[str, Any]]:
        return [r for r in recorder.rows() if not is_done(r) and bool(by_key[r["experiment"]].members) == kind_ensemble]

    def plan(row: dict[str, Any]) -> TrialPlan:
        e = by_key[row["experiment"]]
        base = full_plan(s.task, s.space, data, run, epochs=s.epochs, res=s.res, batch=s.batch, seed=int(row["seed"]),
                         threads=threads)
        return dataclasses.replace(base, options=tuple(e.options.items()))

    trainings = pending(False)
    if trainings:
        log(f"ablation: {len(trainings)} trainings ({s.epochs} epochs, {s.res}x{s.res}), "
            f"{slots.concurrent} at a time")
        start, deadline = time.time(), deadline or Deadline()
        expect_durations(deadline, run, "packing", "training", recorder.rows(), s.epochs, slots.per_gpu)
        held = fit_grid(run_training, {r["label"]: plan(r) for r in trainings},
                        [{"label": r["label"], "arch": r["arch"], "plan": r["label"]} for r in trainings],
                        slots, run, "ablate", recorder, s.verbose, deadline=deadline, kind=lambda job: "training")
        log(f"ablation trainings took {time.time() - start:.0f} s")
        if held:
            update_summary(run.summary, ablation="paused")
            raise Paused(f"ablation: {held.of(len(trainings), 'trainings')}")
    rows = {r["label"]: r for r in recorder.rows()}
    ensembles = []
    for r in pending(True):
        members = [rows[label(m, int(r["seed"]))] for m in by_key[r["experiment"]].members]
        if all(is_done(m) and m.get("checkpoint") for m in members):
            ensembles.append((r, [m["checkpoint"] for m in members]))
    if ensembles:
        log(f"ablation: {len(ensembles)} ensemble evaluation(s)")
        fit_grid(run_ensemble, {r["label"]: plan(r) for r, _ in ensembles},
                 [{"label": r["label"], "plan": r["label"], "checkpoints": c} for r, c in ensembles],
                 slots, run, "ensemble", recorder, s.verbose)
    final = recorder.rows()
    update_summary(run.summary, ablation="done" if all(is_done(r) for r in final) else "partial")
    return final
