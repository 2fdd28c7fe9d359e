"""Measured speed of one JMLR network alone on its device: training and inference images/s, batch-1 latency.

The network, loss, optimiser, precision (bf16 autocast on CUDA, fp32 on the CPU) and memory format
(channels_last on CUDA) are the training's own (`trainers.train.build_training`, `make_step`); the inputs
are synthetic tensors of the training size, so no data loading is timed. GPU timings use CUDA events,
CPU timings `time.perf_counter`; warm-up iterations are never timed.
"""
from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

import numpy as np
import torch

from trainers.errors import ConfigError
from trainers.feeder import resolve_device
from trainers.schedule import scaled_lr
from trainers.train import TrainConfig, _device_name, build_training, make_step, use_amp

SPEED_KEYS = ("train_img_s", "infer_img_s", "latency_ms_b1", "latency_ms_b1_iqr")
GPU_DEFAULTS = {"warmup": 10, "steps": 30, "repeats": 200}
CPU_DEFAULTS = {"warmup": 2, "steps": 3, "repeats": 20}


@dataclass(frozen=True)
class SpeedConfig:
    """Sizes and repeats of one measurement; a `None` count takes the device's default (GPU_/CPU_DEFAULTS)."""

    batch_train: int = 256
    batch_infer: int = 256
    res: int = 256
    warmup: int | None = None  # untimed iterations before each timing
    steps: int | None = None  # timed training steps and timed inference batches
    repeats: int | None = None  # timed batch-1 forwards (the latency's median and IQR are over these)
    device: str = "auto"
    cuda_graph: bool = True  # batch-1 latency through a CUDA graph where capture works (else eager)

    def __post_init__(self) -> None:
        for name in ("batch_train", "batch_infer", "res", "warmup", "steps", "repeats"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < (0 if name == "warmup" else 1)):
                raise ConfigError(f"speed {name} must be a whole number >= {int(name != 'warmup')}, got {value!r}")

    @classmethod
    def of(cls, config: TrainConfig, repeats: int | None = None) -> SpeedConfig:
        """The measurement of a training's settings: its batch, input size and device."""
        return cls(batch_train=config.batch, res=config.res, device=config.device, repeats=repeats)

    def resolved(self, device: torch.device) -> SpeedConfig:
        """These settings with every unset count filled in for `device`."""
        defaults = GPU_DEFAULTS if device.type == "cuda" else CPU_DEFAULTS
        return replace(self, **{k: v for k, v in defaults.items() if getattr(self, k) is None})


def default_mesh() -> tuple[int, np.ndarray]:
    """Vertices and triangles of the procedural face (the embedded default data's mesh)."""
    from facedata.face_model import procedural_face_model
    model = procedural_face_model()
    return model.num_vertices, model.triangles


def measure_speed(config: TrainConfig, speed: SpeedConfig | None = None,
                  mesh: tuple[int, np.ndarray] | None = None) -> dict[str, float | str]:
    """train_img_s, infer_img_s, latency_ms_b1 (median), latency_ms_b1_iqr and speed_device of `config`'s network.

    `speed` defaults to `SpeedConfig.of(config)`; `mesh` (vertices, triangles) sizes the head and the edge
    loss, the procedural face's by default. Global state (RNG, threads, backend flags) is left as found.
    """
    speed = speed or SpeedConfig.of(config)
    device = resolve_device(speed.device)
    s = speed.resolved(device)
    num_verts, triangles = mesh if mesh is not None else default_mesh()
    lr = scaled_lr(config.lr, s.batch_train) / max(1, config.warmup_steps)  # the warm-up's first step's
    with kept_backend_flags(), (torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()):
        model, optimizer, loss_fn = build_training(config, num_verts, triangles, device, lr)
        amp = use_amp(config, device)
        infer = infer_img_s(model, s, device, amp)  # before training moves the weights
        median, iqr = latency_ms(model, s, device, amp)
        train = train_img_s(make_step(model, optimizer, loss_fn, num_verts, amp=amp), num_verts, s, device)
    return {"train_img_s": train, "infer_img_s": infer, "latency_ms_b1": median, "latency_ms_b1_iqr": iqr,
            "speed_device": _device_name(device)}


@contextlib.contextmanager
def kept_backend_flags() -> Iterator[None]:
    """Restore cuDNN autotuning and the TF32 switches that building the training sets on CUDA."""
    saved = (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def images(batch: int, res: int, device: torch.device) -> torch.Tensor:
    """A seeded synthetic input batch (B, 3, res, res), channels_last as `prepare_batch` makes it."""
    gen = torch.Generator().manual_seed(batch * 7919 + res)  # its own generator: the global RNG is untouched
    x = torch.randn(batch, 3, res, res, generator=gen).to(device)
    return x.contiguous(memory_format=torch.channels_last)


def timed_s(fn: Callable[[], Any], warmup: int, steps: int, device: torch.device) -> float:
    """Seconds that `steps` calls of `fn` take after `warmup` untimed ones (CUDA events on a GPU)."""
    for _ in range(warmup):
        fn()
    if device.type != "cuda":
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        return time.perf_counter() - t0
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize(device)
    start.record()
    for _ in range(steps):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3


def train_img_s(step: Callable[..., torch.Tensor], num_verts: int, s: SpeedConfig, device: torch.device) -> float:
    """Training images/s: forward, backward and optimiser step on a synthetic batch with synthetic targets."""
    x = images(s.batch_train, s.res, device)
    gen = torch.Generator().manual_seed(s.batch_train)
    verts = torch.randn(s.batch_train, num_verts, 3, generator=gen).to(device)
    points = torch.rand(s.batch_train, num_verts, 2, generator=gen).mul(2).sub(1).to(device)
    return s.batch_train * s.steps / timed_s(lambda: step(x, verts, points), s.warmup, s.steps, device)


def forward_fn(model: torch.nn.Module, x: torch.Tensor, amp: bool, cache: bool = True) -> Callable[[], torch.Tensor]:
    """The network's inference on `x` (eval mode, `torch.inference_mode`, the training's precision)."""
    def forward() -> torch.Tensor:
        with torch.inference_mode(), (torch.autocast(x.device.type, torch.bfloat16, cache_enabled=cache)
                                      if amp else contextlib.nullcontext()):
            return model(x)
    return forward


def infer_img_s(model: torch.nn.Module, s: SpeedConfig, device: torch.device, amp: bool) -> float:
    """Inference images/s at `s.batch_infer`."""
    model.eval()
    forward = forward_fn(model, images(s.batch_infer, s.res, device), amp)
    seconds = timed_s(forward, s.warmup, s.steps, device)
    model.train()
    return s.batch_infer * s.steps / seconds


def latency_ms(model: torch.nn.Module, s: SpeedConfig, device: torch.device, amp: bool) -> tuple[float, float]:
    """Median and interquartile range (ms) of `s.repeats` batch-1 forwards, each timed alone after warm-up."""
    model.eval()
    forward = forward_fn(model, images(1, s.res, device), amp, cache=device.type != "cuda")
    if device.type == "cuda" and s.cuda_graph:
        forward = graphed(forward, device) or forward
    for _ in range(s.warmup):
        forward()
    times = np.array([one_call_ms(forward, device) for _ in range(s.repeats)])
    model.train()
    q1, median, q3 = np.percentile(times, [25, 50, 75])
    return float(median), float(q3 - q1)


def one_call_ms(fn: Callable[[], Any], device: torch.device) -> float:
    """Milliseconds of one call of `fn`, waited for (CUDA events on a GPU)."""
    if device.type != "cuda":
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end)


def graphed(forward: Callable[[], torch.Tensor], device: torch.device) -> Callable[[], Any] | None:
    """`forward` captured in a CUDA graph (its replay), or None with a warning where capture fails."""
    prev = torch.cuda.current_stream(device)
    side, pool, graph = torch.cuda.Stream(device), torch.cuda.graph_pool_handle(), torch.cuda.CUDAGraph()
    try:
        side.wait_stream(prev)
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up (and cuDNN autotuning) outside the capture, as CUDA graphs ask
                forward()
        prev.wait_stream(side)
        with torch.cuda.graph(graph, pool=pool, stream=side, capture_error_mode="thread_local"):
            forward()
    except RuntimeError as exc:  # capture is not possible everywhere: time the eager forward instead
        _abandon_capture(prev, pool, device)
        warnings.warn(f"batch-1 latency measured eagerly: CUDA graph capture failed ({exc.__context__ or exc})",
                      RuntimeWarning)
        return None

    def replay() -> None:
        graph.replay()
    replay.forward = forward  # type: ignore[attr-defined]  # keeps the captured input tensor alive
    return replay


def _abandon_capture(prev: torch.cuda.Stream, pool: Any, device: torch.device) -> None:
    """Undo what a capture that raised leaves behind: torch's `graph.__exit__` skips restoring the stream, and the
    allocator still routes this device's allocations to the graph's pool, when `capture_end` raises."""
    torch.cuda.set_stream(prev)
    end_pool = getattr(torch._C, "_cuda_endAllocateToPool", None)  # no public API for it
    if end_pool is not None:
        with contextlib.suppress(RuntimeError):
            end_pool(device.index if device.index is not None else torch.cuda.current_device(), pool)
    with contextlib.suppress(RuntimeError):
        torch.cuda.synchronize(device)
