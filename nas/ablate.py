"""The paper's Table 1 grid (flip, edge loss, ResNet depth, the searched net, the ensemble) through stage 2's
machinery: one Ray Tune trial per experiment and seed, then one per seed for the ensemble, whose two
members' predictions are averaged before PnP. Results go to final.csv (ABLATION_COLUMNS) as they finish.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from ray import tune

from search_spaces import PAPER_SEARCHED, SearchSpaceError, analytic_flops, analytic_params, resolve_arch
from nas.cluster import Slots
from nas.final import FinalRecorder, fit_grid, full_plan
from nas.runs import (ABLATE_COMMAND, ABLATION_COLUMNS, ABLATION_EXPERIMENTS, RunDir, read_table,
                      update_summary, write_table)
from nas.settings import SettingsError
from nas.trial import TrialPlan, location, one_line, prepared, run_training
from trainers.losses import LossWeights

NO_EDGE = (1.0, 0.0, 2.0)  # L_vert + L_land: the paper's row without the edge-length term


@dataclass
class AblateSettings:
    """Everything `nas-ablate` needs to run (and re-run) the grid; written to config.yaml."""

    data: str
    epochs: int = 40
    seeds: int = 1
    seed: int = 0
    res: int = 256
    batch: int = 256
    searched: str = PAPER_SEARCHED
    searched_from: str | None = None  # the search run whose best architecture `searched` is
    name: str = "ablate"
    out: str = "runs"
    address: str | None = None
    gpus_per_trial: float = 1.0
    cpus_per_trial: int | None = None
    command: str = ABLATE_COMMAND

    def __post_init__(self) -> None:
        for key in ("epochs", "seeds", "res", "batch"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise SettingsError(f"--{key} must be a positive whole number, got {value!r}")
        try:
            self.searched = str(resolve_arch(self.searched))
        except SearchSpaceError as exc:
            raise SettingsError(f"--searched: {exc}") from None
        if not self.gpus_per_trial >= 0:
            raise SettingsError(f"--gpus-per-trial must not be negative, got {self.gpus_per_trial}")
        if not self.name or os.sep in self.name or self.name.startswith("."):
            raise SettingsError(f"--name must be a plain folder name, got {self.name!r}")
        if self.command != ABLATE_COMMAND:
            raise SettingsError(f"not a config of {ABLATE_COMMAND} (command: {self.command!r})")

    @property
    def run_dir(self) -> Path:
        """OUT/NAME, absolute (Ray needs absolute storage paths)."""
        return (Path(self.out) / self.name).resolve()

    def to_dict(self) -> dict[str, Any]:
        """Plain form for config.yaml."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], path: Path) -> "AblateSettings":
        """Settings stored in a run's config.yaml."""
        if values.get("command") != ABLATE_COMMAND:
            raise SettingsError(f"{path}: not a config.yaml of {ABLATE_COMMAND} (no 'command: {ABLATE_COMMAND}')")
        try:
            return cls(**values)
        except TypeError as exc:
            raise SettingsError(f"{path}: not a config.yaml of {ABLATE_COMMAND} ({exc})") from None
        except SettingsError as exc:
            raise SettingsError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class Experiment:
    """One row of Table 1: a network trained with or without flip, with some loss weights, or an ensemble."""

    key: str
    arch: str
    flip: bool = True
    loss_weights: tuple[float, float, float] | None = None  # None: the trainer's default (the paper's L)
    members: tuple[str, ...] = ()  # an ensemble of these experiments (trained nothing itself)


def experiments(searched: str) -> list[Experiment]:
    """Table 1's experiments, in the paper's order."""
    grid = [Experiment("resnet34d", "resnet34d"), Experiment("resnet34d-noflip", "resnet34d", flip=False),
            Experiment("resnet18d", "resnet18d"), Experiment("resnet50d", "resnet50d"),
            Experiment("searched", searched), Experiment("resnet34d-noedge", "resnet34d", loss_weights=NO_EDGE),
            Experiment("ensemble", f"resnet34d+{searched}", members=("resnet34d", "searched"))]
    assert tuple(e.key for e in grid) == ABLATION_EXPERIMENTS
    return grid


def label(key: str, seed: int) -> str:
    """The row (and final/ folder) name of one experiment and seed."""
    return f"{key}-s{seed}"


def model_rows(s: AblateSettings) -> list[dict[str, Any]]:
    """final.csv's rows before anything ran: one per experiment and seed, with FLOPs and parameters."""
    rows = []
    for e in experiments(s.searched):
        parts = [resolve_arch(a) for a in e.arch.split("+")]
        for seed in range(s.seed, s.seed + s.seeds):
            rows.append({"experiment": e.key, "seed": seed, "flip": e.flip,
                         "loss_weights": str(LossWeights.parse(e.loss_weights) if e.loss_weights else LossWeights()),
                         "label": label(e.key, seed), "arch": "+".join(map(str, parts)),
                         "kind": "ensemble" if e.members else "searched" if e.key == "searched" else "baseline",
                         "gflops": sum(analytic_flops(a) for a in parts) / 1e9,
                         "params_m": sum(analytic_params(a) for a in parts) / 1e6})
    return rows


def best_searched(run_dir: Path) -> str:
    """The best architecture of a search run: by full score in final.csv, else by proxy score in trials.csv."""
    run = RunDir(Path(run_dir).resolve())
    if not run.exists():
        raise SettingsError(f"--from-run {run_dir}: not a run folder of nas-search (no config.yaml)")

    def best(rows: list[dict[str, str]], key: str) -> str | None:
        scored = [(float(r[key]), r["arch"]) for r in rows if r.get(key) not in (None, "")
                  and math.isfinite(float(r[key]))]
        return min(scored)[1] if scored else None

    final = [r for r in read_table(run.final) if r.get("kind") == "searched" and r.get("status") == "done"]
    trials = [r for r in read_table(run.trials) if r.get("status") == "complete"]
    arch = best(final, "score") or best(trials, "proxy_score")
    if arch is None:
        raise SettingsError(f"--from-run {run_dir}: no finished searched architecture in final.csv or trials.csv")
    return arch


def run_ensemble(config: dict[str, Any], plans: dict[str, TrialPlan]) -> None:
    """Score the ensemble of `config['checkpoints']` on the held-out subjects (predictions averaged before PnP)."""
    from trainers.evaluate import evaluate
    job = config.get("job", config)
    plan = plans[job["plan"]]
    where = location()
    if plan.threads:
        torch.set_num_threads(plan.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    start = time.perf_counter()
    try:
        result = evaluate(job["checkpoints"], prepared(plan.data, device), "val")  # pose and score as in training
    except Exception as exc:
        tune.report({"failed": 1, "failure": one_line(exc), **where})
        return
    tune.report({**result.metrics(), "wall_s": time.perf_counter() - start, "checkpoint": "", **where})


def run_ablation(s: AblateSettings, run: RunDir, data: Path, slots: Slots, log=print) -> list[dict[str, Any]]:
    """Train what is missing of the grid, then score the ensembles; returns the final.csv rows."""
    by_key = {e.key: e for e in experiments(s.searched)}
    recorder = FinalRecorder(run, model_rows(s), ABLATION_COLUMNS)
    write_table(run.final, recorder.rows(), ABLATION_COLUMNS)
    update_summary(run.summary, ablation="running")
    threads = slots.cpus if slots.gpus == 0 else None

    def pending(kind_ensemble: bool) -> list[dict[str, Any]]:
        return [r for r in recorder.rows() if r.get("status") != "done"
                and bool(by_key[r["experiment"]].members) == kind_ensemble]

    def plan(row: dict[str, Any]) -> TrialPlan:
        e = by_key[row["experiment"]]
        base = full_plan(data, run, epochs=s.epochs, res=s.res, batch=s.batch, seed=int(row["seed"]), threads=threads)
        return dataclasses.replace(base, flip=e.flip, loss_weights=e.loss_weights)

    trainings = pending(False)
    if trainings:
        log(f"ablation: {len(trainings)} trainings ({s.epochs} epochs, {s.res}x{s.res}), "
            f"{slots.concurrent} at a time")
        start = time.time()
        fit_grid(run_training, {r["label"]: plan(r) for r in trainings},
                 [{"label": r["label"], "arch": r["arch"], "plan": r["label"]} for r in trainings],
                 slots, run, "ablate", recorder)
        log(f"ablation trainings took {time.time() - start:.0f} s")
    rows = {r["label"]: r for r in recorder.rows()}
    ensembles = []
    for r in pending(True):
        members = [rows[label(m, int(r["seed"]))] for m in by_key[r["experiment"]].members]
        if all(m.get("status") == "done" and m.get("checkpoint") for m in members):
            ensembles.append((r, [m["checkpoint"] for m in members]))
    if ensembles:
        log(f"ablation: {len(ensembles)} ensemble evaluation(s)")
        fit_grid(run_ensemble, {r["label"]: plan(r) for r, _ in ensembles},
                 [{"label": r["label"], "plan": r["label"], "checkpoints": c} for r, c in ensembles],
                 slots, run, "ensemble", recorder)
    final = recorder.rows()
    update_summary(run.summary, ablation="done" if all(r.get("status") == "done" for r in final) else "partial")
    return final
