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
from nas.deadline import Deadline, Held, JobQueue, Paused, probe_guess
from nas.packing import decide
from nas.progress import StageProgress
from nas.picks import checkpoint_dir, final_seeds, per_model, seed_rows, stage2_models
from nas.proxies import get_proxy, history_proxies
from nas.runs import RunDir, final_columns, rank_correlation, read_summary, read_table, update_summary, write_table
from nas.schema import FINAL, Schema, Status, run_schema
from nas.search import proxy_plan, session_name
from nas.settings import SearchSettings
from nas.trial import SPEED_KEYS, TrialPlan, run_speed, run_training
from trainers.dataset import epoch_images
from trainers.progress import fraction_left

# Full trainings write their checkpoint every 5th epoch (and after the last), not every epoch: on one H200, 40-epoch
# trainings alone spent 39-59 s beyond their images at their measured speed, more the more parameters (18.6 M: 39 s,
# 32.7 M: 48 s, 44.5 M: 59 s), which a checkpoint of 150-360 MB written and fsynced every epoch would explain (0.35-3.7 s
# each on the development VM). A killed training repeats at most 4 epochs.
FULL_CHECKPOINT_EVERY = 5


def full_plan(task: str, space: str, data: Path, run: RunDir, *, epochs: int, res: int, batch: int, seed: int,
              threads: int | None) -> TrialPlan:
    """A full schedule on every training frame, scored on all held-out test subjects (which nothing was picked on),
    checkpointed under final/."""
    return TrialPlan(task=task, space=space, data=str(data), epochs=epochs, res=res, train_fraction=1.0, batch=batch,
                     val_max=None, seed=seed, eval_every_epoch=False, checkpoints=str(run.root / "final"),
                     checkpoint_every=FULL_CHECKPOINT_EVERY, threads=threads, split="test")


def final_plan(s: SearchSettings, data: Path, run: RunDir, threads: int | None) -> TrialPlan:
    """Stage 2's full schedule."""
    return replace(full_plan(s.task, s.space, data, run, epochs=s.final_epochs, res=s.final_res, batch=s.batch,
                             seed=s.seed, threads=threads), pnp=s.pnp)


class FinalRecorder(tune.Callback):
    """Writes final.csv after each stage-2 trial: finished work is on disk before the next ends. Rows are one per
    model and seed; a proxy or speed job fills every seed's row of its model. A training's row records
    `gpu_share`, the GPU fraction its trials get (None: not said)."""

    def __init__(self, run: RunDir, models: list[dict[str, Any]], schema: Schema, columns: list[str],
                 seed: int = 0) -> None:
        self._run, self._columns, self._seed = run, columns, seed
        self.gpu_share: float | None = None
        reported = [f for f in schema.reported() if f in schema.columns(FINAL)]
        self._proxy_keys = [f for f in reported if f.startswith("proxy_")]
        self._final_keys = [f for f in reported if not f.startswith("proxy_")] + ["checkpoint"]
        self._rows = {self._key(r): r for r in read_table(run.final)}
        for m in models:
            self._rows.setdefault(self._key(m), {**m, "status": Status.PENDING.value})

    def _key(self, row: Mapping[str, Any]) -> tuple[str, int]:
        seed = row.get("seed")
        return str(row["label"]), int(seed) if seed not in (None, "") else self._seed  # older runs: one seed

    def rows(self) -> list[dict[str, Any]]:
        return list(self._rows.values())

    def _record(self, trial: Any, error: str | None = None) -> None:
        job, result = trial.config.get("job", trial.config), trial.last_result or {}
        failure = error or (result.get("failure") if result.get("failed") else None)
        model = [r for k, r in self._rows.items() if k[0] == job["label"]]
        if job["plan"] == "proxy":
            for row in model:
                row["proxy_score"] = None if failure else result.get("proxy")
                row.update({k: None if failure else result.get(k) for k in self._proxy_keys})
        elif job["plan"] == "speed":
            for row in model:
                row.update({k: None if failure else result.get(k) for k in SPEED_KEYS})
        else:
            row = self._rows[self._key(job)] if "seed" in job else model[0]  # nas-ablate's labels name their seed
            row.update({k: result.get(k) for k in self._final_keys}, epochs=result.get("epoch"),
                       status=(Status.FAILED if failure else Status.COMPLETE).value, failure=failure,
                       gpu_share=self.gpu_share)
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
             deadline: Deadline | None = None, kind: Callable[[Mapping[str, Any]], str] = lambda job: "job",
             left: Callable[[Mapping[str, Any]], float] = lambda job: 1.0) -> Held:
    """Run each job as one Ray Tune trial of `trainable` (spread over the GPUs), recorded by `recorder`, with one
    line of progress (or Ray Tune's own output with `verbose`); none starts that would not end before `deadline`
    (`left(job)`: the share of its epochs a job resumed from a checkpoint has still to run).
    Returns the jobs left unstarted for the deadline."""
    queue = JobQueue(jobs, deadline or Deadline(), kind, left)
    if jobs and queue.first_fit() is None:  # nothing to run: Tune would start, sync its state and stop at once
        return Held(queue.held, queue.why)
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, plans=plans), slots.resources()),
        tune_config=tune.TuneConfig(search_alg=queue, num_samples=len(jobs), max_concurrent_trials=slots.concurrent,
                                    reuse_actors=True),
        run_config=tune.RunConfig(name=session_name(run, stage), storage_path=str(run.ray),
                                  callbacks=[recorder, StageProgress(stage, len(jobs), metric=metric)],
                                  failure_config=tune.FailureConfig(max_failures=0), verbose=1 if verbose else 0))
    tuner.fit()
    return Held(queue.held, queue.why)


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


def expect_durations(deadline: Deadline, run: RunDir, key: str, kind: str | Callable[[Mapping[str, Any]], str],
                     rows: list[dict[str, Any]], epochs: int, per_gpu: int | None = None,
                     share: float | None = None) -> None:
    """What `deadline` knows of a stage's trainings: the wall times of finished ones in `rows` (their kind: `kind`,
    or `kind(row)`), and, for a single kind, the packing probe's measurement stored under `key` in summary.json
    (`per_gpu` trainings sharing a GPU; default: the packing's). With `share`, only rows that ran on that GPU share
    are learned from."""
    kind_of = kind if callable(kind) else (lambda row: kind)
    deadline.learn_rows([r for r in rows if is_done(r) and same_share(r, share)], kind_of)
    if callable(kind):
        return  # several kinds of training (the study's proxy schedules): one probe cannot stand for them all
    packing = read_summary(run.summary).get(key) or {}
    guess = probe_guess(packing.get("measure") or {}, epochs, 1, per_gpu or int(packing.get("per_gpu", 1)))
    if guess is not None:
        deadline.guess(kind, guess)


def final_kind(job: Mapping[str, Any]) -> str:
    """What a stage-2 training's duration is learnt and guessed by (a job or a final.csv row): each model its own,
    as its seeds take alike and models differ (the deepest searched pick ~3x resnet18d's time); proxies apart."""
    return "proxy" if job.get("plan") == "proxy" else f"final:{job['label']}"


def expect_stage2(deadline: Deadline, run: RunDir, rows: list[dict[str, Any]], models: list[dict[str, Any]],
                  epochs: int, per_gpu: int, epoch_images: int | None = None,
                  share: float | None = None) -> dict[str, float]:
    """What `deadline` knows of stage 2's trainings (`per_gpu` sharing a GPU, each `share` of it): each model's
    finished ones; else the images it trains (`epoch_images` an epoch; else the packing probe's) at its measured
    speed, slowed by the trainings sharing its GPU, plus the most any finished training spent besides (start-up,
    loading, the test); before any finished, the packing probe's training scaled by the model's speed against the
    probed model's (the probe's own time where the speed is unknown); without a probe (`--gpus-per-trial` given),
    only the least it takes, its images at its speed (`Deadline.floor`). Only trainings that ran on the same GPU
    share teach anything (a row that does not say ran alone). Returns the guesses by model label."""
    done = [r for r in rows if is_done(r) and same_share(r, share, unsaid=1.0)]
    # a row from before gpu_share was recorded is taken as alone: if it shared its GPU, its wall only errs long
    deadline.learn_rows(done, final_kind)
    packing = read_summary(run.summary).get("packing_stage2") or {}
    measure = packing.get("measure") or {}
    base = probe_guess(measure, epochs, 1, per_gpu)
    speed = {str(r["label"]): _positive(r.get("train_img_s")) for r in rows}
    probed_arch = packing.get("arch") or (models[0]["arch"] if models else None)  # older runs: the first model
    probed = next((speed.get(str(m["label"])) for m in models if m["arch"] == probed_arch), None)
    per_epoch = epoch_images or (_positive(measure.get("epoch_s")) or 0.0) * (_positive(measure.get("img_s")) or 0.0)
    images = epochs * per_epoch
    # one H200, alone: walls were 38-59 s above images / speed for models 2x apart in speed, a fixed cost; shared,
    # a training is taken to run at 1 / per_gpu of its speed (what MPS overlaps beyond that only shortens it)
    beside = [float(r["wall_s"]) - per_gpu * images / speed[str(r["label"])] for r in done
              if images and speed.get(str(r["label"])) and _positive(r.get("wall_s"))]
    guesses = {}
    for m in models:
        label, own = str(m["label"]), speed.get(str(m["label"]))
        if own and beside:
            guesses[label] = max(max(beside), 0.0) + per_gpu * images / own
        elif base is not None:
            guesses[label] = base * probed / own if probed and own else base
        elif own and images:
            deadline.floor(final_kind(m), images / own)
        if label in guesses:
            deadline.guess(final_kind(m), guesses[label])
    if beside:
        deadline.fixed_s = max(max(beside), 0.0)
    return guesses


def full_epoch_images(run: RunDir, batch: int) -> int | None:
    """Images an epoch of the full schedule trains (every training frame, in whole batches), from the frames the
    task reported in summary.json; None where it did not."""
    frames = _positive(((read_summary(run.summary).get("data") or {}).get("frames") or {}).get("train"))
    return epoch_images(int(frames), 1.0, batch) if frames else None


def expect_proxies(deadline: Deadline, run: RunDir, per_gpu: int) -> float | None:
    """Stage 2's proxies (of the models stage 1 did not score) run stage 1's plan: each is expected to take the
    slowest complete stage-1 trial, times the `per_gpu` trainings sharing a GPU now (a stage-1 trial that shared
    one took longer alone, so this errs long). Returns the guess, or None where stage 1 finished no trial. Only for
    a stage 1 that validated as often as stage 2's proxies do (every epoch), or scored at initialisation."""
    walls = [_positive(r.get("wall_s")) for r in read_table(run.trials, check=False) if is_done(r)]
    walls = [w for w in walls if w]
    if not walls:
        return None
    deadline.guess("proxy", per_gpu * max(walls))
    return deadline.expected("proxy")


def resumable(run: RunDir, jobs: list[dict[str, Any]], log=print) -> dict[str, float]:
    """The share of its epochs each training with a checkpoint under final/ has still to run, by folder; one line
    each saying so (a time limit expects it to take only those epochs)."""
    left = {}
    for job in jobs:
        share = fraction_left(run.root / "final" / job["dir"]) if job.get("dir") else 1.0
        if share < 1.0:
            left[job["dir"]] = share
            log(f"stage 2: {job['label']} seed {job.get('seed')} resumes from its checkpoint, {share:.0%} of its "
                "epochs left")
    return left


def log_expected(deadline: Deadline, models: list[dict[str, Any]], log=print) -> None:
    """One line: how long each model's training is expected to take (its own, else from its measured speed), or at
    least takes where only that is known."""
    parts = []
    for m in models:
        kind = final_kind(m)
        if deadline.expected(kind) is not None:
            parts.append(f"{m['label']} {deadline.expected(kind):.0f}")
        elif kind in deadline.floors:
            parts.append(f"{m['label']} at least {deadline.floors[kind]:.0f}")
    if deadline.expected("proxy") is not None:
        parts.append(f"a proxy {deadline.expected('proxy'):.0f}")
    if parts:
        log("stage 2: expected seconds a training (a model's own, else its measured speed): " + ", ".join(parts))


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def same_share(row: Mapping[str, Any], share: float | None, unsaid: float | None = None) -> bool:
    """Whether a finished row ran on the GPU share the next trainings get (`share` None: any): five trainings side by
    side each take ~5x as long as one alone. A row that does not say had `unsaid` (None: counts as the same); one
    whose share cannot be read teaches nothing."""
    said = row.get("gpu_share")
    if share is None or (said in (None, "") and unsaid is None):
        return True
    try:
        return abs(float(unsaid if said in (None, "") else said) - share) < 1e-6
    except (TypeError, ValueError):
        return False


def stage2_jobs(s: SearchSettings, models: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What is missing of stage 2: a full training per model and seed, the proxy of every model stage 1 did not
    score (baselines, controls), the speed of every model."""
    done = {(str(r["label"]), int(r["seed"])) for r in rows if is_done(r) and r.get("seed") not in (None, "")}
    proxied = {str(r["label"]) for r in rows if r.get("proxy_score") not in (None, "")}
    timed = {str(r["label"]) for r in rows if r.get("infer_img_s") not in (None, "")}
    seeds = final_seeds(s)
    # seed-major: a paused stage 2 has every model at one seed before any at two, so its report compares them all
    jobs = [{"label": m["label"], "arch": m["arch"], "plan": f"final_s{seed}", "seed": seed,
             "dir": checkpoint_dir(m["label"], seed, seeds[0])}
            for seed in seeds for m in models if (m["label"], seed) not in done]
    jobs += [{"label": m["label"], "arch": m["arch"], "plan": "proxy"} for m in models if m["label"] not in proxied]
    return jobs + [{"label": m["label"], "arch": m["arch"], "plan": "speed"} for m in models
                   if m["label"] not in timed]


def run_stage2(s: SearchSettings, run: RunDir, data: Path, cluster: tuple[int, float], log=print,
               deadline: Deadline | None = None) -> list[dict[str, Any]]:
    """Time every model alone on a GPU, then train what is missing of stage 2 (what can end before `deadline`);
    returns the final.csv rows."""
    schema = run_schema(s.task, s.space)
    columns = final_columns(schema)
    models = stage2_models(s)
    recorder = FinalRecorder(run, seed_rows(models, final_seeds(s)), schema, columns, s.seed)
    jobs = stage2_jobs(s, models, recorder.rows())
    write_table(run.final, recorder.rows(), columns)
    trainings = [j for j in jobs if j["plan"] != "speed"]
    deadline = deadline or Deadline()
    timing = [j for j in jobs if j["plan"] == "speed"]
    if timing:  # first: each model's measured speed scales the probe's duration to it (expect_stage2)
        measure_speeds(s, run, data, timing, recorder, cluster, deadline, log)
    if trainings:
        log(f"stage 2: {sum(j['plan'] != 'proxy' for j in trainings)} full trainings ({len(models)} models x "
            f"{s.final_seeds} seeds, {s.final_epochs} epochs) and {sum(j['plan'] == 'proxy' for j in trainings)} "
            "proxies of models stage 1 did not score")
        update_summary(run.summary, stage2="running")
        slots = stage2_slots(s, run, data, trainings[0]["arch"], cluster, log)
        threads = slots.cpus if slots.gpus == 0 else None
        plans = {"proxy": replace(proxy_plan(s, data, threads), eval_every_epoch=True),
                 **{f"final_s{seed}": replace(final_plan(s, data, run, threads), seed=seed) for seed in final_seeds(s)}}
        start = time.time()
        # the probe's guess for the GPU share these trainings get: a resume may give --gpus-per-trial
        share = slots.gpus if slots.gpus > 0 else None
        recorder.gpu_share = share
        guesses = expect_stage2(deadline, run, recorder.rows(), models, s.final_epochs, slots.per_gpu,
                                full_epoch_images(run, s.batch), share)
        if proxy_plan(s, data, threads).eval_every_epoch or not get_proxy(s.proxy_score).trains:
            expect_proxies(deadline, run, slots.per_gpu)
        left = resumable(run, trainings, log)
        if deadline.at is not None:
            log_expected(deadline, models, log)
        held = fit_grid(run_training, plans, trainings, slots, run, "stage2", recorder, s.verbose, schema.metric.name,
                        deadline, final_kind, lambda job: left.get(job.get("dir"), 1.0))
        log(f"stage 2 took {time.time() - start:.0f} s")
        if held:
            update_summary(run.summary, stage2="paused")
            raise Paused(f"stage 2: {held.of(len(trainings), 'trainings')}")
    return finish_stage2(s, run, recorder.rows(), schema.metric.name)


def measure_speeds(s: SearchSettings, run: RunDir, data: Path, jobs: list[dict[str, Any]], recorder: FinalRecorder,
                   cluster: tuple[int, float], deadline: Deadline, log=print) -> None:
    """Every model's training and inference speed and batch-1 latency, measured alone on a whole GPU."""
    cpus, gpus = cluster
    slots = slots_for(cpus, gpus, 1.0, s.cpus_per_trial)  # alone: a shared GPU would time the neighbours too
    log(f"stage 2: timing {len(jobs)} models alone on a GPU each")
    plans = {"speed": final_plan(s, data, run, slots.cpus if slots.gpus == 0 else None)}
    held = fit_grid(run_speed, plans, jobs, slots, run, "speed", recorder, s.verbose, None, deadline,
                    lambda job: "speed")
    if held:
        update_summary(run.summary, stage2="paused")
        raise Paused(f"stage 2: {held.of(len(jobs), 'speed measurements')}")


def finish_stage2(s: SearchSettings, run: RunDir, rows: list[dict[str, Any]], full: str) -> list[dict[str, Any]]:
    """summary.json's stage-2 state and the proxy-to-full rank correlations (one point per model, seeds
    averaged; every history proxy, so a run tells which of them ranks better on its data)."""
    done = all(is_done(r) for r in rows)
    models = per_model(rows, full)
    update_summary(run.summary, stage2="done" if done else "partial",
                   rank_correlation=rank_correlation(models, full=full),
                   rank_correlation_by_proxy={p: rank_correlation(models, f"proxy_{p}", full)
                                              for p in history_proxies()})
    return rows
