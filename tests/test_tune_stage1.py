"""Stage 1 through Ray Tune and Optuna with each sampler (uniform, TPE, NSGA-II), the TSE proxy, and trials that
fail (one raises, one runs out of memory) without stopping the search. One local Ray instance for the module."""
import sys
from pathlib import Path

import optuna
import pytest

from _spaces import analytic_flops, resolve_arch
from flaky_task import doomed
from nas.runs import RunDir, read_table
from nas.search import run_stage1
from nas.settings import make_settings
from search_spaces import FlopWindow

pytestmark = [pytest.mark.ray, pytest.mark.slow]
TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS.parent / "benchmarks"))
WINDOW = FlopWindow.below("5G")


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray instance whose workers can import this folder's modules (the flaky task)."""
    from ray_local import local_ray  # benchmarks/ray_local.py, shared with the cluster tests
    with local_ray(2, paths=[TESTS, TESTS.parent]):
        yield


def stage1(cache: Path, out: Path, name: str, **settings):
    """Stage 1 of a toy search (32x32 crops, 2 proxy epochs); returns the trials and the study."""
    values = {"budget": "5G", "data": str(cache), "trials": 4, "proxy_epochs": 2, "proxy_res": 32, "batch": 8,
              "val_max": 8, "scheduler": "none", "cpus_per_trial": 1, "name": name, "out": str(out), **settings}
    s = make_settings(values, "smoke")
    run = RunDir(s.run_dir)
    run.root.mkdir(parents=True)
    run_stage1(s, run, cache, (2, 0.0), log=lambda *a: None)  # 2 CPUs, no GPU: two trials at a time
    return read_table(run.trials), optuna.load_study(study_name=name, storage=s.storage_url)


@pytest.mark.parametrize("sampler,kind", [("tpe", optuna.samplers.TPESampler),
                                          ("nsga2", optuna.samplers.NSGAIISampler)])
def test_optuna_samplers_through_ray_tune(ray_session, tiny_cache, tmp_path, sampler, kind):
    rows, study = stage1(tiny_cache, tmp_path, sampler, sampler=sampler)
    assert len(rows) == 4 and all(r["status"] == "complete" for r in rows)
    assert all(analytic_flops(resolve_arch(r["arch"])) in WINDOW for r in rows)
    assert [t.user_attrs["arch"] for t in study.trials] == [r["arch"] for r in rows]
    assert all(set(t.params) == {f"u_{p}{i}" for p in "dw" for i in range(1, 5)} for t in study.trials)
    assert all(float(r["proxy_score"]) == float(r["score"]) for r in rows)  # the smoke preset's proxy: last score


def test_tse_proxy_ranks_by_the_sum_of_training_losses(ray_session, tiny_cache, tmp_path):
    rows, study = stage1(tiny_cache, tmp_path, "tse", proxy_score="tse")
    assert len(rows) == 4 and all(r["status"] == "complete" for r in rows)
    for r in rows:
        assert float(r["proxy_score"]) == pytest.approx(float(r["proxy_tse"])) and float(r["proxy_tse"]) > 0
        assert float(r["proxy_final"]) == float(r["score"])  # the last epoch is scored all the same
    assert [t.value for t in study.trials] == [float(r["proxy_score"]) for r in rows]


def test_a_raising_and_an_out_of_memory_trial_fail_and_the_search_goes_on(ray_session, tiny_cache, tmp_path):
    rows, _ = stage1(tiny_cache, tmp_path, "flaky", task="flaky_task:FlakyTask")
    raises, oom = doomed()
    by_arch = {r["arch"]: r for r in rows}
    assert len(rows) == 4 and set(by_arch) >= {raises, oom}
    assert by_arch[raises]["status"] == "failed" and by_arch[raises]["failure"].startswith("RuntimeError: the trial")
    assert by_arch[oom]["status"] == "failed" and by_arch[oom]["failure"].startswith("OutOfMemoryError: CUDA out")
    others = [r for a, r in by_arch.items() if a not in (raises, oom)]
    assert len(others) == 2 and all(r["status"] == "complete" and r["proxy_score"] for r in others)


def test_a_zero_cost_proxy_ranks_stage_1_higher_is_better(ray_session, tiny_cache, tmp_path):
    # synflow is the default preset's proxy since issue 14's study: stage 1 scores each untrained network once
    rows, study = stage1(tiny_cache, tmp_path, "synflow", proxy_score="synflow", scheduler="asha")
    assert len(rows) == 4 and all(r["status"] == "complete" for r in rows)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    values = [float(r["proxy_score"]) for r in rows]
    assert all(v > 0 for v in values) and [t.value for t in study.trials] == values
