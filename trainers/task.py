"""The face task (JMLR on WCPA-layout data) behind the task seam that `nas` calls (`kit.task.Task`).

Light to import: torch and the training code load only when a method trains or evaluates.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from kit.task import Experiment, MetricSpec, OnEpoch, Probe

OUTPUTS_PER_VERTEX = 5  # trainers.model's head: world x, y, z and crop x, y per vertex
WCPA_VERTS = 1220  # the WCPA / ARKit mesh
NO_EDGE = (1.0, 0.0, 2.0)  # L_vert + L_land: the paper's row without the edge-length term
PAPER_LOSS = "1,0.25,2"


SPLIT_NAMES = {"val": "selection", "hold": "test"}


def scored_split(split: str, data: Any) -> str:
    """The cache split a training is scored on: 'selection' -> val; 'test' -> the held-out test subjects (hold), or
    val where the cache has none (a cache made before issue 15: the report says selection and test coincide)."""
    if split not in ("selection", "test"):
        raise ValueError(f"split must be 'selection' or 'test', got {split!r}")
    return "hold" if split == "test" and len(data.rows.get("hold", ())) else "val"


def train_config(settings: Mapping[str, Any], val_split: str = "val") -> Any:
    """`trainers.train.TrainConfig` of a trial's settings (the seam's `split` becomes the cache split scored)."""
    from trainers.train import TrainConfig
    return TrainConfig(**{k: v for k, v in settings.items() if k != "split"}, val_split=val_split)


class FaceTask:
    """Perspective 3D face reconstruction: the JMLR head (V x 5 outputs), its loss, PnP and the WCPA error."""

    name = "faces"
    metric = MetricSpec("score", "mm", "min", ("v1_v2", "v1_v3", "v1_v4_x10"), "held-out WCPA score")
    flop_res = 256
    flop_outputs = WCPA_VERTS * OUTPUTS_PER_VERTEX  # budgets are counted with the 6,100-output head
    ablation_columns = ("flip", "loss_weights")

    def check_data(self, data: str | None) -> None:
        """Refuse a `--data` that is neither a crop cache nor a WCPA root (nothing is built here)."""
        from facedata.embedded import check_data
        check_data(data)

    def prepare_data(self, data: str | None, out: Path, *, res: int, seed: int, size: Mapping[str, int],
                     progress: Callable[[str, int], Callable[[int], None]] | None = None) -> Path:
        """The crop cache a search uses: `data` as given, a cache of a WCPA root, or the embedded synthetic set
        of `size['subjects']` x `size['frames_per_subject']` frames, made once under `out/.data`."""
        from facedata.embedded import LEGACY_SPLITS, prepare_data
        splits = (size.get("selection_subjects", LEGACY_SPLITS[0]), size.get("test_subjects", LEGACY_SPLITS[1]))
        return prepare_data(data, out, res, seed, size["subjects"], size["frames_per_subject"], progress, splits)

    def splits(self, path: str) -> dict[str, Any]:
        """The subjects of each split of the prepared data (train, selection, test; WCPA's unlabelled test list as
        wcpa_test), its frame counts and whether it is synthetic (None: not recorded)."""
        from facedata.cache import open_cache
        cache = open_cache(path)
        names = {"train": "train", "val": "selection", "hold": "test", "test": "wcpa_test"}
        return {"subjects": {names[k]: v for k, v in cache.subject_splits().items()},
                "frames": {names[k]: int(v) for k, v in cache.manifest["counts"].items() if k in names and v},
                "synthetic": cache.synthetic()}

    def open(self, path: str, device: str) -> Any:
        """The cache's train and validation splits prepared on `device`."""
        from trainers.device_data import DeviceData
        return DeviceData.open(path, device)

    def train(self, settings: Mapping[str, Any], data: Any, out_dir: Path | None, on_epoch: OnEpoch | None) -> dict:
        """Train one JMLR network (`trainers.train.TrainConfig` takes the settings) and return its result."""
        from trainers.train import train
        split = scored_split(settings.get("split", "selection"), data)
        result = train(train_config(settings, split), data, out_dir, on_epoch, resume=True)
        return {**result.metrics(), "history": result.history, "scored_on": SPLIT_NAMES[split]}

    def evaluate(self, checkpoints: Sequence[str], data: Any, split: str = "val") -> dict:
        """The WCPA score of one checkpoint or an ensemble (predictions averaged before PnP) on a cache split, or on
        the seam's 'selection' / 'test' subjects (as `train` scores them)."""
        from trainers.evaluate import evaluate
        if split in ("selection", "test"):
            split = scored_split(split, data)
            return {**evaluate(list(checkpoints), data, split).metrics(), "scored_on": SPLIT_NAMES[split]}
        return evaluate(list(checkpoints), data, split).metrics()

    def probe(self, settings: Mapping[str, Any], data: Any, batch: int) -> Probe:
        """The network of `settings` at initialisation, seeded as training seeds it, and the first `batch`
        training frames (no augmentation) with the JMLR loss on them."""
        import torch
        from trainers.augment import prepare_batch
        from trainers.losses import JMLRLoss
        from trainers.model import build_jmlr, split_outputs
        config = train_config(settings)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            model = build_jmlr(config.arch, data.topology.num_verts, config.space)
        model = model.to(data.device).train()
        source = data.source("train")
        first = next(source.iter_batches(list(range(min(batch, len(source)))), batch, drop_last=False))
        x, verts, points = prepare_batch(first.images, first.verts, first.points, res=config.res)
        loss_fn = JMLRLoss(data.topology.triangles, config.weights).to(data.device)

        def loss(out: Any) -> Any:
            return loss_fn(*split_outputs(out.float(), data.topology.num_verts), verts, points)[0]
        return Probe(model, x, loss)

    def speed(self, settings: Mapping[str, Any], repeats: int | None = None) -> dict[str, float | str]:
        """The network of `settings` timed alone on their device with synthetic inputs at their batch and res
        (`trainers.speed.measure_speed`): train_img_s, infer_img_s (batch 256), latency_ms_b1 (median of
        `repeats` batch-1 forwards; 200 on a GPU, 20 on the CPU by default), latency_ms_b1_iqr, speed_device."""
        from trainers.speed import SpeedConfig, measure_speed
        config = train_config(settings)
        return measure_speed(config, SpeedConfig.of(config, repeats))

    def ablation(self, searched: str) -> list[Experiment]:
        """The JMLR paper's Table 1, in its order: flip, the edge loss, ResNet depth, the searched net, ensemble."""
        def row(key: str, arch: str, flip: bool = True, loss: tuple | None = None) -> Experiment:
            options = {"flip": flip, **({"loss_weights": loss} if loss else {})}
            text = ",".join(f"{w:g}" for w in loss) if loss else PAPER_LOSS
            return Experiment(key, arch, options, columns={"flip": flip, "loss_weights": text})
        return [row("resnet34d", "resnet34d"), row("resnet34d-noflip", "resnet34d", flip=False),
                row("resnet18d", "resnet18d"), row("resnet50d", "resnet50d"), row("searched", searched),
                row("resnet34d-noedge", "resnet34d", loss=NO_EDGE),
                Experiment("ensemble", f"resnet34d+{searched}", members=("resnet34d", "searched"),
                           columns={"flip": True, "loss_weights": PAPER_LOSS})]
