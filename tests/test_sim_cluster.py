"""A simulated three-node Ray cluster on loopback (benchmarks/sim_cluster.py, issue 8) runs the real nas-search."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import sim_cluster  # noqa: E402
from ray_local import kill_ray  # noqa: E402
from nas.runs import read_table  # noqa: E402


@pytest.mark.ray
@pytest.mark.slow
def test_trials_spread_over_three_nodes_with_declared_gpus(tiny_cache, tmp_path):
    # head + 2 workers, 1 CPU and 1 declared GPU each; the trials train on the CPU (no CUDA here)
    row = sim_cluster.measure(3, tiny_cache, tmp_path, trials=6, timeout=240, say=lambda text: None)
    assert "3 at a time, 1 GPU and 1 CPU each" in row["slots_line"]
    rows = read_table(tmp_path / "sim3" / "trials.csv")
    assert len(rows) == 6 and all(r["status"] == "complete" for r in rows)
    assert len({r["node"] for r in rows}) > 1  # Ray node ids: one hostname serves every node on loopback
    assert all(r["gpu"].endswith(":0") for r in rows)  # Ray assigned each trial its node's declared GPU
    assert sum(row["per_node"]) == 6 and row["workers"] == len(row["per_node"])
    assert not (tmp_path / "sim3" / "final.csv").exists() or not read_table(tmp_path / "sim3" / "final.csv")
    assert kill_ray(Path(row["ray_tmp"])) == 0  # its Ray processes, renamed agents included, are gone
