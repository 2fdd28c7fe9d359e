"""Batch sources: the GPU-resident and the streaming path cut the same batches with the same data."""
import numpy as np
import pytest
import torch

from fakecache import load_cache, save_cache
from trainers.device_data import DeviceData, subset
from trainers.errors import ConfigError
from trainers.feeder import ResidentSource, StreamSource, batch_plan, choose_mode, resolve_device


def test_batch_plan():
    order = np.array([5, 3, 9, 1, 0, 7, 2])
    plan = batch_plan(order, 3, drop_last=True)
    assert [p.tolist() for p in plan] == [[3, 5, 9], [0, 1, 7]]
    assert [p.tolist() for p in batch_plan(order, 3, drop_last=False)][-1] == [2]


def test_resident_and_stream_sources_yield_identical_batches(synth_cache, tmp_path):
    mm = load_cache(save_cache(synth_cache, tmp_path / "c"))  # memory-mapped, as the real cache
    assert isinstance(mm.images, np.memmap)
    rows = np.flatnonzero(mm.split == "train")
    cpu = torch.device("cpu")
    resident, stream = ResidentSource(mm, rows, cpu, chunk=7), StreamSource(mm, rows, cpu)
    order = np.random.default_rng(0).permutation(len(rows))
    got = list(zip(resident.iter_batches(order, 10), stream.iter_batches(order, 10)))
    assert len(got) == len(rows) // 10
    for a, b in got:
        assert np.array_equal(a.index, b.index)
        assert torch.equal(a.images, b.images) and torch.equal(a.verts, b.verts) and torch.equal(a.points, b.points)
        np.testing.assert_array_equal(a.images.numpy(), synth_cache.images[rows[a.index]])


def test_device_data_labels_and_subsets(synth_cache):
    data = DeviceData(synth_cache, "cpu")
    assert set(data.sources) == {"train", "val"}
    local = np.array([0, 3])
    labels = data.labels("val", local)
    rows = np.flatnonzero(synth_cache.split == "val")[local]
    np.testing.assert_array_equal(labels["R_t"], synth_cache.R_t[rows])
    a, b = subset(100, 0.25, seed=3), subset(100, 0.25, seed=3)
    assert len(a) == 25 and np.array_equal(a, b) and np.all(np.diff(a) > 0)
    assert len(subset(100, limit=10)) == 10 and len(subset(5, 1.0)) == 5
    with pytest.raises(ConfigError):
        data.source("test")


def test_mode_choice():
    cpu = torch.device("cpu")
    assert choose_mode("auto", 1, cpu) == "resident"
    assert choose_mode("auto", 1 << 62, cpu) == "stream"
    with pytest.raises(ConfigError):
        choose_mode("fast", 1, cpu)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusal")
@pytest.mark.parametrize("name", ["gpu", "cuda", "cuda:0"])
def test_unusable_device_is_a_config_error(name):
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError):
        resolve_device(name)
