"""`nas-search` end to end on CPU: run folder, a real kill and resume, a two-node Ray cluster, PostgreSQL."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
import yaml

from _spaces import analytic_flops, resolve_arch
from search_spaces import FlopWindow
from nas.cli import main
from nas.runs import RunDir, read_table

WINDOW = FlopWindow.below("5G")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from ray_local import LOOPBACK_ENV, RAY, kill_ray as _kill_ray  # noqa: E402  (shared with benchmarks/sim_cluster.py)


def search_args(cache: Path, out: Path, name: str, trials: int = 3, *extra: str) -> list[str]:
    """A toy search: 32x32 crops, a few frames, two proxy epochs, one searched net against resnet18d."""
    return ["--budget", "5G", "--data", str(cache), "--trials", str(trials), "--proxy-epochs", "2",
            "--proxy-res", "32", "--final-epochs", "2", "--final-res", "32", "--top-k", "1",
            "--baselines", "resnet18d", "--batch", "8", "--val-max", "8", "--scheduler", "none",
            "--preset", "smoke", "--out", str(out), "--name", name, *extra]


def check_run(run: RunDir, trials: int, seeds: int = 1) -> list[dict]:
    """The files a finished run keeps, and what they must say."""
    rows = read_table(run.trials)
    assert len(rows) == trials
    assert len({r["arch"] for r in rows}) == trials and len({r["number"] for r in rows}) == trials
    for r in rows:
        assert analytic_flops(resolve_arch(r["arch"])) in WINDOW
        assert r["status"] in ("complete", "pruned", "failed")
    final = read_table(run.final)
    assert {r["label"] for r in final} >= {"resnet18d"} and len(final) == 3 * seeds  # searched, control, resnet18d
    assert sorted({r["kind"] for r in final}) == ["baseline", "control", "searched"]
    assert len({(r["label"], r["seed"]) for r in final}) == len(final)
    assert all(r["status"] == "complete" and Path(r["checkpoint"]).is_file() for r in final)
    assert all(float(r[k]) > 0 for r in final for k in ("train_img_s", "infer_img_s", "latency_ms_b1"))
    assert all(r["proxy_score"] not in ("", None) for r in final)
    settings = yaml.safe_load(run.config.read_text())
    study = optuna.load_study(study_name=settings["name"], storage=settings["storage"] or
                              f"sqlite:///{run.root / 'study.db'}")
    assert sum(t.state.is_finished() for t in study.trials) >= trials
    summary = json.loads(run.summary.read_text())
    assert summary["stage1"] == "done" and summary["stage2"] == "done"
    return rows


@pytest.mark.ray
@pytest.mark.slow
def test_search_end_to_end_then_resume_is_a_no_op(tiny_cache3, tmp_path, capsys):
    args = _override(search_args(tiny_cache3, tmp_path, "e2e"), ["--scheduler", "asha"])  # ASHA: the default
    assert main([*args, "--final-seeds", "2"]) == 0
    run = RunDir(tmp_path / "e2e")
    check_run(run, 3, seeds=2)
    summary = json.loads(run.summary.read_text())
    splits = {k: set(v) for k, v in summary["splits"].items()}
    assert splits["train"] and splits["selection"] and splits["test"]
    assert not splits["test"] & (splits["train"] | splits["selection"]) and not splits["train"] & splits["selection"]
    assert summary["data"]["synthetic"] is True  # a cache of `nas-data synth`'s frames, given as --data
    assert len(summary["mps"]) == 1  # what this invocation did about NVIDIA MPS (nothing, on a CPU)
    assert {r["scored_on"] for r in read_table(run.final)} == {"test"}  # nothing was picked on these subjects
    assert (run.ray / "stage1-0").is_dir() and (run.ray / "stage2-0").is_dir()
    before = {p: p.read_bytes() for p in (run.trials, run.final)}
    assert main(["--name", "e2e", "--out", str(tmp_path), "--resume"]) == 0
    assert {p: p.read_bytes() for p in before} == before  # nothing re-run, nothing rewritten
    assert len(json.loads(run.summary.read_text())["mps"]) == 2  # one entry per invocation
    assert "resnet18d" in capsys.readouterr().out
    shutil.rmtree(run.root / "final")  # full-size checkpoints; pytest keeps its last three temp folders


def _wait_rows(path: Path, n: int, proc: subprocess.Popen, timeout: float) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if len(read_table(path, check=False)) >= n:  # polling must not open the study the driver writes
            return
        if proc.poll() is not None:
            raise AssertionError(f"the driver exited early with {proc.returncode}")
        time.sleep(0.5)
    raise AssertionError(f"no {n} finished trials in {timeout} s")


@pytest.mark.ray
@pytest.mark.slow
def test_killed_driver_resumes_without_losing_or_repeating_trials(tiny_cache, tmp_path, ray_tmp):
    args = search_args(tiny_cache, tmp_path, "killed", 5)
    proc = subprocess.Popen([sys.executable, "-m", "nas.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "RAY_TMPDIR": str(ray_tmp)})
    run = RunDir(tmp_path / "killed")
    try:
        _wait_rows(run.trials, 2, proc, timeout=240)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver, with no clean-up of any kind
        proc.wait()
        _kill_ray(ray_tmp)  # what is left of the local Ray instance it started
    before = {r["number"]: r for r in read_table(run.trials)}
    assert 2 <= len(before) < 5
    assert main(["--name", "killed", "--out", str(tmp_path), "--resume"]) == 0
    rows = check_run(run, 5)
    after = {r["number"]: r for r in rows}
    for number, row in before.items():  # finished work survives exactly
        assert after[number] == row


@pytest.mark.ray
@pytest.mark.slow
def test_trials_spread_over_a_two_node_cluster(tiny_cache, tmp_path, ray_tmp):
    port = "6391"
    env = {**os.environ, **LOOPBACK_ENV}
    head = [RAY, "start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
            "--disable-usage-stats", f"--temp-dir={ray_tmp}"]
    worker = [RAY, "start", f"--address=127.0.0.1:{port}", "--num-cpus=1", "--disable-usage-stats"]
    try:
        for cmd in (head, worker):
            subprocess.run(cmd, check=True, capture_output=True, env=env, timeout=120)
        args = search_args(tiny_cache, tmp_path, "two", 4, "--address", f"127.0.0.1:{port}",
                           "--cpus-per-trial", "1")
        # the driver in its own process: Ray keeps its authentication mode per process, and this
        # cluster's (disabled) must not leak into the local clusters of the other tests
        done = subprocess.run([sys.executable, "-m", "nas.cli", *args], capture_output=True, text=True, env=env,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        rows = check_run(RunDir(tmp_path / "two"), 4)
        assert len({r["node"] for r in rows}) == 2
    finally:
        _kill_ray(ray_tmp)


def _postgres_bin() -> Path | None:
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / "initdb").exists():
            return root
    return None


@pytest.fixture
def postgres():
    """A real PostgreSQL server on loopback, in a temporary folder, stopped and removed afterwards."""
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    pytest.importorskip("psycopg2")
    base = Path(tempfile.mkdtemp(prefix="nas-pg-"))  # pytest's own temp root is private to root
    base.chmod(0o755)
    data = base / "pg"
    data.mkdir()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses root
    if as_user:
        os.chown(data, *_postgres_ids())
    port = "55439"
    try:
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
                       check=True, capture_output=True)
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(data / "log"),
                        "-o", f"-p {port} -k {data} -h 127.0.0.1", "-w", "start"], check=True, capture_output=True)
        subprocess.run([*as_user, str(bindir / "createdb"), "-h", "127.0.0.1", "-p", port, "-U", "postgres", "nas"],
                       check=True, capture_output=True)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/nas"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _postgres_ids() -> tuple[int, int]:
    import pwd
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


@pytest.mark.ray
@pytest.mark.postgres
@pytest.mark.slow
def test_search_against_postgresql(tiny_cache, tmp_path, postgres):
    assert main(search_args(tiny_cache, tmp_path, "pg", 3, "--storage", postgres)) == 0
    run = RunDir(tmp_path / "pg")
    check_run(run, 3)
    assert not (run.root / "study.db").exists()
    study = optuna.load_study(study_name="pg", storage=postgres)
    assert sorted(t.user_attrs["arch"] for t in study.trials) == sorted(r["arch"] for r in read_table(run.trials))


def _snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} if folder.exists() else {}


@pytest.mark.parametrize("change,needle", [
    (["--budget", "5X"], "5X"),
    (["--budget", "10M"], "10M"),
    (["--data", "/no/such/data"], "/no/such/data"),
    (["--address", "127.0.0.1:1"], "127.0.0.1:1"),
    (["--storage", "postgresql+psycopg2://nobody@127.0.0.1:1/none"], "storage"),
    (["--name", "e2e"], "--resume"),  # an existing run, without --resume
])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(tiny_cache, tmp_path, capsys, change, needle):
    existing = tmp_path / "e2e"
    existing.mkdir()
    (existing / "config.yaml").write_text("budget: 5G\n")
    before = _snapshot(tmp_path)
    args = _override(search_args(tiny_cache, tmp_path, "bad", 3), change)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    after = _snapshot(tmp_path)
    assert {p: b for p, b in after.items() if "/bad/" not in str(p)} == before
    assert not (tmp_path / "bad" / "config.yaml").exists()


def _override(args: list[str], change: list[str]) -> list[str]:
    args = list(args)
    for key, value in zip(change[::2], change[1::2]):
        if key in args:
            args[args.index(key) + 1] = value
        else:
            args += [key, value]
    return args


def test_resume_errors(tiny_cache, tmp_path, capsys):
    assert main(["--name", "ghost", "--out", str(tmp_path), "--resume"]) == 2
    assert "does not exist" in capsys.readouterr().err
    run = RunDir(tmp_path / "kept")
    run.root.mkdir()
    from nas.settings import make_settings
    from nas.runs import write_yaml
    write_yaml(run.config, make_settings({"budget": "5G", "name": "kept", "out": str(tmp_path)}, "smoke").to_dict())
    before = _snapshot(run.root)
    assert main(["--name", "kept", "--out", str(tmp_path), "--resume", "--trials", "99"]) == 2
    err = capsys.readouterr().err
    assert "settings differ" in err and "--trials 99" in err
    assert _snapshot(run.root) == before


@pytest.mark.ray
@pytest.mark.slow
def test_regnet_space_end_to_end_and_its_report(tiny_cache, tmp_path):
    # with the default preset's zero-cost proxy (synflow: higher is better, values up to ~1e180) through both stages
    from reports.cli import main as report
    from search_spaces import create_space
    args = _override(search_args(tiny_cache, tmp_path, "rg", 2), ["--baselines", "regnetx_040"]) + [
        "--space", "regnet", "--proxy-score", "synflow"]
    assert main(args) == 0
    run = RunDir(tmp_path / "rg")
    space = create_space("regnet", res=256, outputs=6100)
    rows = read_table(run.trials)
    assert len(rows) == 2 and all(space.flops(space.parse(r["arch"])) in WINDOW for r in rows)
    assert all(r["block"] in ("regnetx", "regnety") and len(r["depths"].split(".")) == 4 for r in rows)
    final = read_table(run.final)
    assert {r["label"] for r in final} >= {"regnetx_040"} and all(r["status"] == "complete" for r in final)
    assert report([str(run.root)]) == 0
    text = (run.root / "report" / "report.md").read_text()
    assert "regnetx_040" in text and "design_trends.png" in text
    assert all(float(r["proxy_score"]) > 0 for r in final)  # every stage-2 model scored by synflow too
    shutil.rmtree(run.root / "final")


def test_stage2_table_keeps_the_score_readable_beside_a_huge_proxy(capsys):
    """SynFlow scores near 1e300 once pushed the score columns off a 160-column table."""
    from kit.numbers import short_number
    from nas.cli import print_comparison
    from trainers.task import FaceTask

    rows = [{"label": "resnet34d", "seed": s, "gflops": 3.6, "params_m": 21.8, "proxy_score": 9.9e234,
             "score": 120.0 + s, "v1_v2": 35.0, "v1_v3": 35.0, "v1_v4_x10": 50.0} for s in (0, 1)]
    print_comparison(rows, FaceTask.metric)
    out = capsys.readouterr().out
    assert "9.9e+234" in out and "120.000" in out and "121.000" in out
    # each seed against the reference's mean over its seeds, not against its first seed
    assert "vs resnet34d mean" in out and "-0.500" in out and "+0.500" in out
    assert [short_number(v, decimals=3) for v in (None, float("nan"), 0.0, 1.5, 2e-5, 3e7)] == \
        ["-", "-", "0.000", "1.500", "2e-05", "3e+07"]
    assert [short_number(v) for v in ("x", "0.004", "2.5", 5e6)] == ["-", "0.004", "2.50", "5e+06"]
