"""The Ray Tune trainable: one proxy or full training of one architecture, through the task, reporting after
every epoch.

A plain function of its config (`arch`, and in stage 2 `label` and `plan`) and of the plans, which arrive
through the object store (`tune.with_parameters`). The plan names the task, the space and the proxy; the task
trains, the proxy scores (`nas.proxies`). Failures (out of memory, divergence, anything raised) end the trial
with a `failed` report and the reason, so the search goes on. Every report carries `reported_at`, Unix
seconds as a float (Ray's own `timestamp` is whole seconds).
"""
from __future__ import annotations

import ctypes
import gc
import os
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ray import tune

from kit.errors import one_line
from nas.proxies import Proxy, get_proxy, history_scores
from nas.tasks import get_task

# One prepared data set per worker process, keyed by (task, path, device): Ray reuses trial actors, so the
# upload to the GPU is paid once per worker, not once per trial (design.md, "Where time goes").
_PREPARED: dict[tuple[str, str, str], Any] = {}


@dataclass(frozen=True)
class TrialPlan:
    """How one kind of training runs: the proxy of stage 1 or the full schedule of stage 2."""

    task: str
    space: str
    data: str
    epochs: int
    res: int
    train_fraction: float
    batch: int
    val_max: int | None
    seed: int
    proxy: str = "final"  # the registered proxy reported as `proxy`
    eval_every_epoch: bool = True  # ASHA needs a score each epoch; otherwise only the last
    checkpoints: str | None = None  # folder for resumable checkpoints, one sub-folder per label
    checkpoint_every: int = 1  # epochs between checkpoints (and always after the last)
    threads: int | None = None
    cudnn_benchmark: bool = True
    pnp: str = "auto"  # pose solver of validation (the task's choice of auto, cv2, torch)
    options: tuple[tuple[str, Any], ...] = ()  # the task's own training options, e.g. (("flip", False),)
    split: str = "selection"  # held-out subjects scored: selection (what a search picks on) or test (reporting)

    def settings(self, arch: str, device: str) -> dict[str, Any]:
        """The task's training settings of `arch` under this plan."""
        return {"space": self.space, "arch": arch, "epochs": self.epochs, "batch": self.batch, "res": self.res,
                "train_fraction": self.train_fraction, "seed": self.seed, "val_max": self.val_max,
                "eval_every": 1 if self.eval_every_epoch else self.epochs, "checkpoint_every": self.checkpoint_every,
                "device": device,
                "cudnn_benchmark": self.cudnn_benchmark, "pnp": self.pnp, "split": self.split, **dict(self.options)}


def location() -> dict[str, str]:
    """Where this trial runs: host and GPU ids (as Ray assigned them) or 'cpu', and the Ray node."""
    import ray
    gpus = ray.get_gpu_ids() if ray.is_initialized() else []
    node = ray.get_runtime_context().get_node_id()[:12] if ray.is_initialized() else "local"
    return {"gpu": f"{socket.gethostname()}:{','.join(map(str, gpus))}" if gpus else "cpu", "node": node}


def _torch():
    import torch
    return torch


def device_name() -> str:
    """'cuda' where this worker sees a GPU, else 'cpu'."""
    return "cuda" if _torch().cuda.is_available() else "cpu"


def host_rss_gb() -> float:
    """This process's resident host memory in GB (NaN where /proc is not there)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9
    except (OSError, ValueError):
        return float("nan")


def memory() -> dict[str, float]:
    """This worker's resident host memory and the GPU memory its allocator holds, in GB."""
    torch = _torch()
    rss = host_rss_gb()
    cuda = torch.cuda.is_available()
    return {"host_rss_gb": rss, "gpu_reserved_gb": torch.cuda.memory_reserved() / 1e9 if cuda else 0.0,
            "gpu_peak_gb": torch.cuda.max_memory_allocated() / 1e9 if cuda else 0.0}


def prepared(task: str, path: str, device: str) -> Any:
    """The data set of `path` on `device`, prepared by the task once per worker process."""
    key = (task, path, device)
    if key not in _PREPARED:
        _PREPARED.clear()  # a worker serves one search at a time: free the previous one
        _PREPARED[key] = get_task(task).open(path, device)
    return _PREPARED[key]


def release_memory() -> None:
    """Hand freed memory back after a trial, host and GPU. glibc keeps what a trial freed in its arenas, so a
    reused worker's RSS grew with every new architecture (measured on CPU: 1.2 -> 1.7 GB over six trials; with
    this call 0.86 -> 0.89 GB). PyTorch's caching allocator likewise keeps every block a trial used: on an H200 a
    reused worker held 40-63 GB after 32 architectures whose trainings peaked at 14-18 GB each, which is what
    filled the GPU (149.5 of 150 GB) with three trainings sharing it (docs/results/stage1_throughput)."""
    gc.collect()
    if _torch().cuda.is_available():
        _torch().cuda.empty_cache()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def _begin(plan: TrialPlan) -> tuple[dict[str, Any], str]:
    """Where the trial runs and on which device, with the plan's thread count set; and the worker's memory as
    the trial starts (what the previous trial left behind: flat over trials where nothing leaks)."""
    where: dict[str, Any] = {**location(), "host_rss_start_gb": host_rss_gb()}
    if plan.threads:
        _torch().set_num_threads(plan.threads)
    device = device_name()
    if device == "cuda":
        _torch().cuda.reset_peak_memory_stats()
    return where, device


def _fail(exc: BaseException, proxy: Proxy, epoch: int, where: Mapping[str, str]) -> None:
    """The trial's last report: failed, with the reason; GPU memory handed back for the next trial."""
    if os.environ.get("NAS_TRIAL_TRACEBACKS"):
        traceback.print_exc()
    if device_name() == "cuda":
        _torch().cuda.empty_cache()  # an out-of-memory trial must not starve the next one
    tune.report({"failed": 1, "failure": one_line(exc), "oom": int(is_out_of_memory(exc)), "proxy": proxy.worst(),
                 "epoch": epoch, **where, "reported_at": time.time()})


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether a training failed because the GPU ran out of memory (PyTorch's error, or cuDNN/cuBLAS's words)."""
    oom = getattr(_torch(), "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


def run_training(config: dict[str, Any], plans: dict[str, TrialPlan]) -> None:
    """Train `config['arch']` with the plan `config.get('plan', 'proxy')`, reporting each epoch.

    Stage 2's grid search nests the same keys under `job`.
    """
    try:
        _train_and_report(config.get("job", config), plans)
    finally:
        release_memory()


def _train_and_report(config: dict[str, Any], plans: dict[str, TrialPlan]) -> None:
    """The body of `run_training`."""
    plan = plans[config.get("plan", "proxy")]
    proxy, task = get_proxy(plan.proxy), get_task(plan.task)
    where, device = _begin(plan)
    if not proxy.trains:
        return score_at_init(config, plan, proxy, where, device)
    out_dir = Path(plan.checkpoints) / config.get("dir", config["label"]) if plan.checkpoints and config.get("label") \
        else None
    history: list[dict[str, Any]] = []
    key = f"proxy_{proxy.reads or proxy.name}"  # a proxy with its own schedule reads a history proxy off it
    start = time.perf_counter()

    def on_epoch(epoch: int, row: dict[str, Any]) -> None:
        history.append(row)
        scores = {k: v for k, v in history_scores(history).items() if v is not None}
        metrics = {k: v for k, v in row.items() if isinstance(v, (int, float))}
        if key in scores:  # epochs without validation have no held-out score to report
            metrics["proxy"] = scores[key]
        # a trial stopped at this report (ASHA, or max_t reached) sends no other: say everything now
        tune.report({**metrics, **scores, "epoch": epoch, "wall_s": time.perf_counter() - start, **memory(),
                     **where, "reported_at": time.time()})

    try:
        result = task.train(plan.settings(config["arch"], device), prepared(plan.task, plan.data, device), out_dir,
                            on_epoch)
    except Exception as exc:  # ASHA's stop is a SystemExit and passes through
        return _fail(exc, proxy, len(history), where)
    scores = history_scores(result["history"])
    final = {k: result.get(k) for k in (task.metric.name, *task.metric.terms, "wall_s", "images_per_s", "scored_on")}
    tune.report({**final, **{k: v for k, v in scores.items() if v is not None}, "epoch": plan.epochs,
                 "proxy": scores[key], "done_training": 1, "checkpoint": result.get("checkpoint") or "",
                 **memory(), **where, "reported_at": time.time()})


SPEED_KEYS = ("train_img_s", "infer_img_s", "latency_ms_b1", "latency_ms_b1_iqr", "speed_device")


def run_speed(config: dict[str, Any], plans: dict[str, TrialPlan]) -> None:
    """Time `config['job']['arch']` alone on its device under the plan's batch and resolution (the task's
    `speed`: training and inference images/s, batch-1 latency), reported once."""
    job = config.get("job", config)
    plan = plans[job.get("plan", "speed")]
    where, device = _begin(plan)
    start = time.perf_counter()
    try:
        measured = get_task(plan.task).speed(plan.settings(job["arch"], device))
    except Exception as exc:
        return _fail(exc, get_proxy(plan.proxy), 0, where)
    finally:
        release_memory()
    tune.report({**measured, "done_training": 1, "epoch": 0, "wall_s": time.perf_counter() - start, **where,
                 "reported_at": time.time()})


def score_at_init(config: dict[str, Any], plan: TrialPlan, proxy: Proxy, where: Mapping[str, str],
                  device: str) -> None:
    """A zero-cost proxy: the untrained network scored on one training batch, reported once (epoch 0)."""
    start = time.perf_counter()
    try:
        probe = get_task(plan.task).probe(plan.settings(config["arch"], device),
                                          prepared(plan.task, plan.data, device), plan.batch)
        value = float(proxy.score_network(probe))
    except Exception as exc:
        return _fail(exc, proxy, 0, where)
    tune.report({"proxy": value, f"proxy_{proxy.name}": value, "epoch": 0, "done_training": 1, "checkpoint": "",
                 "wall_s": time.perf_counter() - start, **memory(), **where, "reported_at": time.time()})
