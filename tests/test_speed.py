"""Measured speed (issue 15): the numbers are there, positive and finite, ordered by network size, and measuring
leaves no global state behind. No timing thresholds: speed itself lives in benchmarks/, not in tests."""
import math

import pytest
import torch

from search_spaces import create_space
from trainers.errors import ConfigError
from trainers.speed import CPU_DEFAULTS, SPEED_KEYS, SpeedConfig, measure_speed
from trainers.task import FaceTask
from trainers.train import TrainConfig

SMALL = "d1.1.1.1_w8.16.16.16"
BIG = "resnet18d"  # ~5x the FLOPs of SMALL at 64x64 (the fixed deep stem dominates SMALL)
TINY_RUN = SpeedConfig(batch_train=8, batch_infer=8, res=64, warmup=2, steps=3, repeats=5, device="cpu")


def check_numbers(result: dict) -> None:
    assert set(result) == {*SPEED_KEYS, "speed_device"} and result["speed_device"] == "cpu"
    for key in SPEED_KEYS:
        assert isinstance(result[key], float) and math.isfinite(result[key]), key
    assert result["train_img_s"] > 0 and result["infer_img_s"] > 0 and result["latency_ms_b1"] > 0
    assert result["latency_ms_b1_iqr"] >= 0


def test_measure_speed_gives_every_number_and_leaves_global_state_alone():
    threads, rng = torch.get_num_threads(), torch.random.get_rng_state()
    flags = (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    check_numbers(measure_speed(TrainConfig(arch=SMALL, res=64, batch=8, device="cpu"), TINY_RUN))
    assert torch.get_num_threads() == threads and torch.equal(torch.random.get_rng_state(), rng)
    assert (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32) == flags
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()


def test_the_face_task_measures_the_settings_that_train_takes():
    settings = {"space": "resnet_d", "arch": SMALL, "epochs": 2, "batch": 4, "res": 32, "train_fraction": 1.0,
                "seed": 0, "val_max": 8, "eval_every": 2, "device": "cpu", "cudnn_benchmark": False, "pnp": "auto",
                "flip": False}
    check_numbers(FaceTask().speed(settings, repeats=3))


def best_train_img_s(arch: str, tries: int = 2) -> float:
    """The best of a few measurements: robust to another process taking the CPU for a moment."""
    config = TrainConfig(arch=arch, res=64, batch=8, device="cpu")
    return max(measure_speed(config, TINY_RUN)["train_img_s"] for _ in range(tries))


def test_a_much_bigger_network_trains_slower():
    space = create_space("resnet_d", res=64, outputs=1240 * 5)
    flops = {a: space.complexity(space.parse(a)).flops for a in (SMALL, BIG)}
    assert flops[BIG] > 4 * flops[SMALL]
    assert best_train_img_s(BIG) < best_train_img_s(SMALL)


def test_speed_config_defaults_and_refusals():
    config = TrainConfig(arch=SMALL, res=48, batch=12, device="cpu")
    s = SpeedConfig.of(config, repeats=7)
    assert (s.batch_train, s.batch_infer, s.res, s.device, s.repeats) == (12, 256, 48, "cpu", 7)
    resolved = s.resolved(torch.device("cpu"))
    assert (resolved.warmup, resolved.steps, resolved.repeats) == (CPU_DEFAULTS["warmup"], CPU_DEFAULTS["steps"], 7)
    for bad in ({"repeats": 0}, {"batch_infer": -1}, {"warmup": -1}, {"steps": 1.5}):
        with pytest.raises(ConfigError):
            SpeedConfig(**bad)
