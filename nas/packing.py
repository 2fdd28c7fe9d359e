"""How many trainings share one GPU, decided from measurement rather than from a flag (issue 13).

A probe trains one architecture of the search alone on a GPU for one epoch of the plan and measures what a
training needs: the GPU memory its process holds (allocator and data, plus a CUDA context), how long it takes
to set up, to train an epoch and to score one, and its training images per second. As many trainings share a
GPU as its memory holds with a margin, two CPUs each, and at most `limit`:

    per_gpu = min(headroom * memory / (safety * footprint), CPUs per GPU / 2, limit)

Why memory and not idle time: the first rule packed until the probe's idle share (1 - duty)^k fell under 10 %, and
it packed too little, because a probe alone does not see the per-trial costs outside training (Ray's scheduling,
start-up, reporting). Measured on one H200 (docs/results/stage1_throughput, BENCHMARKS.md), 32 proxy trials of 2
epochs: 1 per GPU 29.7 % mean utilisation, 3 (the idle rule) 77.3 %, 4 85.2 %, 6 86.9 %, trials/h rising
313 -> 630 -> 711 -> 720; 6-epoch proxies of the fidelity study: 70 % at 1 per GPU (the idle rule, busy 91 % alone)
and 92 % at 4. More trainings never lowered throughput; memory is what bounds them. The busy share is still
measured and reported. `--gpus-per-trial` overrides. A trial that runs out of memory anyway is run again on a
whole GPU (`nas.search`), never recorded as a bad architecture.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

CONTEXT_GB = 0.6  # what a CUDA context and cuDNN/cuBLAS workspaces hold outside the allocator (measured ~0.5 GB)


@dataclass(frozen=True)
class Measure:
    """What one training needs, measured alone on a GPU."""

    footprint_gb: float  # GPU memory of the training's process (allocator reserved + context)
    gpu_gb: float  # memory of the GPU
    setup_s: float  # data on the device to the first step: building the network and optimiser
    epoch_s: float  # one training epoch of the plan
    val_s: float  # one validation
    img_s: float  # training images per second
    device_used_gb: float = 0.0  # the GPU's used memory after the probe (it runs alone): checks footprint_gb

    def duty(self, epochs: int, validations: int) -> float:
        """The share of a training's wall time that the GPU spends training."""
        busy = epochs * self.epoch_s
        return busy / max(busy + self.setup_s + validations * self.val_s, 1e-9)

    def to_dict(self) -> dict[str, float]:
        """Plain form for summary.json."""
        return {k: round(v, 4) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Packing:
    """The decision: trainings per GPU, and the numbers and words that justify it."""

    per_gpu: int
    reason: str
    measure: dict[str, float]

    @property
    def gpus_per_trial(self) -> float:
        """The GPU share of one trial."""
        return 1.0 / self.per_gpu


def per_gpu(m: Measure, epochs: int, validations: int, cpus_per_gpu: int, limit: int = 8, headroom: float = 0.9,
            safety: float = 1.5) -> Packing:
    """Trainings per GPU from measured numbers (a pure function; see the module's docstring)."""
    duty = m.duty(epochs, validations)
    by_memory = max(1, int(headroom * m.gpu_gb // (safety * m.footprint_gb)))
    by_cpu = max(1, cpus_per_gpu // 2)
    k = max(1, min(by_memory, by_cpu, limit))
    reason = (f"{k} per GPU: memory allows {by_memory} ({m.footprint_gb:.1f} of {m.gpu_gb:.0f} GB each, x{safety} "
              f"margin); {cpus_per_gpu} CPUs per GPU allow {by_cpu}; at most {limit} (one training alone keeps the "
              f"GPU busy {100 * duty:.0f}% of its time)")
    return Packing(k, reason, {**m.to_dict(), "duty": round(duty, 4)})


def probe(task_name: str, plan: Any, arch: str) -> dict[str, float]:
    """Train `arch` alone for one epoch of `plan` (with its validation) and measure it; runs in a Ray worker."""
    import torch

    from nas.tasks import get_task
    from nas.trial import device_name, prepared
    device = device_name()
    task = get_task(task_name)
    data = prepared(task_name, plan.data, device)
    settings = {**plan.settings(arch, device), "epochs": 1, "eval_every": 1}
    rows: list[dict[str, Any]] = []
    for _ in range(2):  # the first run pays for lazy CUDA, cuDNN and kernel loading, which reused workers do not
        rows.clear()
        torch.cuda.synchronize()
        start = time.perf_counter()
        task.train(settings, data, None, lambda epoch, row: rows.append(row))
        wall = time.perf_counter() - start
    row = rows[-1]
    free, total = torch.cuda.mem_get_info()
    return {"footprint_gb": torch.cuda.memory_reserved() / 1e9 + CONTEXT_GB, "gpu_gb": total / 1e9,
            "setup_s": max(wall - row["train_s"] - row.get("val_s", 0.0), 0.0), "epoch_s": row["train_s"],
            "val_s": row.get("val_s", 0.0), "img_s": row["images_per_s"], "device_used_gb": (total - free) / 1e9}


def calibrate(task_name: str, plan: Any, arch: str) -> Measure:
    """`probe` on one whole GPU of the cluster, as a Ray task."""
    import ray
    # max_calls=1: the probe's worker exits afterwards, so its CUDA context and cached blocks do not stay on the
    # GPU beside the trainings it sized
    remote = ray.remote(num_gpus=1, num_cpus=1, max_retries=0, max_calls=1)(probe)
    return Measure(**ray.get(remote.remote(task_name, plan, arch)))


def decide(key: str, summary: Path, task: str, plan: Any, arch: str, epochs: int, validations: int,
           cluster: tuple[int, float], log: Callable[[str], None] = print) -> Packing:
    """The packing stored under `key` in summary.json, else measured now (a probe of `arch` under `plan`) and
    stored there, so that a resumed run keeps its decision."""
    from nas.runs import read_summary, update_summary
    stored = from_summary(read_summary(summary).get(key))
    if stored is not None:
        return stored
    log(f"packing: measuring one training of {arch} alone on a GPU ({key})")
    cpus, gpus = cluster
    decided = per_gpu(calibrate(task, plan, arch), epochs, validations, int(cpus // max(gpus, 1)))
    update_summary(summary, **{key: {**to_summary(decided), "arch": arch}})  # what was timed: nas.final scales it
    return decided


def from_summary(values: Mapping[str, Any] | None) -> Packing | None:
    """A packing stored in summary.json (a resumed run keeps its decision)."""
    if not values:
        return None
    return Packing(int(values["per_gpu"]), str(values["reason"]), dict(values.get("measure", {})))


def to_summary(p: Packing) -> dict[str, Any]:
    """Plain form for summary.json."""
    return {"per_gpu": p.per_gpu, "reason": p.reason, "measure": p.measure}
