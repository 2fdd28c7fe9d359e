"""The CUDA paths that CI's CPU never runs: the batched pose solver on the GPU against OpenCV, a bf16 channels_last
training whose validation `nas-eval` reproduces, measured speed with a CUDA graph, the packing probe, the
allocator's release after a trial, and stage 1 through Ray Tune with the probe deciding the packing.

Skipped without a GPU. On a GPU machine, `python -m pytest tests/test_gpu.py` (or `-m gpu`) runs them in a minute
or two: run it before a long GPU job, so that a broken CUDA path costs seconds, not the job.
"""
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from fakecache import WCPA_PROJECTION, project, random_poses
from trainers.metrics import wcpa_error
from trainers.pose import solve_pose
from trainers.pose_batch import solve_pose_batch

DEVICE = "cuda"
TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS.parent / "benchmarks"))
SMALL = "d1.1.1.1_w8.16.16.16"
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def faces(model, n: int, seed: int):
    """`n` slightly perturbed faces of `model` under random poses, and their exact projections."""
    rng = np.random.default_rng(seed)
    verts = np.repeat(model.neutral[None], n, 0) + rng.normal(0, 0.002, (n,) + model.neutral.shape)
    r_t = random_poses(rng, n, yaw=60, pitch=40, roll=15)
    return rng, verts, r_t, project(verts, r_t, WCPA_PROJECTION)


def test_the_pose_solver_on_the_gpu_recovers_poses_as_opencv_does(grid):
    _, verts, r_t, points = faces(grid, 64, seed=11)
    ours = solve_pose_batch(torch.as_tensor(verts, device=DEVICE), torch.as_tensor(points, device=DEVICE),
                            WCPA_PROJECTION)
    ref = solve_pose(verts, points, WCPA_PROJECTION)
    assert wcpa_error(verts, r_t, verts, ours).per_image.max() < 1e-3  # mm
    assert wcpa_error(verts, ref, verts, ours).per_image.max() < 1e-3


def test_noisy_faces_score_on_the_gpu_as_with_opencv(grid):
    rng, verts, r_t, points = faces(grid, 64, seed=12)
    points = points + rng.normal(0, 3.0, points.shape)
    noisy = verts + rng.normal(0, 0.004, verts.shape)
    ours = solve_pose_batch(noisy, points, WCPA_PROJECTION, device=DEVICE)
    a = wcpa_error(verts, r_t, noisy, ours, device=DEVICE)
    b = wcpa_error(verts, r_t, noisy, solve_pose(noisy, points, WCPA_PROJECTION))
    assert abs(a.score - b.score) < 1e-3 and np.abs(a.per_image - b.per_image).max() < 0.01  # mm


def test_a_gpu_training_validates_as_nas_eval_scores_its_checkpoint(tiny_cache, tmp_path):
    from trainers.device_data import DeviceData
    from trainers.evaluate import evaluate
    from trainers.train import TrainConfig, train

    config = TrainConfig(arch=SMALL, epochs=2, batch=8, res=32, device=DEVICE, warmup_steps=2, pnp="torch")
    result = train(config, str(tiny_cache), tmp_path)
    assert (result.device != "cpu") == (DEVICE == "cuda") and math.isfinite(result.train_loss) and math.isfinite(result.score)
    data = DeviceData.open(tiny_cache, DEVICE)
    again = evaluate([tmp_path / "last.pt"], data, "val", pnp="torch").score.score
    assert again == pytest.approx(result.score, rel=1e-3, abs=1e-3)  # one validation path (bf16, cuDNN)


def test_measured_speed_on_the_gpu_graphs_the_batch1_forward_and_restores_flags():
    from trainers.speed import SPEED_KEYS, SpeedConfig, measure_speed
    from trainers.train import TrainConfig

    backend = torch.backends
    saved = (backend.cudnn.benchmark, backend.cuda.matmul.allow_tf32, backend.cudnn.allow_tf32)
    backend.cudnn.benchmark = backend.cuda.matmul.allow_tf32 = backend.cudnn.allow_tf32 = False  # training sets all
    try:
        config = TrainConfig(arch="resnet18d", res=128, batch=32, device=DEVICE)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = measure_speed(config, SpeedConfig(batch_train=32, batch_infer=32, res=128, warmup=3, steps=5,
                                                       repeats=30, device=DEVICE))
        flags = (backend.cudnn.benchmark, backend.cuda.matmul.allow_tf32, backend.cudnn.allow_tf32)
    finally:
        backend.cudnn.benchmark, backend.cuda.matmul.allow_tf32, backend.cudnn.allow_tf32 = saved
    assert flags == (False, False, False)
    assert not [w for w in caught if "CUDA graph" in str(w.message)]  # the latency came from a graph's replay
    assert result["speed_device"] == torch.cuda.get_device_name()
    for key in SPEED_KEYS:
        assert math.isfinite(result[key]) and result[key] >= 0, key
    assert result["train_img_s"] > 0 and result["infer_img_s"] > result["train_img_s"]  # no backward


def test_a_forward_that_cannot_be_captured_is_timed_eagerly_and_leaves_cuda_usable():
    from trainers.speed import graphed

    device = torch.device(DEVICE, torch.cuda.current_device())
    x = torch.ones(4, device=device)
    default = torch.cuda.current_stream(device)
    with pytest.warns(RuntimeWarning, match="CUDA graph capture failed"):
        assert graphed(lambda: x * float(x.sum().item()), device) is None  # .item() syncs: no capture
    assert torch.cuda.current_stream(device) == default
    y = torch.arange(1000, device=device, dtype=torch.float32)  # allocations and kernels work as before
    assert float((y * 2).sum().item()) == 999000.0


def test_a_finished_trial_hands_its_cached_gpu_memory_back():
    from nas.trial import release_memory

    block = torch.empty(256 * 2 ** 20, dtype=torch.uint8, device=DEVICE)
    del block
    before = torch.cuda.memory_reserved()
    assert before >= 256 * 2 ** 20  # PyTorch's allocator keeps the freed block
    release_memory()
    assert torch.cuda.memory_reserved() <= before - 256 * 2 ** 20


def test_the_packing_probe_measures_a_training_on_the_gpu(tiny_cache):
    from nas.packing import CONTEXT_GB, Measure, per_gpu, probe
    from nas.trial import TrialPlan

    plan = TrialPlan(task="faces", space="resnet_d", data=str(tiny_cache), epochs=1, res=32, train_fraction=1.0,
                     batch=8, val_max=8, seed=0)
    m = Measure(**probe("faces", plan, SMALL))
    assert m.footprint_gb > CONTEXT_GB and m.gpu_gb > m.footprint_gb
    assert m.device_used_gb >= m.footprint_gb - CONTEXT_GB  # the whole GPU's use holds the allocator's
    assert m.epoch_s > 0 and m.val_s > 0 and m.setup_s >= 0 and m.img_s > 0
    assert 1 <= per_gpu(m, 1, 1, cpus_per_gpu=os.cpu_count() or 1).per_gpu <= 8


@pytest.mark.ray
def test_stage1_on_the_gpu_packs_by_the_probe_and_finishes_every_trial(tiny_cache, tmp_path):
    import optuna

    from nas.runs import RunDir, read_summary, read_table
    from nas.search import run_stage1
    from nas.settings import make_settings

    from ray_local import local_ray  # benchmarks/ray_local.py, as the CPU tests' Ray fixture
    with local_ray(4, num_gpus=1, paths=[TESTS, TESTS.parent]):
        values = {"budget": "5G", "data": str(tiny_cache), "trials": 4, "proxy_epochs": 2, "proxy_res": 32,
                  "batch": 8, "val_max": 8, "scheduler": "none", "cpus_per_trial": 1, "name": "gpu",
                  "out": str(tmp_path)}
        s = make_settings(values, "smoke")
        run = RunDir(s.run_dir)
        run.root.mkdir(parents=True)
        run_stage1(s, run, tiny_cache, (4, 1.0), log=lambda *a: None)
        rows = read_table(run.trials)
        assert len(rows) == 4 and all(r["status"] == "complete" for r in rows)
        assert all(r["gpu"] and r["gpu"] != "cpu" for r in rows)
        packing = read_summary(run.summary)["packing_stage1"]
        assert 1 <= packing["per_gpu"] <= 4  # the probe decided; four CPUs bound it to two, one each here
        assert len(optuna.load_study(study_name="gpu", storage=s.storage_url).trials) == 4


@pytest.mark.skipif(not __import__("shutil").which("nvidia-cuda-mps-control"), reason="needs NVIDIA's MPS tool")
def test_a_real_mps_daemon_serves_a_cuda_client_and_stops(monkeypatch):
    import subprocess

    from nas.mps import CLIENT_CHECK, prepare
    monkeypatch.delenv("CUDA_MPS_PIPE_DIRECTORY", raising=False)
    if os.path.exists("/tmp/nvidia-mps/control"):
        pytest.skip("a daemon of the machine's own serves it already")
    decided, daemon = prepare("on", local=True)
    try:
        assert decided.start and daemon is not None
        subprocess.run([sys.executable, "-c", CLIENT_CHECK], env={**os.environ, **daemon.env}, check=True, timeout=120)
        log = Path(daemon.env["CUDA_MPS_LOG_DIRECTORY"], "control.log").read_text()
        assert log.count("NEW CLIENT") >= 2  # prepare's own check, then this client
    finally:
        if daemon is not None:
            daemon.stop()
    assert not daemon.folder.exists()
