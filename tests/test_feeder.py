"""Batch sources: the GPU-resident and the streaming path cut the same batches with the same data."""
import numpy as np
import pytest
import torch

from facedata import open_cache
from trainers.device_data import DeviceData, subset
from trainers.errors import ConfigError
from trainers.feeder import ResidentSource, StreamSource, batch_plan, choose_mode, resolve_device


def test_batch_plan():
    order = np.array([5, 3, 9, 1, 0, 7, 2])
    plan = batch_plan(order, 3, drop_last=True)
    assert [p.tolist() for p in plan] == [[3, 5, 9], [0, 1, 7]]
    assert [p.tolist() for p in batch_plan(order, 3, drop_last=False)][-1] == [2]


def test_resident_and_stream_sources_yield_identical_batches(tiny_cache):
    mm = open_cache(tiny_cache)  # the real crop cache: memory-mapped arrays
    assert isinstance(mm.images, np.memmap)
    rows = np.flatnonzero(mm.split == "train")
    cpu = torch.device("cpu")
    resident = ResidentSource(mm, rows, cpu, chunk=7)
    order = np.random.default_rng(0).permutation(len(rows))
    for stream in (StreamSource(mm, rows, cpu), StreamSource(mm, rows, cpu, prefetch=2, threaded=True)):
        got = list(zip(resident.iter_batches(order, 10), stream.iter_batches(order, 10)))
        assert len(got) == len(rows) // 10
        for a, b in got:
            assert np.array_equal(a.index, b.index)
            assert torch.equal(a.images, b.images) and torch.equal(a.verts, b.verts)
            assert torch.equal(a.points, b.points)
            np.testing.assert_array_equal(a.images.numpy(), mm.images[rows[a.index]])


class _Failing:
    """An array whose reads fail from a given row on (a damaged cache file)."""

    def __init__(self, array, bad_from):
        self.array, self.bad_from, self.shape, self.dtype = array, bad_from, array.shape, array.dtype

    def __getitem__(self, rows):
        if np.max(rows) >= self.bad_from:
            raise OSError("read error")
        return self.array[rows]


def test_read_ahead_thread_passes_errors_on_and_stops_when_abandoned(synth_cache):
    import threading
    import types

    cache = types.SimpleNamespace(**vars(synth_cache))
    cache.images = _Failing(synth_cache.images, bad_from=40)
    rows = np.arange(60)
    stream = StreamSource(cache, rows, torch.device("cpu"), prefetch=1, threaded=True)
    with pytest.raises(OSError, match="read error"):
        list(stream.iter_batches(np.arange(60), 10))
    batches = stream.iter_batches(np.arange(30), 5)
    next(batches)
    batches.close()  # the consumer walks away: the reader thread must end, not block on a full queue
    assert not any(t.name == "cache-stream" and t.is_alive() for t in threading.enumerate())


def test_device_data_labels_and_subsets(synth_cache):
    data = DeviceData(synth_cache, "cpu")
    assert set(data.rows) == {"train", "val", "hold"} and not data.sources  # sources are made on first use
    assert data.source("train") is not None and data.source("hold") is None  # no held-out test frames here
    assert set(data.sources) == {"train"}
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
