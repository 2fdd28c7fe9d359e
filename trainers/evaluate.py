"""Prediction, pose and score: batched no-grad inference (optionally with flip test-time augmentation
and checkpoint ensembles), crop points back to the frame, PnP, the WCPA error, and the submission file."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn as nn

from kit.atomic import atomic_write, write_csv
from trainers.augment import flip_targets, prepare_batch
from trainers.checkpoint import MESH_KEYS, check_topology, load_checkpoint, model_from_checkpoint
from trainers.dataset import Topology
from trainers.device_data import DeviceData
from trainers.errors import CacheError, ConfigError
from trainers.metrics import WcpaScore, wcpa_error
from trainers.model import split_outputs
from trainers.pose import solve_pose
from trainers.pose_batch import solve_pose_batch
from facedata.conventions import crop_to_frame
from trainers.targets import rescale_points, target_to_verts, unit_to_pixels


@dataclass
class Predictor:
    """A network ready for inference with the input size it was trained at."""

    model: nn.Module
    res: int
    name: str = "model"


def autocast(device: torch.device, amp: bool | None):
    """bf16 autocast on CUDA (or where `amp` says so); a no-op context otherwise."""
    enabled = device.type == "cuda" if amp is None else amp
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


@torch.no_grad()
def predict(predictors: Sequence[Predictor], source: Any, order: np.ndarray, flip_index: torch.Tensor, *,
            batch: int = 256, flip_tta: bool = False, amp: bool | None = None,
            progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """World vertices (n, V, 3) in metres and crop points (n, V, 2) in cache-crop pixels for `order`.

    Each network's output (and, with `flip_tta`, its output on the mirrored image mapped back through
    the flip index) is decoded to those units and averaged: an ensemble averages before PnP.
    """
    order = np.sort(np.asarray(order, dtype=np.int64))
    v = len(flip_index)
    verts_out = np.zeros((len(order), v, 3), dtype=np.float32)
    points_out = np.zeros((len(order), v, 2), dtype=np.float32)
    start = 0
    for b in source.iter_batches(order, batch, drop_last=False):
        cache_res = b.images.shape[1]
        verts_sum = torch.zeros((len(b.index), v, 3), device=b.images.device)
        points_sum = torch.zeros((len(b.index), v, 2), device=b.images.device)
        count = 0
        for p in predictors:
            x, _, _ = prepare_batch(b.images, None, None, res=p.res)
            views = [(x, False)] + ([(x.flip(-1), True)] if flip_tta else [])
            for img, mirrored in views:
                with autocast(x.device, amp):
                    out = p.model(img)
                tv, tp = split_outputs(out.float(), v)
                tp = unit_to_pixels(tp, p.res)
                if mirrored:
                    tv, tp = flip_targets(tv, tp, flip_index, p.res)
                verts_sum += target_to_verts(tv)
                points_sum += rescale_points(tp, p.res, cache_res)
                count += 1
        n = len(b.index)
        verts_out[start:start + n] = (verts_sum / count).cpu().numpy()
        points_out[start:start + n] = (points_sum / count).cpu().numpy()
        start += n
        if progress:
            progress(n)
    return verts_out, points_out


@dataclass
class EvalResult:
    """Predictions of a split in WCPA form, and their score where the split has labels."""

    rows: np.ndarray  # cache rows
    verts: np.ndarray  # (N, V, 3) world, metres
    points_frame: np.ndarray  # (N, V, 2) frame pixels
    R_t: np.ndarray  # (N, 4, 4)
    score: WcpaScore | None
    pnp_failures: int
    points_crop: np.ndarray | None = None  # (N, V, 2) cache-crop pixels, as predicted

    def metrics(self) -> dict[str, Any]:
        """Mean score and terms (None without labels), image count and PnP failures."""
        base = self.score.as_dict() if self.score else {"score": None, "v1_v2": None, "v1_v3": None,
                                                         "v1_v4_x10": None}
        return {**base, "images": int(len(self.rows)), "pnp_failures": self.pnp_failures}


PNP_SOLVERS = ("auto", "cv2", "torch")


def solve(verts: np.ndarray, frame: np.ndarray, topology: Topology, solver: str = "cv2",
          device: "torch.device | str" = "cpu", workers: int | None = None) -> np.ndarray:
    """PnP for every image: OpenCV one image at a time on CPU threads (`cv2`), or the batched torch solver on
    `device` (`torch`); `auto` takes the torch solver where `device` is a GPU, OpenCV otherwise."""
    if solver not in PNP_SOLVERS:
        raise ConfigError(f"unknown PnP solver {solver!r}; expected one of {PNP_SOLVERS}")
    if solver == "torch" or (solver == "auto" and torch.device(device).type == "cuda"):
        return solve_pose_batch(verts, frame, topology.projection, topology.image_size, device=device)
    return solve_pose(verts, frame, topology.projection, topology.image_size, workers=workers)


def pose_and_score(verts: np.ndarray, points_crop: np.ndarray, tform: np.ndarray, topology: Topology, *,
                   verts_gt: np.ndarray | None = None, R_t_gt: np.ndarray | None = None, workers: int | None = None,
                   solver: str = "cv2", device: "torch.device | str" = "cpu"
                   ) -> tuple[np.ndarray, np.ndarray, WcpaScore | None, int]:
    """Frame points, PnP `R_t`, the WCPA score (where ground truth is given) and the PnP failure count."""
    frame = crop_to_frame(points_crop, tform)
    r_t = solve(verts, frame, topology, solver, device, workers)
    failures = int(np.isnan(r_t).any(axis=(1, 2)).sum())
    score = wcpa_error(verts_gt, R_t_gt, verts, r_t, device=device) if verts_gt is not None else None
    return frame, r_t, score, failures


def load_predictors(paths: Sequence["str | Path"], topology: Topology,
                    device: torch.device) -> list[Predictor]:
    """Networks of checkpoints, checked against the cache topology, on `device` in eval mode."""
    predictors = []
    for path in paths:
        ckpt = load_checkpoint(path)
        check_topology(ckpt, topology.signature(), path, "the cache", keys=MESH_KEYS)
        model = model_from_checkpoint(ckpt, path).to(device)
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        predictors.append(Predictor(model, int(ckpt["res"]), str(path)))
    return predictors


def score_split(predictors: Sequence[Predictor], data: DeviceData, split: str, local: np.ndarray | None = None, *,
                flip_tta: bool = False, batch: int = 256, amp: bool | None = None, workers: int | None = None,
                pnp: str = "auto", progress: Callable[[int], None] | None = None) -> EvalResult:
    """Predict rows `local` of a split (all by default), solve their poses and score them where labelled: the one
    validation path of training, `nas-eval` and ensembles."""
    source = data.source(split)
    if source is None:
        raise CacheError(f"the cache holds no {split!r} frames")
    local = np.arange(len(source)) if local is None else np.sort(np.asarray(local, dtype=np.int64))
    verts, points = predict(predictors, source, local, data.flip_index, batch=batch, flip_tta=flip_tta, amp=amp,
                            progress=progress)
    labels = data.labels(split, local)
    labelled = split != "test" and np.isfinite(labels["verts"]).all() and np.isfinite(labels["R_t"]).all()
    frame, r_t, score, failures = pose_and_score(
        verts, points, labels["tform"], data.topology, verts_gt=labels["verts"] if labelled else None,
        R_t_gt=labels["R_t"] if labelled else None, workers=workers, solver=pnp, device=data.device)
    return EvalResult(data.rows[split][local], verts, frame, r_t, score, failures, points)


def evaluate(checkpoints: Sequence["str | Path"], data: DeviceData, split: str = "val", *,
             flip_tta: bool = False, batch: int = 256, workers: int | None = None, pnp: str = "auto",
             progress: Callable[[int], None] | None = None) -> EvalResult:
    """Predict a split with one checkpoint or an ensemble, solve poses and score labelled splits."""
    if not checkpoints:
        raise ConfigError("no checkpoint given")
    if data.source(split) is None:
        raise CacheError(f"the cache holds no {split!r} frames")
    predictors = load_predictors(checkpoints, data.topology, data.device)
    return score_split(predictors, data, split, flip_tta=flip_tta, batch=batch, workers=workers, pnp=pnp,
                       progress=progress)


SUBMISSION_ID_COLUMNS = ("subject_id", "facial_action", "img_id")


def submission_array(verts: np.ndarray, R_t: np.ndarray) -> np.ndarray:
    """(N, V*3 + 12) float32: per image the V x 3 world vertices, then R (3x3, row-major), then T (3)."""
    n = len(verts)
    return np.concatenate([verts.reshape(n, -1), R_t[:, :3, :3].reshape(n, 9), R_t[:, 3, :3]],
                          axis=1).astype(np.float32)


def write_submission(path: "str | Path", result: EvalResult, cache: Any) -> tuple[Path, Path]:
    """Write the submission `.npy` (one row per image, cache order) and a `.csv` naming each row's frame.

    The CSV has `row` (cache row), `subject_id`, and `facial_action`/`img_id` where the cache has them.
    """
    path = Path(path)
    if path.suffix != ".npy":
        path = path.with_name(path.name + ".npy")
    array = submission_array(result.verts, result.R_t)
    atomic_write(path, lambda f: np.save(f, array))
    ids: dict[str, Any] = {"row": result.rows, "subject_id": np.asarray(cache.subjects)[result.rows]}
    for name in SUBMISSION_ID_COLUMNS[1:]:
        values = getattr(cache, name + "s", None)
        if values is not None:
            ids[name] = np.asarray(values)[result.rows]
    rows = [{k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in ids.items()}
            for i in range(len(result.rows))]
    return path, write_csv(path.with_suffix(".csv"), rows)
