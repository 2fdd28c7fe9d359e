"""The JMLR training loop: `TrainConfig`, `train()` and `TrainResult`.

One call trains one architecture on a cache (or on a prepared `DeviceData`), validates after each epoch
(PnP + WCPA score on held-out subjects), calls `on_epoch(epoch, metrics)`, and, with an `out_dir`,
keeps `config.json`, `history.csv`, `last.pt` (atomic, every epoch) and `metrics.json` there.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from search_spaces import DEFAULT_SPACE, create_space
from kit.limits import MAX_BATCH, MAX_RES, MIN_RES
from kit.atomic import write_csv, write_json
from kit.config import option
from kit.config import seed as seed_type
from trainers.augment import AugmentConfig, prepare_batch
from trainers.checkpoint import CHECKPOINT_NAME, check_topology, load_checkpoint, save_checkpoint
from trainers.device_data import DeviceData, subset
from trainers.errors import CheckpointError, ConfigError, DivergedError
from trainers.evaluate import Predictor, autocast, score_split
from trainers.feeder import MODES, overlapped, resolve_device
from trainers.progress import write_progress
from trainers.losses import JMLRLoss, LossWeights
from trainers.model import OUTPUTS_PER_VERTEX, build_jmlr, split_outputs
from trainers.schedule import jmlr_schedule
from trainers.targets import pixels_to_unit, rescale_points, verts_to_target

# settings that may change between a run and its resumption without changing what it computes
RESUME_FREE = frozenset({"device", "compile", "cudnn_benchmark", "eval_batch", "data_mode", "pnp_workers", "pnp",
                         "check_every", "checkpoint_every"})


@dataclass
class TrainConfig:
    """Every setting of one JMLR training; `lr` is for a batch of 512 and scales with `batch`."""

    arch: str = option(help="a baseline name or the space's text form, e.g. resnet34d or d5.3.4.2_w64.160.272.512",
                       required=True)
    space: str = option(DEFAULT_SPACE, help="the search space the architecture belongs to")
    epochs: int = option(40, help="epochs")
    batch: int = option(256, help="batch size")
    lr: float = option(0.1, help="learning rate for a batch of 512, scaled linearly with --batch")
    momentum: float = option(0.9, help="SGD momentum")
    weight_decay: float = option(5e-4, help="weight decay")
    warmup_steps: int = option(1000, help="linear warm-up steps, at most 10% of the run")
    train_fraction: float = option(1.0, help="train on this seeded random fraction of the training frames "
                                             "(the same for every architecture)")
    res: int = option(256, help="network input size")
    flip: bool = option(True, help="flip augmentation (--no-flip: the paper's ablation)")
    jitter: bool = option(True, help="colour jitter")
    geo_aug: float = option(0.0, help="probability of a small random rotation/scale/shift per sample (0: off, as "
                                      "the paper)")
    loss_weights: tuple[float, float, float] = option((1.0, 0.25, 2.0), parse=str, metavar="V,E,L",
                                                      help="vertex, edge-length and landmark loss weights (1,0,2: "
                                                           "no edge loss)")
    device: str = option("auto", help="auto (the GPU if there is one), cpu, cuda or cuda:N")
    compile: bool = option(False, help="torch.compile the network (pays off on long runs)")
    amp: bool | None = option(None, help="bf16 autocast (default: on CUDA only)", cli=False)
    seed: int = option(0, help="random seed (>= 0)", parse=seed_type)
    eval_every: int = option(1, help="validate every N epochs (and always after the last)")
    val_max: int | None = option(None, help="score at most N validation frames (a seeded subset)")
    val_split: str = option("val", help="split scored during and after training: val (the selection subjects) or "
                                        "hold (held-out test subjects)", choices=("val", "hold"))
    val_flip_tta: bool = option(False, help="validate with flip test-time augmentation", flag="flip-tta")
    eval_batch: int = option(256, help="inference batch of validation")
    data_mode: str = option("auto", help="keep splits on the GPU (resident) or stream them from the cache "
                                         "(auto: by size)", choices=MODES)
    pnp_workers: int | None = option(None, help="PnP threads of the OpenCV solver (default: the CPU count)")
    pnp: str = option("auto", help="pose solver of validation: torch (batched, on the GPU), cv2 (OpenCV on CPU "
                                   "threads), auto: torch on a GPU, cv2 on the CPU", choices=("auto", "cv2", "torch"))
    check_every: int = option(50, help="steps between NaN checks (each costs one device sync)", cli=False)
    cudnn_benchmark: bool = option(True, help="autotune convolutions: pays off over long runs, not short proxies")
    checkpoint_every: int = option(1, help="epochs between checkpoints (and always after the last)", cli=False)

    def __post_init__(self) -> None:
        backbones = create_space(self.space)  # a SearchSpaceError (exit 2 at the CLI) for an unknown space
        parsed = backbones.parse(self.arch)  # an ArchError for an unknown architecture
        backbones.check_buildable(parsed, str(self.arch).strip())  # an ArchError for one too large to build
        self.arch = self.arch.strip() if isinstance(self.arch, str) else backbones.format(parsed)
        self.loss_weights = tuple(dataclasses.astuple(LossWeights.parse(self.loss_weights)))
        positive = {"epochs": self.epochs, "batch": self.batch, "res": self.res, "eval_every": self.eval_every,
                    "eval_batch": self.eval_batch, "check_every": self.check_every,
                    "checkpoint_every": self.checkpoint_every}
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive whole number, got {value!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a whole number >= 0, got {self.seed!r}")
        if not (0 < self.train_fraction <= 1):
            raise ConfigError(f"train_fraction must be in (0, 1], got {self.train_fraction}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive number, got {self.lr}")
        if not (0 <= self.geo_aug <= 1):
            raise ConfigError(f"geo_aug is a probability, got {self.geo_aug}")
        if self.data_mode not in MODES:
            raise ConfigError(f"data_mode must be one of {MODES}, got {self.data_mode!r}")
        if self.val_max is not None and self.val_max < 1:
            raise ConfigError(f"val_max must be positive, got {self.val_max}")
        self._check_bounds()

    def _check_bounds(self) -> None:
        """ConfigError for a size past its stated bound (it would only fail later, allocating) or a negative rate."""
        for name, value, low, high in (("res", self.res, MIN_RES, MAX_RES), ("batch", self.batch, 1, MAX_BATCH),
                                       ("eval_batch", self.eval_batch, 1, MAX_BATCH)):
            if not low <= value <= high:
                raise ConfigError(f"{name} must be {low} to {high}, got {value}")
        if self.pnp_workers is not None and (not isinstance(self.pnp_workers, int) or self.pnp_workers < 1):
            raise ConfigError(f"pnp_workers must be a positive whole number, got {self.pnp_workers!r}")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps must be a whole number >= 0, got {self.warmup_steps!r}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise ConfigError(f"weight_decay must be a number >= 0, got {self.weight_decay}")

    @property
    def weights(self) -> LossWeights:
        """The loss weights as a `LossWeights`."""
        return LossWeights(*self.loss_weights)

    def augment(self) -> AugmentConfig:
        """The training augmentation these settings ask for."""
        return AugmentConfig(flip=self.flip, jitter_p=0.5 if self.jitter else 0.0, geo_p=self.geo_aug)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (loads back with `TrainConfig(**d)`)."""
        d = dataclasses.asdict(self)
        d["loss_weights"] = list(self.loss_weights)
        return d


@dataclass
class TrainResult:
    """The outcome of `train`: final validation score and terms, speed, size and the per-epoch history."""

    arch: str
    gflops: float
    params_m: float
    score: float | None
    v1_v2: float | None
    v1_v3: float | None
    v1_v4_x10: float | None
    epochs: int
    images_per_s: float
    device: str
    train_loss: float
    tse: float  # sum of the epochs' mean training losses (a proxy score, Ru et al. 2021)
    wall_s: float  # seconds from the call to the end; a resumed training adds what its checkpoint had taken
    batch: int
    peak_lr: float
    steps: int
    checkpoint: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def metrics(self) -> dict[str, Any]:
        """Everything but the history, as written to `metrics.json`."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "history"}


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _check_resumable(ckpt: dict[str, Any], config: TrainConfig, path: Path) -> None:
    # older runs: one space, scored on the selection subjects
    stored, now = {"space": DEFAULT_SPACE, "val_split": "val", **ckpt["config"]}, config.to_json()
    diff = sorted(k for k in set(stored) | set(now) if k not in RESUME_FREE and stored.get(k) != now.get(k))
    if diff:
        details = ", ".join(f"{k}: {stored.get(k)!r} -> {now.get(k)!r}" for k in diff)
        raise CheckpointError(f"{path}: cannot resume with different settings ({details})")


def _prepare(config: TrainConfig, data: Any, device: torch.device) -> DeviceData:
    if isinstance(data, DeviceData):
        if data.device != device:
            raise ConfigError(f"the prepared data lives on {data.device}, the run asks for {device}")
        return data
    if isinstance(data, (str, Path)):
        return DeviceData.open(data, device, config.data_mode)
    return DeviceData(data, device, config.data_mode)


def train(config: TrainConfig, data: Any, out_dir: "str | Path | None" = None,
          on_epoch: Callable[[int, dict[str, Any]], None] | None = None, *, resume: bool = False,
          progress: Callable[[int, int], None] | None = None) -> TrainResult:
    """Train `config.arch` on `data` (a cache path, a cache object or a prepared `DeviceData`).

    `on_epoch(epoch, metrics)` runs after each epoch (1-based), after its checkpoint is written; it may
    raise to stop the run. `progress(step, total_steps)` runs after each step. With `resume`, a run
    continues from `out_dir/last.pt` and ends exactly where an uninterrupted run would. A NaN or
    infinite loss raises `DivergedError`.
    """
    wall0 = time.perf_counter()
    device = resolve_device(config.device)
    data = _prepare(config, data, device)
    topo = data.topology
    num_verts = topo.num_verts
    train_src = data.source("train")
    if train_src is None:
        raise ConfigError("the cache holds no training frames")
    train_local = subset(len(train_src), config.train_fraction, seed=config.seed)
    batch = min(config.batch, len(train_local))
    steps_per_epoch = len(train_local) // batch
    total_steps = steps_per_epoch * config.epochs
    schedule = jmlr_schedule(config.lr, batch, total_steps, config.warmup_steps)
    val_src = data.source(config.val_split) if config.val_split in data.rows else None
    val_local = subset(len(val_src), limit=config.val_max, seed=config.seed) if val_src is not None else None

    model, optimizer, loss_fn = build_training(config, num_verts, topo.triangles, device, schedule(0))
    augment = config.augment()

    out = Path(out_dir) if out_dir is not None else None
    ckpt_path = out / CHECKPOINT_NAME if out else None
    history: list[dict[str, Any]] = []
    start_epoch = 0
    if out and ckpt_path.exists():
        if not resume:
            raise ConfigError(f"{out} already holds a run ({CHECKPOINT_NAME}); resume it or choose another folder")
        ckpt = load_checkpoint(ckpt_path)
        _check_resumable(ckpt, config, ckpt_path)
        check_topology(ckpt, topo.signature(), ckpt_path, "the cache")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        match_state_layout(optimizer)
        start_epoch, history = int(ckpt["epoch"]), list(ckpt["history"])
        wall0 -= float(ckpt.get("wall_s", 0.0))  # a resumed training's wall counts the time its checkpoint holds
    if out:
        write_json(out / "config.json", {**config.to_json(), "resolved": {
            "device": str(device), "batch": batch, "peak_lr": schedule.peak, "warmup_steps": schedule.warmup,
            "total_steps": total_steps, "train_frames": int(len(train_local)),
            "val_frames": int(len(val_local)) if val_local is not None else 0,
            "data_mode": {s: ("resident" if src.resident else "stream") for s, src in data.sources.items()}}})

    amp = use_amp(config, device)
    sgd_step = make_step(model, optimizer, loss_fn, num_verts, amp=amp, compile=config.compile)
    for epoch in range(start_epoch, config.epochs):
        model.train()
        order = np.random.default_rng([config.seed, epoch]).permutation(train_local)
        gen = torch.Generator(device=device)
        gen.manual_seed(config.seed * 1_000_003 + epoch)
        sums = torch.zeros(4, device=device)
        _sync(device)
        t0 = time.perf_counter()
        step = epoch * steps_per_epoch
        def prepare(b: Any) -> tuple[torch.Tensor, ...]:
            return prepare_batch(b.images, b.verts, b.points, res=config.res, flip_index=data.flip_index,
                                 augment=augment, generator=gen)

        batches = overlapped(train_src.iter_batches(order, batch, drop_last=True), prepare, device)
        for i, (x, verts_t, points_t) in enumerate(batches):
            step = epoch * steps_per_epoch + i
            for group in optimizer.param_groups:
                group["lr"] = schedule(step)
            sums += sgd_step(x, verts_t, points_t)
            if (i + 1) % config.check_every == 0 and not torch.isfinite(sums[0]):
                raise DivergedError(epoch, step + 1, float(sums[0]))
            if progress:
                progress(step + 1, total_steps)
        _sync(device)
        train_s = time.perf_counter() - t0
        means = (sums / steps_per_epoch).tolist()
        if not math.isfinite(means[0]):
            raise DivergedError(epoch, step + 1, means[0])
        row: dict[str, Any] = {"epoch": epoch + 1, "step": (epoch + 1) * steps_per_epoch,
                               "lr": schedule((epoch + 1) * steps_per_epoch - 1), "train_loss": means[0],
                               "loss_vert": means[1], "loss_edge": means[2], "loss_land": means[3],
                               "images_per_s": steps_per_epoch * batch / train_s, "train_s": train_s}
        if val_src is not None and ((epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs):
            row.update(_validate(model, config, data, val_local, amp))
        history.append(row)
        if out and ((epoch + 1) % config.checkpoint_every == 0 or epoch + 1 == config.epochs):
            save_checkpoint(ckpt_path, arch=config.arch, space=config.space, num_verts=num_verts, res=config.res,
                            topology=topo.signature(), config=config.to_json(), epoch=epoch + 1,
                            model=model.state_dict(), optimizer=optimizer.state_dict(), history=history,
                            wall_s=time.perf_counter() - wall0)
            write_progress(out, epoch + 1, config.epochs, time.perf_counter() - wall0)
        if out:
            write_csv(out / "history.csv", history)
        if on_epoch:
            on_epoch(epoch + 1, dict(row))

    result = _result(config, topo.num_verts, device, batch, schedule.peak, total_steps, history,
                     time.perf_counter() - wall0, str(ckpt_path) if ckpt_path else None)
    if out:
        write_json(out / "metrics.json", result.metrics())
    return result


def build_training(config: TrainConfig, num_verts: int, triangles: np.ndarray, device: torch.device,
                   lr: float) -> tuple[torch.nn.Module, torch.optim.Optimizer, JMLRLoss]:
    """The seeded network on `device` (channels_last on CUDA), its SGD optimiser at `lr` and the JMLR loss.

    On CUDA it also sets cuDNN autotuning (`config.cudnn_benchmark`) and TF32, as training runs.
    """
    with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the caller's RNG
        torch.manual_seed(config.seed)
        model = build_jmlr(config.arch, num_verts, config.space)  # on the CPU: the same weights on every device
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = config.cudnn_benchmark
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model = model.to(device, memory_format=torch.channels_last if cuda else torch.contiguous_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=config.momentum,
                                weight_decay=config.weight_decay, **({"fused": True} if cuda else {}))
    return model, optimizer, JMLRLoss(triangles, config.weights).to(device)


def match_state_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give each loaded optimiser buffer its parameter's memory layout. A run resumed on another kind of device
    (CPU: contiguous, CUDA: channels_last) brings buffers whose strides differ from the weights', and CUDA's fused
    SGD refuses those at the first step."""
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == param.shape and value.stride() != param.stride():
                state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def use_amp(config: TrainConfig, device: torch.device) -> bool:
    """Whether training runs under bf16 autocast: `config.amp`, by default on CUDA only."""
    return device.type == "cuda" if config.amp is None else config.amp


def make_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss_fn: JMLRLoss, num_verts: int, *,
              amp: bool, compile: bool = False) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """One SGD step on a prepared batch; returns the detached (total, vert, edge, land) losses (4,).

    The training loop and the benchmark's compute-only ceiling both use it, so they time the same work.
    With `compile`, the network's forward (and so its backward) goes through `torch.compile`.
    """
    net = torch.compile(model) if compile else model
    device = next(model.parameters()).device

    def step(x: torch.Tensor, verts_t: torch.Tensor, points_t: torch.Tensor) -> torch.Tensor:
        with autocast(device, amp):
            pred = net(x)
        pred_v, pred_p = split_outputs(pred.float(), num_verts)
        loss, terms = loss_fn(pred_v, pred_p, verts_t, points_t)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return torch.stack([loss.detach(), terms["vert"], terms["edge"], terms["land"]])

    return step


def _validate(model: torch.nn.Module, config: TrainConfig, data: DeviceData, local: np.ndarray,
              amp: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    model.eval()
    result = score_split([Predictor(model, config.res)], data, config.val_split, local, flip_tta=config.val_flip_tta,
                         batch=config.eval_batch, amp=amp, workers=config.pnp_workers, pnp=config.pnp)
    model.train()
    return {**result.score.as_dict(), "val_loss": _held_out_loss(result, config, data, local),
            "pnp_failures": result.pnp_failures, "val_s": time.perf_counter() - t0}


def _held_out_loss(result: Any, config: TrainConfig, data: DeviceData, local: np.ndarray) -> float:
    """The training loss (eq. 4, the config's weights) of the held-out predictions: a score without PnP."""
    gt = data.labels(config.val_split, local, ("verts", "points2d"))
    cache_res = data.topology.res
    as_target = lambda v, p: (verts_to_target(torch.as_tensor(v, device=data.device).float()),  # noqa: E731
                              pixels_to_unit(rescale_points(torch.as_tensor(p, device=data.device).float(), cache_res,
                                                            config.res), config.res))
    loss = JMLRLoss(data.topology.triangles, config.weights).to(data.device)
    return float(loss(*as_target(result.verts, result.points_crop), *as_target(gt["verts"], gt["points2d"]))[0])


def _result(config: TrainConfig, num_verts: int, device: torch.device, batch: int, peak_lr: float, steps: int,
            history: list[dict[str, Any]], wall_s: float, checkpoint: str | None) -> TrainResult:
    backbones = create_space(config.space, res=config.res, outputs=num_verts * OUTPUTS_PER_VERTEX)
    arch = backbones.parse(config.arch)
    size = backbones.complexity(arch)
    last = history[-1] if history else {}
    scored = [h for h in history if h.get("score") is not None]
    final = scored[-1] if scored and scored[-1] is last else {}
    speeds = [h["images_per_s"] for h in history]
    return TrainResult(
        arch=backbones.label(arch), gflops=size.flops / 1e9, params_m=size.params / 1e6, score=final.get("score"),
        v1_v2=final.get("v1_v2"), v1_v3=final.get("v1_v3"), v1_v4_x10=final.get("v1_v4_x10"),
        epochs=len(history), images_per_s=float(np.median(speeds)) if speeds else 0.0,
        device=_device_name(device), train_loss=last.get("train_loss", float("nan")),
        tse=float(sum(h["train_loss"] for h in history)), wall_s=wall_s, batch=batch, peak_lr=peak_lr,
        steps=steps, checkpoint=checkpoint, history=history)
