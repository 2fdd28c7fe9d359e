"""Stage 1: Optuna proposes architectures inside the FLOP window, Ray Tune runs their proxy trainings, packed
on each GPU as measured (`nas.packing`); trials that ran out of memory on a shared GPU run again on a whole one."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ray import tune
from ray.tune.schedulers import ASHAScheduler

from nas.cluster import Slots, slots_for
from nas.deadline import Deadline, Paused, probe_guess
from nas.packing import Packing, decide
from nas.progress import StageProgress
from nas.proxies import get_proxy
from nas.runs import RunDir, trial_columns, update_summary, write_table
from nas.schema import Schema, run_schema
from nas.searcher import StudyRecorder, StudySearch
from nas.settings import SearchSettings
from nas.study import enqueue_reruns, finished_trials, load_study, make_sampler, open_storage, reconcile, trial_rows
from nas.trial import TrialPlan, run_training
from search_spaces import sample_archs


def proxy_plan(s: SearchSettings, data: Path, threads: int | None) -> TrialPlan:
    """The short training that ranks architectures (a proxy with a schedule of its own brings its epochs, res)."""
    schedule = get_proxy(s.proxy_score).schedule or {}
    return TrialPlan(task=s.task, space=s.space, data=str(data), epochs=schedule.get("epochs", s.proxy_epochs),
                     res=schedule.get("res", s.proxy_res),
                     train_fraction=s.proxy_fraction, batch=s.batch, val_max=s.val_max, seed=s.seed,
                     proxy=s.proxy_score,
                     eval_every_epoch=s.scheduler == "asha" or get_proxy(s.proxy_score).needs_validation,
                     threads=threads, pnp=s.pnp,
                     # measured on an H100 with two proxies per GPU: stage 1 took 217 s with cuDNN
                     # autotuning and 98 s without (30 trials); autotuning pays off only in long runs
                     cudnn_benchmark=False)


def session_name(run: RunDir, stage: str) -> str:
    """A fresh Ray Tune experiment name per stage and driver session (`stage1-0`, `stage1-1`, ...)."""
    n = 0
    while (run.ray / f"{stage}-{n}").exists():
        n += 1
    return f"{stage}-{n}"


def packing(s: SearchSettings, run: RunDir, data: Path, cluster: tuple[int, float], log: Callable = print
            ) -> Packing | None:
    """Proxy trainings per GPU: measured once (kept in summary.json), or None where the user chose
    `--gpus-per-trial` or the cluster has no GPU."""
    if s.gpus_per_trial is not None or cluster[1] < 1:
        return None
    plan = proxy_plan(s, data, None)
    arch = str(sample_archs(s.search_space(), s.window, 1, seed=s.seed)[0].arch)  # a typical one of the window
    epochs = 1 if s.scheduler == "asha" else s.proxy_epochs  # ASHA stops most trials after their first epoch
    return decide("packing_stage1", run.summary, s.task, plan, arch, epochs, epochs if plan.eval_every_epoch else 1,
                  cluster, log)


def stage1_slots(s: SearchSettings, decided: Packing | None, cluster: tuple[int, float]) -> Slots:
    """One trial's resources and how many run at once."""
    cpus, gpus = cluster
    share = decided.gpus_per_trial if decided is not None else (s.gpus_per_trial if s.gpus_per_trial is not None
                                                                 else 1.0)
    return slots_for(cpus, gpus, share, s.cpus_per_trial)


def run_stage1(s: SearchSettings, run: RunDir, data: Path, cluster: tuple[int, float], log=print,
               deadline: Deadline | None = None) -> int:
    """Run the trials still missing from the study (those that can end before `deadline`); returns how many ran in
    this session."""
    schema: Schema = run_schema(s.task, s.space)
    export = lambda study: write_table(run.trials, trial_rows(study, schema), trial_columns(schema))  # noqa: E731
    param = s.search_space().parameterisation(s.window)
    mode = get_proxy(s.proxy_score).mode
    sampler = make_sampler(s.sampler, param, s.seed, s.trials)
    study = load_study(s.storage_url, s.name, sampler, mode)
    interrupted = reconcile(study)
    if interrupted:
        log(f"{interrupted} trial(s) were running when the last driver stopped: recorded as interrupted, run again")
    export(study)
    remaining = s.trials - len(finished_trials(study))
    if remaining <= 0:
        log(f"stage 1: all {s.trials} trials are done")
        return 0
    decided = packing(s, run, data, cluster, log)
    if decided is not None:
        log(f"packing: {decided.reason}")
    slots = stage1_slots(s, decided, cluster)
    deadline = deadline or Deadline()
    if decided is not None:
        guess = probe_guess(decided.measure, s.proxy_epochs, s.proxy_epochs, decided.per_gpu)
        if guess is not None:
            deadline.guess("stage1", guess)
    log(f"stage 1: {remaining} of {s.trials} proxy trials to run ({s.sampler} sampler, {s.space} space, window "
        f"{s.window}), {slots.concurrent} at a time, {slots.gpus:.3g} GPU and {slots.cpus} CPU each")
    update_summary(run.summary, stage1="running")
    start = time.time()
    ran = 0
    for _ in range(3):  # the packed round, then out-of-memory reruns on whole GPUs (and a spare round)
        queued = enqueue_reruns(load_study(s.storage_url, s.name, sampler, mode))
        if queued:
            log(f"stage 1: {queued} trial(s) ran out of memory on a shared GPU: running them on a whole GPU")
            slots = slots_for(cluster[0], cluster[1], 1.0, s.cpus_per_trial)
        todo = s.trials - len(finished_trials(load_study(s.storage_url, s.name, sampler, mode)))
        if todo <= 0:
            break
        done, held = _round(s, run, data, slots, schema, sampler, mode, todo, export, deadline)
        ran += done
        if held:
            update_summary(run.summary, stage1="paused", stage1_wall_s=round(time.time() - start, 1))
            left = s.trials - len(finished_trials(load_study(s.storage_url, s.name, sampler, mode)))
            raise Paused(f"stage 1: {left} of {s.trials} trials left at the time limit")
    rows = trial_rows(load_study(s.storage_url, s.name, sampler, mode), schema)
    update_summary(run.summary, stage1="done" if len(rows) >= s.trials else "partial",
                   stage1_wall_s=round(time.time() - start, 1))
    return ran


def _round(s: SearchSettings, run: RunDir, data: Path, slots: Slots, schema: Schema, sampler, mode: str, n: int,
           export: Callable, deadline: Deadline) -> tuple[int, bool]:
    """One Ray Tune run of (up to) `n` proxy trials on `slots`; whether the deadline stopped it early."""
    param = s.search_space().parameterisation(s.window)
    threads = slots.cpus if slots.gpus == 0 else None
    plan = proxy_plan(s, data, threads)
    searcher = StudySearch(param, sampler, open_storage(s.storage_url), s.name, plan.epochs, s.seed, schema, mode,
                           share=slots.gpus if slots.gpus > 0 else 1.0, deadline=deadline)
    recorder = StudyRecorder(searcher, export)
    progress = StageProgress("stage 1", n, mode, max_epochs=plan.epochs)
    scheduler = ASHAScheduler(metric="proxy", mode=mode, time_attr="epoch", max_t=plan.epochs,
                              grace_period=1, reduction_factor=2) if s.scheduler == "asha" else None
    trainable = tune.with_resources(tune.with_parameters(run_training, plans={"proxy": plan}), slots.resources())
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=n,
                                    max_concurrent_trials=slots.concurrent, reuse_actors=True),
        run_config=tune.RunConfig(name=session_name(run, "stage1"), storage_path=str(run.ray),
                                  callbacks=[recorder, progress], failure_config=tune.FailureConfig(max_failures=0),
                                  verbose=1 if s.verbose else 0))
    tuner.fit()
    export(searcher.study)
    return n, searcher.held
