"""Stage 2: the top-k searched architectures and the baselines, fully trained side by side.

Each model is a Ray Tune trial (so they spread over the GPUs) with a resumable checkpoint under
`final/LABEL/`. Baselines also get the proxy training of stage 1, so that the rank correlation between proxy
and full scores covers every stage-2 model; every history proxy (`nas.proxies`) is recorded for each model.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping

from ray import tune

from nas.cluster import Slots, slots_for
from nas.deadline import Deadline, JobQueue, Paused, probe_guess
from nas.packing import decide
from nas.progress import StageProgress
from nas.proxies import get_proxy, history_proxies
from nas.runs import RunDir, final_columns, rank_correlation, read_summary, read_table, update_summary, write_table
from nas.schema import FINAL, Schema, Status, run_schema
from nas.search import proxy_plan, session_name
from nas.settings import SearchSettings
from nas.study import finished_trials, load_study
from nas.trial import TrialPlan, run_training


def full_plan(task: str, space: str, data: Path, run: RunDir, *, epochs: int, res: int, batch: int, seed: int,
              threads: int | None) -> TrialPlan:
    """A full schedule on every training frame, scored on all held-out subjects, checkpointed under final/."""
    return TrialPlan(task=task, space=space, data=str(data), epochs=epochs, res=res, train_fraction=1.0, batch=batch,
                     val_max=None, seed=seed, eval_every_epoch=False, checkpoints=str(run.root / "final"),
                     threads=threads)


def final_plan(s: SearchSettings, data: Path, run: RunDir, threads: int | None) -> TrialPlan:
    """Stage 2's full schedule."""
    return replace(full_plan(s.task, s.space, data, run, epochs=s.final_epochs, res=s.final_res, batch=s.batch,
                             seed=s.seed, threads=threads), pnp=s.pnp)


def stage2_models(s: SearchSettings) -> list[dict[str, Any]]:
    """Top-k distinct architectures by proxy score (with their proxy scores), then the baselines."""
    proxy = get_proxy(s.proxy_score)
    space = s.search_space()
    trials = [t for t in finished_trials(load_study(s.storage_url, s.name, mode=proxy.mode)) if t.value is not None]
    models: list[dict[str, Any]] = []
    for t in sorted(trials, key=lambda t: t.value if proxy.mode == "min" else -t.value):
        arch = t.user_attrs["arch"]
        if len(models) < s.top_k and arch not in {m["arch"] for m in models}:
            models.append({"label": space.label(space.parse(arch)), "arch": arch, "kind": "searched",
                           "proxy_score": t.value, "gflops": t.user_attrs.get("gflops"),
                           "params_m": t.user_attrs.get("params_m"),
                           **{f"proxy_{p}": t.user_attrs.get(f"proxy_{p}") for p in history_proxies()}})
    for name in s.baselines:
        arch = space.parse(name)
        if name not in {m["label"] for m in models}:
            size = space.complexity(arch)
            models.append({"label": name, "arch": str(arch), "kind": "baseline", "proxy_score": None,
                           "gflops": size.flops / 1e9, "params_m": size.params / 1e6})
    return models


class FinalRecorder(tune.Callback):
    """Writes final.csv after each stage-2 trial: finished work is on disk before the next ends."""

    def __init__(self, run: RunDir, models: list[dict[str, Any]], schema: Schema, columns: list[str]) -> None:
        self._run, self._columns = run, columns
        reported = [f for f in schema.reported() if f in schema.columns(FINAL)]
        self._proxy_keys = [f for f in reported if f.startswith("proxy_")]
        self._final_keys = [f for f in reported if not f.startswith("proxy_")] + ["checkpoint"]
        self._rows = {r["label"]: r for r in read_table(run.final)}
        for m in models:
            self._rows.setdefault(m["label"], {**m, "status": Status.PENDING.value})

    def rows(self) -> list[dict[str, Any]]:
        return list(self._rows.values())

    def _record(self, trial: Any, error: str | None = None) -> None:
        job, result = trial.config.get("job", trial.config), trial.last_result or {}
        row = self._rows[job["label"]]
        failure = error or (result.get("failure") if result.get("failed") else None)
        if job["plan"] == "proxy":
            row["proxy_score"] = None if failure else result.get("proxy")
            row.update({k: None if failure else result.get(k) for k in self._proxy_keys})
        else:
            row.update({k: result.get(k) for k in self._final_keys}, epochs=result.get("epoch"),
                       status=(Status.FAILED if failure else Status.COMPLETE).value, failure=failure)
        write_table(self._run.final, self.rows(), self._columns)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        from nas.searcher import error_reason
        self._record(trial, error_reason(trial))


def is_done(row: dict[str, Any]) -> bool:
    """Whether a final.csv row's training finished (older runs wrote `done`)."""
    return Status.parse(row.get("status")) == Status.COMPLETE


def fit_grid(trainable: Callable[..., None], plans: dict[str, Any], jobs: list[dict[str, Any]], slots: Slots,
             run: RunDir, stage: str, recorder: tune.Callback, verbose: bool = False, metric: str | None = "score",
             deadline: Deadline | None = None, kind: Callable[[Mapping[str, Any]], str] = lambda job: "job") -> int:
    """Run each job as one Ray Tune trial of `trainable` (spread over the GPUs), recorded by `recorder`, with one
    line of progress (or Ray Tune's own output with `verbose`); none starts that would not end before `deadline`.
    Returns how many jobs were left unstarted for the deadline."""
    queue = JobQueue(jobs, deadline or Deadline(), kind)
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, plans=plans), slots.resources()),
        tune_config=tune.TuneConfig(search_alg=queue, num_samples=len(jobs), max_concurrent_trials=slots.concurrent,
                                    reuse_actors=True),
        run_config=tune.RunConfig(name=session_name(run, stage), storage_path=str(run.ray),
                                  callbacks=[recorder, StageProgress(stage, len(jobs), metric=metric)],
                                  failure_config=tune.FailureConfig(max_failures=0), verbose=1 if verbose else 0))
    tuner.fit()
    return queue.held


def stage2_slots(s: SearchSettings, run: RunDir, data: Path, arch: str, cluster: tuple[int, float],
                 log=print) -> Slots:
    """Final trainings per GPU: `--gpus-per-trial` where given, else measured (a probe of `arch` under the full
    schedule: as many share a GPU as its memory holds, nas.packing)."""
    cpus, gpus = cluster
    if s.gpus_per_trial is not None or gpus < 1:
        return slots_for(cpus, gpus, s.gpus_per_trial if s.gpus_per_trial is not None else 1.0, s.cpus_per_trial)
    decided = decide("packing_stage2", run.summary, s.task, final_plan(s, data, run, None), arch, s.final_epochs, 1,
                     cluster, log)
    log(f"packing: stage 2: {decided.reason}")
    return slots_for(cpus, gpus, decided.gpus_per_trial, s.cpus_per_trial)


def expect_durations(deadline: Deadline, run: RunDir, key: str, kind: str, rows: list[dict[str, Any]],
                     epochs: int) -> None:
    """What `deadline` knows of a stage's trainings: the wall times of finished ones in `rows`, else the packing
    probe's measurement stored under `key` in summary.json."""
    deadline.learn_rows([r for r in rows if is_done(r)], lambda r: kind)
    packing = read_summary(run.summary).get(key) or {}
    guess = probe_guess(packing.get("measure") or {}, epochs, 1, int(packing.get("per_gpu", 1)))
    if guess is not None:
        deadline.guess(kind, guess)


def run_stage2(s: SearchSettings, run: RunDir, data: Path, cluster: tuple[int, float], log=print,
               deadline: Deadline | None = None) -> list[dict[str, Any]]:
    """Train what is missing of stage 2 (what can end before `deadline`); returns the final.csv rows."""
    schema = run_schema(s.task, s.space)
    columns = final_columns(schema)
    models = stage2_models(s)
    recorder = FinalRecorder(run, models, schema, columns)
    rows = {r["label"]: r for r in recorder.rows()}
    jobs = [{"label": m["label"], "arch": m["arch"], "plan": "final"} for m in models if not is_done(rows[m["label"]])]
    jobs += [{"label": m["label"], "arch": m["arch"], "plan": "proxy"} for m in models
             if m["kind"] == "baseline" and rows[m["label"]].get("proxy_score") in (None, "")]
    write_table(run.final, recorder.rows(), columns)
    if jobs:
        log(f"stage 2: {sum(j['plan'] == 'final' for j in jobs)} full trainings "
            f"({s.final_epochs} epochs) and {sum(j['plan'] == 'proxy' for j in jobs)} baseline proxies")
        update_summary(run.summary, stage2="running")
        slots = stage2_slots(s, run, data, jobs[0]["arch"], cluster, log)
        threads = slots.cpus if slots.gpus == 0 else None
        plans = {"proxy": replace(proxy_plan(s, data, threads), eval_every_epoch=True),
                 "final": final_plan(s, data, run, threads)}
        start, deadline = time.time(), deadline or Deadline()
        expect_durations(deadline, run, "packing_stage2", "final", recorder.rows(), s.final_epochs)
        held = fit_grid(run_training, plans, jobs, slots, run, "stage2", recorder, s.verbose, schema.metric.name,
                        deadline, lambda job: job["plan"])
        log(f"stage 2 took {time.time() - start:.0f} s")
        if held:
            update_summary(run.summary, stage2="paused")
            raise Paused(f"stage 2: {held} of {len(jobs)} trainings left at the time limit")
    final_rows = recorder.rows()
    done = all(is_done(r) for r in final_rows)
    # every history proxy is recorded for every model, so a run tells which of them ranks better on its data
    full = schema.metric.name
    update_summary(run.summary, stage2="done" if done else "partial",
                   rank_correlation=rank_correlation(final_rows, full=full),
                   rank_correlation_by_proxy={p: rank_correlation(final_rows, f"proxy_{p}", full)
                                              for p in history_proxies()})
    return final_rows
