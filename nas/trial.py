"""The Ray Tune trainable: one JMLR training of one architecture, reporting after every epoch.

A plain function of its config (`arch`, and in stage 2 `label` and `plan`) and of the plans, which
arrive through the object store (`tune.with_parameters`). Failures (out of memory, divergence,
anything raised) end the trial with a `failed` report and the reason, so the search goes on. Every
report carries `reported_at`, Unix seconds as a float (Ray's own `timestamp` is whole seconds).
"""
from __future__ import annotations

import math
import os
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from ray import tune

from trainers.device_data import DeviceData
from trainers.train import TrainConfig, train

# One prepared data set per worker process, keyed by (cache path, device): Ray reuses trial actors,
# so the upload to the GPU is paid once per worker, not once per trial (design.md, "Where time goes").
_PREPARED: dict[tuple[str, str], DeviceData] = {}


@dataclass(frozen=True)
class TrialPlan:
    """How one kind of training runs: the proxy of stage 1 or the full schedule of stage 2."""

    data: str
    epochs: int
    res: int
    train_fraction: float
    batch: int
    val_max: int | None
    seed: int
    proxy_score: str = "final"  # final | tse: what is reported as `proxy`
    eval_every_epoch: bool = True  # ASHA needs a score each epoch; otherwise only the last
    checkpoints: str | None = None  # folder for resumable checkpoints, one sub-folder per label
    threads: int | None = None
    cudnn_benchmark: bool = True
    flip: bool = True  # flip augmentation (the ablation trains one model without it)
    loss_weights: tuple[float, float, float] | None = None  # vert, edge, land; None: the trainer's default


def location() -> dict[str, str]:
    """Where this trial runs: host and GPU ids (as Ray assigned them) or 'cpu'."""
    import ray
    gpus = ray.get_gpu_ids() if ray.is_initialized() else []
    node = ray.get_runtime_context().get_node_id()[:12] if ray.is_initialized() else "local"
    return {"gpu": f"{socket.gethostname()}:{','.join(map(str, gpus))}" if gpus else "cpu", "node": node}


def memory() -> dict[str, float]:
    """This worker's resident host memory and the GPU memory its allocator holds, in GB."""
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9
    except (OSError, ValueError):
        rss = float("nan")
    gpu = torch.cuda.memory_reserved() / 1e9 if torch.cuda.is_available() else 0.0
    peak = torch.cuda.max_memory_allocated() / 1e9 if torch.cuda.is_available() else 0.0
    return {"host_rss_gb": rss, "gpu_reserved_gb": gpu, "gpu_peak_gb": peak}


def prepared(path: str, device: str) -> DeviceData:
    """The data set of `path` on `device`, prepared once per worker process."""
    key = (path, device)
    if key not in _PREPARED:
        _PREPARED.clear()  # a worker serves one search at a time: free the previous one
        _PREPARED[key] = DeviceData.open(path, device)
    return _PREPARED[key]


def one_line(exc: BaseException) -> str:
    """`Type: message` on one line, bounded in length."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:400]


def run_training(config: dict[str, Any], plans: dict[str, TrialPlan]) -> None:
    """Train `config['arch']` with the plan `config.get('plan', 'proxy')`, reporting each epoch.

    Stage 2's grid search nests the same keys under `job`.
    """
    config = config.get("job", config)
    plan = plans[config.get("plan", "proxy")]
    where = location()
    if plan.threads:
        torch.set_num_threads(plan.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    cfg = TrainConfig(arch=config["arch"], epochs=plan.epochs, batch=plan.batch, res=plan.res,
                      train_fraction=plan.train_fraction, seed=plan.seed, val_max=plan.val_max,
                      eval_every=1 if plan.eval_every_epoch else plan.epochs, device=device,
                      cudnn_benchmark=plan.cudnn_benchmark, flip=plan.flip,
                      **({"loss_weights": plan.loss_weights} if plan.loss_weights else {}))
    out_dir = Path(plan.checkpoints) / config["label"] if plan.checkpoints and config.get("label") else None
    tse = 0.0
    last_epoch = 0
    start = time.perf_counter()

    def on_epoch(epoch: int, row: dict[str, Any]) -> None:
        nonlocal tse, last_epoch
        tse += row["train_loss"]
        last_epoch = epoch
        proxy = tse if plan.proxy_score == "tse" else row.get("score")
        metrics = {k: v for k, v in row.items() if isinstance(v, (int, float))}
        if proxy is not None:  # epochs without validation have no score to report
            metrics["proxy"] = proxy
        # a trial stopped at this report (ASHA, or max_t reached) sends no other: say everything now
        tune.report({**metrics, "epoch": epoch, "tse": tse, "wall_s": time.perf_counter() - start,
                     **memory(), **where, "reported_at": time.time()})

    failure = None
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    try:
        result = train(cfg, prepared(plan.data, device), out_dir, on_epoch, resume=True)
    except Exception as exc:  # ASHA's stop is a SystemExit and passes through
        failure = one_line(exc)
        if os.environ.get("NAS_TRIAL_TRACEBACKS"):
            traceback.print_exc()
    if failure is not None:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # an out-of-memory trial must not starve the next one
        tune.report({"failed": 1, "failure": failure, "proxy": math.inf, "epoch": last_epoch, **where,
                     "reported_at": time.time()})
        return
    tune.report({"epoch": plan.epochs, "proxy": result.tse if plan.proxy_score == "tse" else result.score,
                 "score": result.score, "v1_v2": result.v1_v2, "v1_v3": result.v1_v3,
                 "v1_v4_x10": result.v1_v4_x10, "tse": result.tse, "wall_s": result.wall_s,
                 "images_per_s": result.images_per_s, "done_training": 1,
                 "checkpoint": result.checkpoint or "", **memory(), **where, "reported_at": time.time()})
