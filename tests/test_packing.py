"""The packing decision (a pure function of measured numbers) and the rerun of trials that ran out of memory on a
shared GPU."""
import math

import optuna
import pytest
from optuna.trial import TrialState

from _spaces import SPACE
from nas.packing import Measure, Packing, from_summary, per_gpu, to_summary
from nas.schema import run_schema
from nas.searcher import StudySearch
from nas.study import RERUN, enqueue_reruns, finished_trials, load_study, make_sampler, open_storage
from search_spaces import FlopWindow

optuna.logging.set_verbosity(optuna.logging.WARNING)

# issue 13's measurement: a one-epoch proxy trial took about 6 s of wall time for about 1.6 s of training
H200_PROXY = Measure(footprint_gb=9.0, gpu_gb=139.8, setup_s=2.0, epoch_s=1.6, val_s=2.4, img_s=3100.0)


def test_duty_is_the_share_of_time_spent_training():
    assert H200_PROXY.duty(1, 1) == pytest.approx(1.6 / 6.0)
    assert H200_PROXY.duty(6, 6) == pytest.approx(9.6 / (9.6 + 2.0 + 14.4))
    assert H200_PROXY.duty(40, 1) == pytest.approx(64 / (64 + 2 + 2.4))


def test_trainings_are_packed_up_to_memory_cpus_and_the_limit():
    p = per_gpu(H200_PROXY, epochs=1, validations=1, cpus_per_gpu=16)
    # memory: 0.9 * 139.8 // (1.5 * 9) = 9; CPUs: 16 // 2 = 8; limit 8
    assert p.per_gpu == 8 and p.gpus_per_trial == 0.125
    assert "busy 27%" in p.reason and "memory allows 9" in p.reason
    assert per_gpu(H200_PROXY, 1, 1, cpus_per_gpu=6).per_gpu == 3  # two CPUs per training
    small = Measure(**{**H200_PROXY.to_dict(), "gpu_gb": 24.0})
    assert per_gpu(small, 1, 1, 16).per_gpu == 1  # 0.9 * 24 // (1.5 * 9) = 1
    # busy 94 % alone is still packed: measured, sharing never lowered the GPU's throughput (nas.packing)
    assert per_gpu(H200_PROXY, 40, 1, 16).per_gpu == 8
    # issue 13's second round: ~20.3 GB per proxy training on an H200 -> 4, as measured best (85 % at 4)
    h200 = Measure(footprint_gb=20.3, gpu_gb=150.1, setup_s=0.2, epoch_s=1.46, val_s=0.64, img_s=3320.0)
    assert per_gpu(h200, 6, 1, 16).per_gpu == 4
    assert per_gpu(H200_PROXY, 1, 1, 64, limit=5).per_gpu == 5
    assert per_gpu(H200_PROXY, 1, 1, 1).per_gpu == 1  # fewer than two CPUs: one at a time


def test_summary_round_trip():
    p = per_gpu(H200_PROXY, 1, 1, 16)
    assert from_summary(to_summary(p)) == Packing(p.per_gpu, p.reason, p.measure)
    assert from_summary(None) is None


def searcher(url: str, share: float) -> StudySearch:
    param = SPACE.parameterisation(FlopWindow.below("5G"))
    return StudySearch(param, make_sampler("regnet", param, 0, 20), open_storage(url), "s", 3, 0,
                       run_schema("faces", "resnet_d"), share=share)


@pytest.mark.parametrize("share,rerun", [(0.25, True), (1.0, False)])
def test_out_of_memory_on_a_shared_gpu_is_run_again_on_a_whole_one(tmp_path, share, rerun):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    s = searcher(url, share)
    first = s.suggest("a")["arch"]
    s.suggest("b")
    s.on_trial_complete("a", {"failed": 1, "oom": 1, "failure": "OutOfMemoryError: CUDA out of memory",
                              "proxy": math.inf, "epoch": 1})
    s.on_trial_complete("b", {"proxy": 2.0, "epoch": 3})
    study = load_study(url, "s")
    assert study.trials[0].state == TrialState.FAIL
    assert len(finished_trials(study)) == (1 if rerun else 2)  # a rerun trial does not count
    assert study.trials[0].user_attrs["failure"].startswith(RERUN) == rerun
    assert enqueue_reruns(study) == (1 if rerun else 0) and enqueue_reruns(study) == 0  # queued once
    if rerun:
        again = searcher(url, 1.0).suggest("c")  # the queued trial comes first, with the same architecture
        assert again["arch"] == first
