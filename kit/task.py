"""The task seam: what the search driver (`nas`) asks of a task, and the small types both sides share.

A task owns its data, its model head, its loss and its held-out metric; `nas` trains and scores through it
and never imports the task's code directly. Faces (JMLR on WCPA-layout data, `trainers.task.FaceTask`) is the
one task shipped; a second task implements this protocol and registers in `nas.tasks`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

OnEpoch = Callable[[int, dict], None]
"""`on_epoch(epoch, row)` after each epoch (1-based): the epoch's numbers (train_loss, images_per_s, and the
metric and its terms where the epoch was scored); it may raise to stop the training (ASHA does)."""


@dataclass(frozen=True)
class MetricSpec:
    """A task's held-out metric: its name, unit, direction and the terms it is the sum of."""

    name: str
    unit: str
    direction: str  # "min" or "max"
    terms: tuple[str, ...] = ()
    title: str = ""


@dataclass(frozen=True)
class Experiment:
    """One row of a task's ablation grid: a network trained with some task options, or an ensemble of rows."""

    key: str
    arch: str
    options: Mapping[str, Any] = field(default_factory=dict)  # task options of its training (e.g. flip)
    members: tuple[str, ...] = ()  # an ensemble of these experiments (trains nothing itself)
    columns: Mapping[str, Any] = field(default_factory=dict)  # what the results table shows of its options


@dataclass
class Probe:
    """What a zero-cost proxy scores: the untrained network on one batch of the task's training data."""

    model: Any  # in train mode, on the data's device
    inputs: Any  # one batch of network inputs
    loss: Callable[[Any], Any]  # network outputs -> the task's scalar training loss on that batch


class Task(Protocol):
    """What `nas` needs of a task."""

    name: str
    metric: MetricSpec
    flop_res: int  # input size at which FLOP budgets are counted
    flop_outputs: int  # head width at which FLOP budgets are counted
    ablation_columns: tuple[str, ...]  # the columns `Experiment.columns` fills

    def check_data(self, data: str | None) -> None:
        """Refuse (a ToolkitError) a `--data` the task cannot use, without building anything."""

    def prepare_data(self, data: str | None, out: Path, *, res: int, seed: int, size: Mapping[str, int],
                     progress: Callable[[str, int], Callable[[int], None]] | None = None) -> Path:
        """The prepared data set a search trains on (the embedded default where `data` is None)."""

    def splits(self, path: str) -> dict[str, Any]:
        """The prepared data's splits: `subjects` per split (train, selection, test: disjoint; what a search ranks
        on is `selection`, what its final comparison is scored on is `test`) and `frames` per split."""

    def open(self, path: str, device: str) -> Any:
        """The data set at `path` ready on `device` (kept by a worker across trials)."""

    def train(self, settings: Mapping[str, Any], data: Any, out_dir: Path | None, on_epoch: OnEpoch | None) -> dict:
        """Train one network. `settings`: space, arch, epochs, res, batch, seed, train_fraction, val_max,
        eval_every, checkpoint_every (epochs between checkpoints in `out_dir`), threads, cudnn_benchmark, device,
        and the task's own options. Returns the final metric and terms, `epochs`, `wall_s`, `images_per_s`, `tse`,
        `checkpoint` and the `history` of epoch rows."""

    def evaluate(self, checkpoints: Sequence[str], data: Any, split: str = "val") -> dict:
        """The metric and terms of one checkpoint or an ensemble (predictions averaged) on a labelled split: the
        task's own split name, or 'selection' / 'test' as `train`'s `split` setting means them."""

    def probe(self, settings: Mapping[str, Any], data: Any, batch: int) -> Probe:
        """The network of `settings` at initialisation (seeded as `train` seeds it) and one training batch."""

    def speed(self, settings: Mapping[str, Any], repeats: int | None = None) -> dict[str, float | str]:
        """The network of `settings` (as `train` takes them) timed alone on their device, on synthetic inputs:
        `train_img_s` (training images/s at their batch and res), `infer_img_s` (inference images/s, batch 256),
        `latency_ms_b1` (median of `repeats` batch-1 forwards, a device default where None),
        `latency_ms_b1_iqr` (their interquartile range) and `speed_device` (the device's name)."""

    def ablation(self, searched: str) -> list[Experiment]:
        """The task's ablation grid around a searched architecture."""
