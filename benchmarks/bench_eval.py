"""`nas-eval`'s scoring of a WCPA-test-sized split (90,545 faces) on one GPU: the batched torch pose solver against
OpenCV's, on the same predictions, and the whole `trainers.evaluate.evaluate` path.

The faces are made in memory, not rendered: the procedural face in random poses with exact labels, random crops
(what a network sees does not change how long it takes) and a resnet34d checkpoint at initialisation, so the
scores mean nothing; the times do. Two measurements in one run:
  1. pose + score only, on ground-truth crop points with 1.5 px noise: torch solver vs OpenCV on every CPU;
  2. `evaluate()` end to end (predict the crops, PnP, score) with the torch solver, split resident on the GPU.

    python benchmarks/bench_eval.py [--faces 90545] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import os
import time
import types

import numpy as np
import torch

from facedata.conventions import align_tforms, apply_tform, pose_to_rt, project, wcpa_projection
from facedata.face_model import procedural_face_model
from trainers.checkpoint import save_checkpoint
from trainers.device_data import DeviceData
from trainers.evaluate import evaluate, pose_and_score
from trainers.model import build_jmlr


def faces(n: int, res: int, seed: int = 0) -> types.SimpleNamespace:
    """A cache-like object of `n` labelled faces (procedural face, random poses), crops of random pixels."""
    rng = np.random.default_rng(seed)
    model = procedural_face_model()
    verts = (model.neutral[None] + rng.normal(0, 0.002, (n, 1, 3))).astype(np.float32)
    yaw, pitch, roll = (np.radians(rng.uniform(-a, a, n)) for a in (40, 25, 10))
    t = np.stack([rng.uniform(-0.05, 0.05, n), rng.uniform(-0.05, 0.05, n), rng.uniform(-0.8, -0.35, n)], -1)
    r_t = pose_to_rt(yaw, pitch, roll, t)
    frame = project(verts, r_t, wcpa_projection(), (800, 800))
    tform = align_tforms(frame[:, model.landmarks68], res)
    tiles = rng.integers(0, 255, (256, res, res, 3), dtype=np.uint8)
    images = np.empty((n, res, res, 3), np.uint8)
    for a in range(0, n, 256):
        images[a:a + 256] = tiles[: len(images[a:a + 256])]
    return types.SimpleNamespace(
        images=images, verts=verts, R_t=r_t.astype(np.float32), tform=tform.astype(np.float32),
        points2d=apply_tform(tform, frame).astype(np.float32), subjects=np.array(["S0"] * n),
        split=np.array(["val"] * n), triangles=model.triangles, flip_index=model.flip_index,
        landmarks68=model.landmarks68, projection=wcpa_projection().astype(np.float32),
        image_size=np.array([800, 800]))


def timed(fn):
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    t = time.perf_counter()
    out = fn()
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    return out, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--faces", type=int, default=90_545)
    p.add_argument("--res", type=int, default=256)
    p.add_argument("--cv2-faces", type=int, default=None, help="faces OpenCV solves (default: all)")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    (cache, t_make) = timed(lambda: faces(args.faces, args.res))
    data, t_upload = timed(lambda: DeviceData(cache, "auto", "auto", splits=("val",)))
    rng = np.random.default_rng(1)
    noisy = cache.points2d + rng.normal(0, 1.5, cache.points2d.shape).astype(np.float32)
    topo, dev = data.topology, data.device
    out = {"device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu", "faces": args.faces,
           "cpus": os.cpu_count(), "make_s": round(t_make, 1), "upload_s": round(t_upload, 1),
           "data": "in-memory procedural faces, random crop pixels, resnet34d at initialisation"}
    (_, _, torch_score, _), t_torch = timed(lambda: pose_and_score(
        cache.verts, noisy, cache.tform, topo, verts_gt=cache.verts, R_t_gt=cache.R_t, solver="torch", device=dev))
    n_cv = args.cv2_faces or args.faces
    (_, _, cv_score, _), t_cv = timed(lambda: pose_and_score(
        cache.verts[:n_cv], noisy[:n_cv], cache.tform[:n_cv], topo, verts_gt=cache.verts[:n_cv],
        R_t_gt=cache.R_t[:n_cv], solver="cv2"))
    out.update(pose_torch_s=round(t_torch, 2), pose_cv2_s=round(t_cv * args.faces / n_cv, 2), cv2_faces=n_cv,
               score_torch_mm=round(torch_score.score, 4), score_cv2_mm=round(cv_score.score, 4),
               score_max_abs_diff_mm=float(np.abs(torch_score.per_image[:n_cv] - cv_score.per_image).max()))
    ckpt = "/tmp/bench_eval_resnet34d.pt"
    torch.manual_seed(0)
    save_checkpoint(ckpt, arch="resnet34d", space="resnet_d", num_verts=topo.num_verts, res=args.res,
                    topology=topo.signature(), config={}, epoch=0,
                    model=build_jmlr("resnet34d", topo.num_verts).state_dict())
    evaluate([ckpt], data, "val", pnp="torch", batch=512)  # warm-up: cuDNN, kernels
    result, t_eval = timed(lambda: evaluate([ckpt], data, "val", pnp="torch", batch=512))
    out.update(evaluate_s=round(t_eval, 2), evaluate_faces=len(result.rows), pnp_failures=result.pnp_failures)
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
