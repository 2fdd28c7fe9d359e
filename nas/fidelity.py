"""`nas-fidelity`: how well each proxy ranks architectures, measured against full training (issue 14).

Architectures are drawn at random from the FLOP window (the uniform sampler, never a proxy's ranking), the
baselines added, and each is trained with the full schedule under `full_seeds` seeds; every proxy of the zoo runs
on the same architectures under `proxy_seeds` seeds: trained proxies in one training per schedule (all proxies of
a schedule are read off it), zero-cost ones once per seed on the untrained network. Every training is a Ray Tune
trial (packed on the GPUs as measured); `jobs.csv` records each as it ends, so a killed driver loses nothing
finished and `--resume` runs only what is missing. The run folder then holds `models.csv` (one row per
architecture), `fidelity.csv` (one row per proxy) and `summary.json` (the noise ceiling, the recommended proxy
and the rule that picked it); `nas-report RUN` renders them.
"""
from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ray import tune

from kit.config import option
from kit.config import seed as seed_type
from nas.cluster import Slots, slots_for
from nas.deadline import Deadline, Paused
from nas.final import expect_durations, fit_grid, full_plan
from nas.packing import decide
from nas.proxies import get_proxy, schedule_key
from nas.references import REFERENCES, reference_values
from nas.runs import RunDir, read_table, update_summary, write_table
from nas.schema import Status
from nas.settings import MPS_HELP, MPS_MODES, TIME_LIMIT_HELP, minutes, RunSettings, SettingsError, check_name
from nas.tasks import get_task
from nas.trial import TrialPlan, run_training
from search_spaces import DEFAULT_SPACE, check_window, sample_archs

COMMAND = "nas-fidelity"
DEFAULT_PROXIES = ["final", "tse", "val_loss", "final_e1", "final_e2", "final_e4", "final_e8", "final_e4_r128",
                   "tse_e8", "synflow", "grad_norm", "naswot"]
JOB_COLUMNS = ["label", "job", "arch_index", "arch", "seed", "schedule", "proxy", "status", "score", "proxy_value",
               "proxy_final", "proxy_tse", "proxy_val_loss", "wall_s", "gpu_share", "gpu_s", "failure"]


@dataclass
class FidelitySettings(RunSettings):
    """Everything `nas-fidelity` needs to run (and re-run) one study; written to config.yaml."""

    data: str = option(help="crop cache (nas-data cache) or WCPA root (required unless --resume)")
    budget: str = option("5G", help="FLOP budget of the window the architectures are drawn from")
    tol: float = option(0.05, help="window tolerance")
    space: str = option(DEFAULT_SPACE, help="search space")
    task: str = option("faces", help="task")
    archs: int = option(16, help="architectures drawn at random from the window")
    baselines: list[str] = option(help="comma-separated baselines trained beside them",
                                  default_factory=lambda: ["resnet34d"])
    full_epochs: int = option(10, help="epochs of the full trainings")
    full_seeds: int = option(2, help="seeds of every full training (two give the noise ceiling)")
    proxies: list[str] = option(help="comma-separated proxies of the zoo (nas/proxies.py)",
                                default_factory=lambda: list(DEFAULT_PROXIES))
    proxy_seeds: int = option(2, help="seeds of every proxy (two give its repeatability)")
    proxy_epochs: int = option(6, help="epochs of the search's own proxy (proxies without a schedule of their own)")
    proxy_fraction: float = option(0.25, help="fraction of the training frames a proxy sees")
    proxy_res: int = option(256, help="input size of proxies without a schedule of their own")
    final_res: int = option(256, help="input size of the full trainings")
    batch: int = option(256, help="batch size")
    val_max: int | None = option(2000, help="validation frames a proxy is scored on")
    pnp: str = option("auto", help="pose solver of validation (auto, cv2, torch)", choices=("auto", "cv2", "torch"))
    gpus_per_trial: float | None = option(None, help="GPUs per training (default: measured)",
                                          parse=lambda t: None if t == "auto" else float(t), metavar="auto|GPUS")
    cpus_per_trial: int | None = option(None, help="CPUs per training (default: shared out evenly)")
    address: str | None = option(None, help="Ray cluster to join ('auto' or host:port); default: start Ray locally")
    mps: str = option("auto", help=MPS_HELP, choices=MPS_MODES)
    name: str = option("fidelity", help="run name: the folder OUT/NAME")
    out: str = option("runs", help="output folder")
    seed: int = option(0, help="seed of the architectures drawn and the first training seed (>= 0)",
                       parse=seed_type)
    verbose: bool = option(False, help="Ray Tune's own per-trial output (default: one line of progress)")
    time_limit: float | None = option(None, help=TIME_LIMIT_HELP, parse=minutes, metavar="MINUTES")
    preset: str = option("default", help="default | smoke", cli=False)
    command: str = option(COMMAND, help="which command wrote this config", cli=False)

    def __post_init__(self) -> None:
        for key in ("archs", "full_epochs", "full_seeds", "proxy_seeds", "proxy_epochs", "proxy_res", "final_res",
                    "batch"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise SettingsError(f"--{key.replace('_', '-')} must be a positive whole number, got {value!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise SettingsError(f"--seed must be a whole number >= 0, got {self.seed!r}")
        if not 0 < self.proxy_fraction <= 1:
            raise SettingsError(f"--proxy-fraction must be in (0, 1], got {self.proxy_fraction}")
        for name in self.proxies:
            get_proxy(name)  # a ProxyError (exit 2) names an unknown one
        space = self.search_space()
        check_window(space, self.window)
        for b in self.baselines:
            space.check_buildable(space.parse(b), b)
        check_name(self.name)
        if self.command != COMMAND:
            raise SettingsError(f"not a config of {COMMAND} (command: {self.command!r})")


def models(s: FidelitySettings) -> list[dict[str, Any]]:
    """The architectures: `archs` drawn at random from the window (seeded), then the baselines."""
    space = s.search_space()
    drawn = [str(x.arch) for x in sample_archs(space, s.window, s.archs, seed=s.seed)]
    rows = []
    for i, (arch, kind) in enumerate([(a, "window") for a in drawn] + [(b, "baseline") for b in s.baselines]):
        size = space.complexity(space.parse(arch))
        rows.append({"arch_index": i, "arch": arch, "kind": kind, "gflops": size.flops / 1e9,
                     "params_m": size.params / 1e6})
    return rows


def proxy_plan(s: FidelitySettings, data: Path, schedule: Mapping[str, Any], seed: int, proxy: str,
               threads: int | None) -> TrialPlan:
    """A proxy training of one schedule (scored once, after its last epoch), or a zero-cost proxy's probe."""
    return TrialPlan(task=s.task, space=s.space, data=str(data), epochs=schedule.get("epochs", s.proxy_epochs),
                     res=schedule.get("res", s.proxy_res), train_fraction=s.proxy_fraction, batch=s.batch,
                     val_max=s.val_max, seed=seed, proxy=proxy, eval_every_epoch=False, threads=threads,
                     cudnn_benchmark=False, pnp=s.pnp)


def jobs(s: FidelitySettings, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every training the study needs: one per proxy schedule and zero-cost proxy, architecture and seed, and
    the full trainings."""
    schedules = {schedule_key(get_proxy(p)): dict(get_proxy(p).schedule or {}) for p in s.proxies
                 if get_proxy(p).trains}
    zero = [p for p in s.proxies if not get_proxy(p).trains]
    out = []
    for m in rows:
        i, arch = m["arch_index"], m["arch"]
        for k in range(s.proxy_seeds):
            seed = s.seed + k
            out += [{"label": f"{tag}-a{i}-s{seed}", "job": "train", "arch_index": i, "arch": arch, "seed": seed,
                     "schedule": tag, "schedule_values": sched} for tag, sched in schedules.items()]
            out += [{"label": f"{p}-a{i}-s{seed}", "job": "zero", "arch_index": i, "arch": arch, "seed": seed,
                     "proxy": p} for p in zero]
        out += [{"label": f"full-a{i}-s{s.seed + k}", "job": "full", "arch_index": i, "arch": arch,
                 "seed": s.seed + k} for k in range(s.full_seeds)]
    return out


class JobRecorder(tune.Callback):
    """Writes jobs.csv after each trial of the study: finished work is on disk before the next ends."""

    def __init__(self, run: RunDir, share: float, metric: str, terms: tuple[str, ...] = ()) -> None:
        self._path, self._share, self._metric, self._terms = run.root / "jobs.csv", share, metric, tuple(terms)
        self._rows = {r["label"]: r for r in read_table(self._path)}

    def add(self, pending: list[dict[str, Any]]) -> None:
        """List jobs about to run (as pending), keeping every row already recorded."""
        for j in pending:
            row = {k: v for k, v in j.items() if k != "schedule_values"}
            self._rows.setdefault(j["label"], {**row, "status": Status.PENDING.value})
        write_table(self._path, list(self._rows.values()), JOB_COLUMNS)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        from nas.searcher import error_reason
        self._record(trial, error_reason(trial))

    def _record(self, trial: Any, error: str | None = None) -> None:
        job, result = trial.config.get("job", trial.config), trial.last_result or {}
        failure = error or (result.get("failure") if result.get("failed") else None)
        wall = result.get("wall_s")
        self._rows[job["label"]].update(
            status=(Status.FAILED if failure else Status.COMPLETE).value, failure=failure,
            score=result.get(self._metric), proxy_value=result.get("proxy"), wall_s=wall, gpu_share=self._share,
            gpu_s=None if wall is None else wall * (self._share or 1.0),
            **{k: result.get(k) for k in ("proxy_final", "proxy_tse", "proxy_val_loss")},
            **{t: result.get(t) for t in self._terms})  # the score's terms say what a training learnt
        write_table(self._path, list(self._rows.values()), JOB_COLUMNS)


def study_slots(s: FidelitySettings, run: RunDir, plan: TrialPlan, arch: str, epochs: int, key: str,
                cluster: tuple[int, float], log=print) -> Slots:
    """Trainings per GPU for one kind of job: `--gpus-per-trial`, or measured (nas.packing)."""
    cpus, gpus = cluster
    if s.gpus_per_trial is not None or gpus < 1:
        return slots_for(cpus, gpus, s.gpus_per_trial if s.gpus_per_trial is not None else 1.0, s.cpus_per_trial)
    decided = decide(key, run.summary, s.task, plan, arch, epochs, 1, cluster, log)
    log(f"packing ({key}): {decided.reason}")
    return slots_for(cpus, gpus, decided.gpus_per_trial, s.cpus_per_trial)


def job_kind(job: Mapping[str, Any]) -> str:
    """Jobs whose durations are alike: a full training, a proxy schedule, a zero-cost proxy."""
    return "full" if job["job"] == "full" else f"{job['job']}:{job.get('schedule') or job.get('proxy')}"


def run_study(s: FidelitySettings, run: RunDir, data: Path, cluster: tuple[int, float], log=print,
              deadline: Deadline | None = None) -> None:
    """Run what jobs.csv does not hold yet (what can end before `deadline`): proxies first (short), then the full
    trainings."""
    rows = models(s)
    write_table(run.root / "models.csv", assemble(s, rows, []), [])
    done = {r["label"] for r in read_table(run.root / "jobs.csv") if Status.parse(r["status"]) == Status.COMPLETE}
    todo = [j for j in jobs(s, rows) if j["label"] not in done]
    update_summary(run.summary, fidelity="running")
    spec = get_task(s.task).metric
    metric = spec.name
    base = proxy_plan(s, data, {}, s.seed, "final", None)
    for stage, kinds in (("proxies", ("train", "zero")), ("full", ("full",))):
        group = [j for j in todo if j["job"] in kinds]
        if not group:
            continue
        plan = base if stage == "proxies" else full_plan(s.task, s.space, data, run, epochs=s.full_epochs,
                                                        res=s.final_res, batch=s.batch, seed=s.seed, threads=None)
        slots = study_slots(s, run, plan, group[0]["arch"], plan.epochs, f"packing_{stage}", cluster, log)
        threads = slots.cpus if slots.gpus == 0 else None
        plans = {j["label"]: job_plan(s, data, run, j, threads) for j in group}
        recorder = JobRecorder(run, slots.gpus, metric, spec.terms)
        recorder.add(group)
        log(f"fidelity: {len(group)} {stage} trainings, {slots.concurrent} at a time")
        deadline = deadline or Deadline()
        finished = [r for r in read_table(run.root / "jobs.csv") if stage == "proxies" or r["job"] == "full"]
        expect_durations(deadline, run, "packing_full", "full" if stage == "full" else job_kind, finished,
                         plan.epochs, slots.per_gpu, share=slots.gpus)
        kinds = {j["label"]: job_kind(j) for j in group}
        held = fit_grid(run_training, plans, [{"label": j["label"], "arch": j["arch"], "plan": j["label"]}
                                              for j in group], slots, run, stage, recorder, s.verbose,
                        None if stage == "proxies" else metric, deadline, lambda job: kinds[job["label"]])
        if held:  # models.csv shows what is done, so a report of the paused study is not empty
            write_table(run.root / "models.csv", assemble(s, rows, read_table(run.root / "jobs.csv")), [])
            update_summary(run.summary, fidelity="paused")
            raise Paused(f"fidelity: {held.of(len(group), stage + ' trainings')}")
    finish(s, run, rows)


def job_plan(s: FidelitySettings, data: Path, run: RunDir, job: Mapping[str, Any], threads: int | None) -> TrialPlan:
    """The plan of one job."""
    if job["job"] == "full":
        plan = full_plan(s.task, s.space, data, run, epochs=s.full_epochs, res=s.final_res, batch=s.batch,
                         seed=int(job["seed"]), threads=threads)
        return dataclasses.replace(plan, checkpoints=None, pnp=s.pnp)  # no checkpoints: a killed one is re-run
    if job["job"] == "zero":
        return proxy_plan(s, data, {}, int(job["seed"]), job["proxy"], threads)
    return proxy_plan(s, data, job["schedule_values"], int(job["seed"]), "final", threads)


def _number(value: Any) -> float:
    """A table cell as a float (NaN where it holds no number)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def assemble(s: FidelitySettings, rows: list[dict[str, Any]], done: list[dict[str, str]]) -> list[dict[str, Any]]:
    """models.csv: per architecture its full scores per seed and every proxy's value per seed (empty: not run)."""
    by = {(r["job"], int(r["arch_index"]), int(r["seed"]), r.get("schedule") or r.get("proxy") or ""): r for r in done
          if Status.parse(r["status"]) == Status.COMPLETE}
    out = []
    for m in rows:
        i, row = m["arch_index"], {k: m[k] for k in ("arch", "kind", "gflops", "params_m")}
        for k in range(s.full_seeds):
            r = by.get(("full", i, s.seed + k, ""))
            row[f"full_score_s{k}"] = _number(r["score"]) if r else None
        for p in s.proxies:
            proxy = get_proxy(p)
            for k in range(s.proxy_seeds):
                key = ("train", i, s.seed + k, schedule_key(proxy)) if proxy.trains else ("zero", i, s.seed + k, p)
                r = by.get(key)
                value = r.get(f"proxy_{proxy.reads or p}") if r and proxy.trains else (r["proxy_value"] if r else None)
                row[f"{p}_s{k}"] = _number(value) if value not in (None, "") else None
        out.append(row)
    for name, values in reference_values(s.search_space(), rows).items():  # one "seed": they are deterministic
        for row, value in zip(out, values):
            row[f"{name}_s0"] = value
    return out


def finish(s: FidelitySettings, run: RunDir, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """models.csv, fidelity.csv and summary.json from what jobs.csv holds."""
    from nas import stats
    done = read_table(run.root / "jobs.csv")
    table = assemble(s, rows, done)
    write_table(run.root / "models.csv", table, [])
    full = [[r[f"full_score_s{k}"] for k in range(s.full_seeds)] for r in table]
    cost = _gpu_seconds(s, rows, done)
    fidelity = []
    for p in s.proxies:
        by_seed = [[r[f"{p}_s{k}"] for k in range(s.proxy_seeds)] for r in table]
        fidelity.append({"proxy": p, **stats.fidelity_row(by_seed, full, get_proxy(p).direction),
                         "gpu_s_per_arch": cost.get(p), "direction": get_proxy(p).direction,
                         "label": get_proxy(p).label, "reference": ""})
    fidelity += reference_rows(table, full)
    write_table(run.root / "fidelity.csv", fidelity, ["proxy", "kendall", "kendall_lo", "kendall_hi", "spearman",
                                                       "spearman_lo", "spearman_hi", "repeat_kendall",
                                                       "gpu_s_per_arch"])
    ceiling = stats.noise_ceiling(full)
    best, rule = stats.recommend([r for r in fidelity if not r["reference"]], ceiling=ceiling)
    complete = all(Status.parse(r["status"]) == Status.COMPLETE for r in done) and len(done) == len(jobs(s, rows))
    return update_summary(run.summary, n_archs=len(rows), full_seeds=s.full_seeds,
                          noise_ceiling_kendall=ceiling.get("kendall"),
                          noise_ceiling_kendall_lo=ceiling.get("kendall_lo"),
                          noise_ceiling_kendall_hi=ceiling.get("kendall_hi"), icc=ceiling.get("icc"),
                          recommended_proxy=best, rule=rule, full_gpu_s_per_arch=cost.get("full"),
                          fidelity="done" if complete else "partial")


def reference_rows(table: list[dict[str, Any]], full: list[list[Any]]) -> list[dict[str, Any]]:
    """fidelity.csv's rows of size alone (`nas.references`), beside the proxies: they cost nothing and are never
    recommended."""
    from nas import stats
    return [{"proxy": name, **stats.fidelity_row([[r[f"{name}_s0"]] for r in table], full, ref.direction),
             "gpu_s_per_arch": 0.0, "direction": ref.direction, "label": ref.label, "reference": "yes"}
            for name, ref in REFERENCES.items()]


def _gpu_seconds(s: FidelitySettings, rows: list[dict[str, Any]], done: list[dict[str, str]]) -> dict[str, float]:
    """GPU-seconds per architecture and seed: of each proxy (its schedule's training, or its probe) and of a full
    training (key `full`)."""
    spent: dict[str, list[float]] = {}
    for r in done:
        if Status.parse(r["status"]) != Status.COMPLETE or r.get("gpu_s") in (None, ""):
            continue
        key = "full" if r["job"] == "full" else (r["schedule"] if r["job"] == "train" else r["proxy"])
        spent.setdefault(key, []).append(float(r["gpu_s"]))
    mean = {k: statistics.fmean(v) for k, v in spent.items()}
    out = {p: mean.get(schedule_key(get_proxy(p)) if get_proxy(p).trains else p) for p in s.proxies}
    out["full"] = mean.get("full")
    return {k: v for k, v in out.items() if v is not None}

