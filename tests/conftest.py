"""Fixtures: in-memory caches from the real ARKit face (skipped without ../shared/face_data) and from a
purely synthetic mesh (always available), and a real crop cache made by `nas-data` (`tiny_cache`)."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from fakecache import FACE_DATA, arkit_model, grid_model, make_cache

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from ray_local import kill_ray  # noqa: E402  (shared with the benchmarks)

torch.set_num_threads(1)  # tiny tensors: threads only add contention on 2-core CI


@pytest.fixture(scope="session", autouse=True)
def ray_sessions():
    """The folder where the Ray instances the tests start keep their sessions (Ray's default is /tmp/ray, which
    would keep ~15 of them after every run); at the end its processes are killed and it is removed."""
    folder = Path(tempfile.mkdtemp(prefix="nasray-", dir="/tmp"))  # short: Ray's socket paths live inside it
    saved = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = str(folder)
    yield folder
    if saved is None:
        os.environ.pop("RAY_TMPDIR", None)
    else:
        os.environ["RAY_TMPDIR"] = saved
    kill_ray(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def ray_tmp():
    """A Ray temp folder of this test's own; afterwards its processes, and only those, are killed and it is removed.

    (`ray stop --force` would end every Ray instance on the machine, a user's included.) Short, under
    /tmp: Ray's socket paths inside it must stay within the 107-byte limit of Unix sockets.
    """
    folder = Path(tempfile.mkdtemp(prefix="nasray-", dir="/tmp"))
    yield folder
    kill_ray(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def arkit():
    """The ARKit face model (real data), or skip."""
    if not (FACE_DATA / "arkit_blendshapes" / "Neutral.obj").exists():
        pytest.skip(f"real face data not found at {FACE_DATA}")
    return arkit_model()


@pytest.fixture(scope="session")
def arkit_cache(arkit):
    """24 frames of the ARKit face, random poses, 64x64 crops."""
    return make_cache(arkit, n=24, res=64, seed=1)


@pytest.fixture(scope="session")
def grid():
    """The synthetic grid face model."""
    return grid_model()


@pytest.fixture(scope="session")
def synth_cache(grid):
    """96 frames of the synthetic face (train/val/test by subject), 32x32 crops."""
    return make_cache(grid, n=96, res=32, subjects=12, seed=2)


@pytest.fixture
def cache_dir(tiny_cache, tmp_path):
    """A private copy of the real crop cache (`tiny_cache`), for tests that damage it."""
    return Path(shutil.copytree(tiny_cache, tmp_path / "cache"))


@pytest.fixture(scope="session")
def trained_run(synth_cache, tmp_path_factory):
    """A run folder of a 2-epoch CPU training on the synthetic cache (config, history, last.pt, metrics)."""
    from trainers.train import TrainConfig, train

    out = tmp_path_factory.mktemp("run")
    config = TrainConfig(arch="d1.1.1.1_w8.16.16.16", epochs=2, batch=16, lr=16.0, res=32, device="cpu",
                         warmup_steps=5)
    result = train(config, synth_cache, out)
    return out, result


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    """A WCPA root made by `nas-data synth`: 6 procedural subjects x 8 frames, 2 of them test subjects."""
    from _data_helpers import tiny_synth

    return tiny_synth(tmp_path_factory.mktemp("tiny") / "wcpa", subjects=6, frames=8, per_action=4,
                      test_subjects=0.34)


@pytest.fixture(scope="session")
def tiny_cache(tiny_root):
    """Its crop cache made by `nas-data cache` at 32x32: train, val (by subject) and test frames."""
    from facedata.cache import CacheConfig, build_cache

    out = tiny_root.parent / "cache"
    build_cache(CacheConfig(data=str(tiny_root), out=str(out), res=32, val_subjects=0.34))
    return out


@pytest.fixture(scope="session")
def tiny_cache3(tiny_root):
    """The same root cached with three labelled splits (issue 15): train, selection (val) and test (hold)."""
    from facedata.cache import CacheConfig, build_cache

    out = tiny_root.parent / "cache3"
    build_cache(CacheConfig(data=str(tiny_root), out=str(out), res=32, val_subjects=0.25, test_subjects=0.25))
    return out
