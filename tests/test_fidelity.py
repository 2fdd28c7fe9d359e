"""`nas-fidelity` end to end on CPU (smoke preset, tiny data), its tables against the jobs it ran, resume after a
killed driver, and bad input."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nas.fidelity_cli import main
from nas.runs import read_table
from nas.stats import recommend

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from ray_local import kill_ray  # noqa: E402

PROXIES = "final,tse,val_loss,final_e2,grad_norm"


def args(cache: Path, out: Path, name: str, *extra: str) -> list[str]:
    return ["--data", str(cache), "--preset", "smoke", "--archs", "2", "--proxies", PROXIES, "--out", str(out),
            "--name", name, *extra]


def timm_blocks(arch: str) -> int:
    """The residual blocks of an architecture's built network (timm's stages), counted independently of its name."""
    from search_spaces import create_space
    space = create_space()
    net = space.build(space.parse(arch), 10)
    return sum(len(getattr(net, f"layer{i}")) for i in range(1, 5))


@pytest.fixture(scope="module")
def study(tiny_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("fid")
    assert main(args(tiny_cache, out, "fid")) == 0
    return out / "fid"


@pytest.mark.ray
@pytest.mark.slow
def test_the_study_writes_its_tables(study):
    models, fidelity = read_table(study / "models.csv"), read_table(study / "fidelity.csv")
    summary = json.loads((study / "summary.json").read_text())
    assert [m["kind"] for m in models] == ["window", "window", "baseline"] and models[2]["arch"] == "resnet34d"
    for m in models:
        assert all(m[f"full_score_s{k}"] and float(m[f"full_score_s{k}"]) > 0 for k in range(2))
        assert all(m[f"{p}_s{k}"] not in ("", None) for p in PROXIES.split(",") for k in range(2))
    assert [f["proxy"] for f in fidelity] == PROXIES.split(",") + ["ref_depth", "ref_params"]
    assert [f["reference"] for f in fidelity] == [""] * len(PROXIES.split(",")) + ["yes", "yes"]
    for m in models:  # size alone beside the proxies: the blocks of the timm network, and its parameters
        assert float(m["ref_depth_s0"]) == timm_blocks(m["arch"])
        assert float(m["ref_params_s0"]) == pytest.approx(float(m["params_m"]))
    assert summary["fidelity"] == "done" and summary["n_archs"] == 3 and summary["full_seeds"] == 2
    ceiling = {k: summary[f"noise_ceiling_{k}"] for k in ("kendall", "kendall_lo", "kendall_hi")}
    assert not ceiling["kendall_lo"] > ceiling["kendall_hi"]  # NaN with too few architectures
    assert recommend(fidelity[:-2], ceiling=ceiling) == (summary["recommended_proxy"], summary["rule"])
    jobs = read_table(study / "jobs.csv")
    # 3 architectures x 2 seeds x (2 schedules + 1 zero-cost) proxies, and 3 x 2 full trainings
    assert len(jobs) == 3 * 2 * 3 + 3 * 2 and all(j["status"] == "complete" for j in jobs)
    for j in (j for j in jobs if j["job"] == "full"):  # the score's terms are kept beside it
        terms = [float(j[t]) for t in ("v1_v2", "v1_v3", "v1_v4_x10")]
        assert sum(terms) == pytest.approx(float(j["score"]), rel=1e-6) and min(terms) >= 0
    base = {(j["arch"], j["seed"]): j for j in jobs if j["schedule"] == "base"}
    for m in models:  # the tables say what the jobs measured
        assert float(m["tse_s0"]) == pytest.approx(float(base[(m["arch"], "0")]["proxy_tse"]))


@pytest.mark.ray
@pytest.mark.slow
def test_resume_of_a_finished_study_runs_nothing(study, capsys):
    before = (study / "jobs.csv").read_bytes()
    assert main(["--name", "fid", "--out", str(study.parent), "--resume"]) == 0
    assert (study / "jobs.csv").read_bytes() == before


@pytest.mark.ray
@pytest.mark.slow
def test_a_killed_driver_resumes_without_repeating_finished_jobs(tiny_cache, tmp_path, ray_tmp):
    folder = ray_tmp
    small = [*args(tiny_cache, tmp_path, "k"), "--archs", "1", "--proxies", "final,tse"]  # 8 trainings in all
    proc = subprocess.Popen([sys.executable, "-m", "nas.fidelity_cli", *small],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "RAY_TMPDIR": str(folder)})
    jobs = tmp_path / "k" / "jobs.csv"
    try:
        end = time.time() + 300
        while time.time() < end and sum(r["status"] == "complete" for r in read_table(jobs)) < 2:
            assert proc.poll() is None, "the driver ended early"
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kill_ray(folder)
    finished = {r["label"]: r for r in read_table(jobs) if r["status"] == "complete"}
    assert len(finished) >= 2
    assert main(["--name", "k", "--out", str(tmp_path), "--resume"]) == 0
    after = {r["label"]: r for r in read_table(jobs)}
    for label, row in finished.items():  # finished work is kept exactly, not run again
        assert after[label] == row
    assert all(r["status"] == "complete" for r in after.values())


@pytest.mark.parametrize("extra,needle", [
    (["--proxies", "final,nope"], "nope"), (["--archs", "0"], "--archs"), (["--budget", "10M"], "10M"),
    (["--preset", "huge"], "huge"), (["--baselines", "resnet99"], "resnet99"),
])
def test_bad_input_is_one_line_and_exit_2(tiny_cache, tmp_path, capsys, extra, needle):
    assert main(args(tiny_cache, tmp_path, "bad") + extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "bad").exists()


def test_missing_data_and_resume_of_nothing(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--preset", "smoke"]) == 2
    assert main(["--out", str(tmp_path), "--name", "ghost", "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
