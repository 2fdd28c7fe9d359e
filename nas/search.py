"""Stage 1: Optuna proposes architectures inside the FLOP window, Ray Tune runs their proxy trainings."""
from __future__ import annotations

import time
from pathlib import Path

from ray import tune
from ray.tune.schedulers import ASHAScheduler

from nas.cluster import Slots
from nas.proxies import get_proxy
from nas.runs import RunDir, trial_columns, update_summary, write_table
from nas.schema import Schema, run_schema
from nas.searcher import StudyRecorder, StudySearch
from nas.settings import SearchSettings
from nas.study import finished_trials, load_study, make_sampler, open_storage, reconcile, trial_rows
from nas.trial import TrialPlan, run_training


def proxy_plan(s: SearchSettings, data: Path, threads: int | None) -> TrialPlan:
    """The short training that ranks architectures."""
    return TrialPlan(task=s.task, space=s.space, data=str(data), epochs=s.proxy_epochs, res=s.proxy_res,
                     train_fraction=s.proxy_fraction, batch=s.batch, val_max=s.val_max, seed=s.seed,
                     proxy=s.proxy_score,
                     eval_every_epoch=s.scheduler == "asha" or get_proxy(s.proxy_score).needs_validation,
                     threads=threads,
                     # measured on an H100 with two proxies per GPU: stage 1 took 217 s with cuDNN
                     # autotuning and 98 s without (30 trials); autotuning pays off only in long runs
                     cudnn_benchmark=False)


def session_name(run: RunDir, stage: str) -> str:
    """A fresh Ray Tune experiment name per stage and driver session (`stage1-0`, `stage1-1`, ...)."""
    n = 0
    while (run.ray / f"{stage}-{n}").exists():
        n += 1
    return f"{stage}-{n}"


def run_stage1(s: SearchSettings, run: RunDir, data: Path, slots: Slots, log=print) -> int:
    """Run the trials still missing from the study; returns how many ran in this session."""
    schema: Schema = run_schema(s.task, s.space)
    export = lambda study: write_table(run.trials, trial_rows(study, schema), trial_columns(schema))  # noqa: E731
    param = s.search_space().parameterisation(s.window)
    mode = get_proxy(s.proxy_score).mode
    sampler = make_sampler(s.sampler, param, s.seed, s.trials)
    study = load_study(s.storage_url, s.name, sampler, mode)
    interrupted = reconcile(study)
    if interrupted:
        log(f"{interrupted} trial(s) were running when the last driver stopped: recorded as interrupted, run again")
    done = len(finished_trials(study))
    export(study)
    remaining = s.trials - done
    if remaining <= 0:
        log(f"stage 1: all {s.trials} trials are done")
        return 0
    log(f"stage 1: {remaining} of {s.trials} proxy trials to run ({s.sampler} sampler, {s.space} space, window "
        f"{s.window}), {slots.concurrent} at a time, {slots.gpus:g} GPU and {slots.cpus} CPU each")
    update_summary(run.summary, stage1="running")

    searcher = StudySearch(param, sampler, open_storage(s.storage_url), s.name, s.proxy_epochs, s.seed, schema, mode)
    recorder = StudyRecorder(searcher, export)
    scheduler = ASHAScheduler(metric="proxy", mode=mode, time_attr="epoch", max_t=s.proxy_epochs,
                              grace_period=1, reduction_factor=2) if s.scheduler == "asha" else None
    threads = slots.cpus if slots.gpus == 0 else None
    trainable = tune.with_resources(tune.with_parameters(run_training, plans={"proxy": proxy_plan(s, data, threads)}),
                                    slots.resources())
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=remaining,
                                    max_concurrent_trials=slots.concurrent, reuse_actors=True),
        run_config=tune.RunConfig(name=session_name(run, "stage1"), storage_path=str(run.ray), callbacks=[recorder],
                                  failure_config=tune.FailureConfig(max_failures=0), verbose=1))
    start = time.time()
    tuner.fit()
    export(searcher.study)
    rows = trial_rows(searcher.study, schema)
    update_summary(run.summary, stage1="done" if len(rows) >= s.trials else "partial",
                   stage1_wall_s=round(time.time() - start, 1))
    return remaining
