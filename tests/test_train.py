"""Short CPU trainings on the synthetic cache: learning, files, resume, reuse of prepared data, errors."""
import csv
import json
import time

import numpy as np
import pytest
import torch

from search_spaces import ArchError
from trainers.checkpoint import load_checkpoint
from trainers.device_data import DeviceData
from trainers.errors import CheckpointError, ConfigError, DivergedError
from trainers.train import TrainConfig, train

ARCH = "d1.1.1.1_w8.16.16.16"


def config(**kw):
    # lr is per batch of 512 (scaled by 16/512): a tiny set needs a larger step than the paper's 0.1
    base = dict(arch=ARCH, epochs=10, batch=16, lr=16.0, res=32, device="cpu", warmup_steps=5)
    return TrainConfig(**{**base, **kw})


def test_short_training_lowers_loss_and_score(synth_cache, tmp_path):
    seen = []
    result = train(config(), synth_cache, tmp_path / "run", on_epoch=lambda e, m: seen.append((e, m)))
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < 0.5 * first["train_loss"]
    assert last["score"] < 0.5 * first["score"]
    assert [e for e, _ in seen] == list(range(1, 11)) and all("v1_v4_x10" in m for _, m in seen)
    assert result.score == last["score"] and result.epochs == 10 and result.device == "cpu"
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in ("arch", "gflops", "params_m", "score", "v1_v2", "v1_v3", "v1_v4_x10", "epochs",
                "images_per_s", "device"):
        assert key in metrics
    rows = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    assert len(rows) == 10 and float(rows[-1]["score"]) == pytest.approx(last["score"])
    resolved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert resolved["arch"] == ARCH and resolved["resolved"]["train_frames"] == 64


def test_resume_after_interruption_gives_the_same_result(synth_cache, tmp_path):
    full = train(config(epochs=4), synth_cache, tmp_path / "a")

    class Killed(Exception):
        pass

    def kill_after_two(epoch, metrics):
        if epoch == 2:
            raise Killed

    with pytest.raises(Killed):
        train(config(epochs=4), synth_cache, tmp_path / "b", on_epoch=kill_after_two)
    assert load_checkpoint(tmp_path / "b")["epoch"] == 2
    with pytest.raises(ConfigError, match="already holds a run"):
        train(config(epochs=4), synth_cache, tmp_path / "b")
    with pytest.raises(CheckpointError, match="lr"):
        train(config(epochs=4, lr=8.0), synth_cache, tmp_path / "b", resume=True)
    held = load_checkpoint(tmp_path / "b")["wall_s"]
    assert held > 0
    t0 = time.perf_counter()
    resumed = train(config(epochs=4), synth_cache, tmp_path / "b", resume=True)
    # the two epochs before the kill count once in the resumed training's wall
    assert held < resumed.wall_s <= held + time.perf_counter() - t0
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert resumed.score == full.score and resumed.train_loss == full.train_loss
    a, b = load_checkpoint(tmp_path / "a")["model"], load_checkpoint(tmp_path / "b")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_prepared_data_is_reused_unchanged(synth_cache):
    data = DeviceData(synth_cache, "cpu")
    images = data.source("train").images.clone()
    first = train(config(epochs=2), data)
    second = train(config(epochs=2), data)
    fresh = train(config(epochs=2), synth_cache)
    assert first.score == second.score == fresh.score
    assert torch.equal(data.source("train").images, images)


def test_train_fraction_no_flip_and_no_validation_split(synth_cache):
    result = train(config(epochs=1, train_fraction=0.5, flip=False, loss_weights="1,0,2"), synth_cache)
    assert result.steps == 2  # 32 of 64 frames, batch 16
    assert result.history[0]["loss_edge"] == 0.0
    data = DeviceData(synth_cache, "cpu", splits=("train",))
    assert train(config(epochs=1), data).score is None


def test_divergence_is_a_typed_error(synth_cache):
    with pytest.raises(DivergedError, match="diverged"):
        train(config(epochs=3, lr=1e9, check_every=1), synth_cache)


@pytest.mark.parametrize("kw,error", [({"arch": "resnet99"}, ArchError), ({"epochs": 0}, ConfigError),
                                      ({"train_fraction": 1.5}, ConfigError), ({"loss_weights": "1,2"}, ConfigError),
                                      ({"data_mode": "disk"}, ConfigError), ({"lr": -1.0}, ConfigError)])
def test_bad_settings(kw, error):
    with pytest.raises(error):
        config(**kw)


def test_streamed_data_trains_like_resident_data(synth_cache):
    resident = train(config(epochs=2, data_mode="resident"), synth_cache)
    streamed = train(config(epochs=2, data_mode="stream"), synth_cache)
    assert streamed.score == resident.score and streamed.train_loss == resident.train_loss


def test_other_input_size_and_geometric_augmentation(synth_cache):
    result = train(config(epochs=2, res=24, geo_aug=0.5, jitter=False), synth_cache)
    assert result.gflops > 0 and np.isfinite(result.score)


def test_a_resume_on_another_device_gives_the_buffers_the_weights_layout():
    # a run started on the CPU (contiguous) and resumed on CUDA (channels_last, fused SGD, which refuses mixed strides)
    from trainers.train import match_state_layout
    weight = torch.nn.Parameter(torch.randn(8, 3, 3, 3).contiguous(memory_format=torch.channels_last))
    bias = torch.nn.Parameter(torch.randn(8))
    optimizer = torch.optim.SGD([weight, bias], lr=0.1, momentum=0.9)
    buffer = torch.randn(8, 3, 3, 3)  # contiguous, as saved by the CPU run
    optimizer.state[weight] = {"momentum_buffer": buffer.clone()}
    optimizer.state[bias] = {"momentum_buffer": torch.ones(8)}
    match_state_layout(optimizer)
    moved = optimizer.state[weight]["momentum_buffer"]
    assert moved.stride() == weight.stride() and torch.equal(moved, buffer)
    assert torch.equal(optimizer.state[bias]["momentum_buffer"], torch.ones(8))


@pytest.mark.parametrize("fraction,batch", [(1.0, 16), (0.5, 12), (0.3, 7), (0.05, 64)])
def test_epoch_images_are_what_a_training_steps_through(synth_cache, tmp_path, fraction, batch):
    """Stage 2's deadline counts a training's images before it runs: whole batches of the seeded subset."""
    from trainers.dataset import epoch_images, split_rows
    from trainers.device_data import subset
    n = len(split_rows(synth_cache, "train"))
    kept = len(subset(n, fraction, seed=3))
    assert epoch_images(n, fraction, batch) == kept // min(batch, kept) * min(batch, kept)
    steps = []
    train(config(epochs=1, train_fraction=fraction, batch=batch, seed=3), synth_cache, tmp_path / "r",
          progress=lambda step, total: steps.append(step))
    assert len(steps) * min(batch, kept) == epoch_images(n, fraction, batch)  # the steps it took
