"""How many trials run at once: whole and fractional GPUs per trial, CPUs shared out, CPU-only clusters."""
import pytest

from nas.cluster import ClusterError, Slots, slots_for


@pytest.mark.parametrize("gpus,per,concurrent", [(1, 1, 1), (1, 0.5, 2), (1, 0.25, 4), (1, 0.3, 3), (2, 0.5, 4),
                                                 (8, 1, 8), (8, 0.5, 16), (3, 1.5, 2), (1, 1 / 3, 3)])
def test_fractional_gpus_pack_trials(gpus, per, concurrent):
    slots = slots_for(16, gpus, per, None)
    assert slots.concurrent == concurrent and slots.gpus == per
    assert slots.cpus == max(1, 16 // concurrent)
    assert slots.resources() == {"cpu": slots.cpus, "gpu": per}


def test_cpus_per_trial_and_cpu_only_clusters():
    assert slots_for(16, 1, 0.25, 2) == Slots(2, 0.25, 4)
    assert slots_for(2, 0, 1, None) == Slots(2, 0.0, 1)  # no GPU: one trial with every CPU
    assert slots_for(8, 0, 1, 2) == Slots(2, 0.0, 4)
    assert slots_for(4, 2, 0, None) == Slots(4, 0.0, 1)  # --gpus-per-trial 0 trains on the CPU


def test_more_gpus_per_trial_than_the_cluster_has():
    with pytest.raises(ClusterError, match="more than the 1 GPUs"):
        slots_for(16, 1, 2, None)
