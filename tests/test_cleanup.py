"""Issue 16: killed work cleans up after itself. Worker processes of `nas-data` die with their parent, the
temporary folders and files of killed runs are removed by the next run (never a live writer's), a driver's local
Ray instance ends with the driver however it ends, and a search's trials.csv must agree with its study."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kit.atomic import remove_stale, staged_folder, write_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from ray_local import kill_ray  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def descendants(pid: int) -> dict[int, int]:
    from nas.cluster import descendants as below
    return below(pid)


def alive(owned: dict[int, int]) -> dict[int, int]:
    from nas.cluster import _alive
    return _alive(owned)


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def wait_for(predicate, seconds: float, what: str):
    end = time.time() + seconds
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def gone_within(owned: dict[int, int], seconds: float) -> float:
    """Seconds until none of `owned` runs any more; AssertionError naming the survivors after `seconds`."""
    start = time.time()
    while alive(owned) and time.time() - start < seconds:
        time.sleep(0.1)
    left = alive(owned)
    names = {p: cmdline(p)[:80] for p in left}
    assert not left, f"still running {seconds} s after the parent was killed: {names}"
    return time.time() - start


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# ---------------------------------------------------------------- 1. nas-data's workers die with their parent

POOL = ("import sys, time, os\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from facedata.parallel import run_jobs\n"
        "if __name__ == '__main__':\n"
        "    run_jobs(time.sleep, [(120,), (120,), (120,)], 2, int, (), print)\n")


@needs_proc
def test_pool_workers_die_when_their_parent_is_killed(tmp_path):
    script = tmp_path / "pool.py"
    script.write_text(POOL)
    parent = subprocess.Popen([sys.executable, str(script)])
    try:
        def two_workers():
            found = descendants(parent.pid)
            return found if sum(b"spawn_main" in cmdline(p) for p in found) >= 2 else None
        workers = wait_for(two_workers, 60, "two pool workers")
        time.sleep(1.0)  # both are in their initializer or their job by now
        workers = {**workers, **descendants(parent.pid)}
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    gone_within(workers, 5)


def test_a_dead_worker_is_one_line():
    """A worker that dies (here: os._exit as its job) is a RunFailure, not a BrokenProcessPool traceback."""
    from facedata.parallel import run_jobs
    from kit.errors import RunFailure
    with pytest.raises(RunFailure, match="worker process died"):
        run_jobs(os._exit, [(3,)], 2, int, (), lambda job, value: None)


@needs_proc
def test_killed_nas_data_synth_leaves_no_worker_and_the_rerun_cleans_its_folder(tmp_path):
    out = tmp_path / "wcpa"
    argv = ["synth", "--out", str(out), "--subjects", "12", "--frames-per-subject", "20", "--frames-per-action", "10",
            "--size", "400", "--workers", "2"]
    parent = subprocess.Popen([sys.executable, "-m", "facedata.cli", *argv], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        staged = wait_for(lambda: next(iter(tmp_path.glob(".wcpa.tmp-*/image/*/*/*.jpg")), None), 120,
                          "the workers' first frame")
        workers = descendants(parent.pid)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert len(workers) >= 2
    gone_within(workers, 5)
    leftover = staged.parents[3]
    assert leftover.name == f".wcpa.tmp-{parent.pid}@{socket.gethostname()}" and leftover.is_dir()
    from facedata.cli import main
    assert main(["synth", "--out", str(out), "--subjects", "2", "--frames-per-subject", "2", "--frames-per-action",
                 "2", "--size", "64", "--workers", "1"]) == 0
    assert not leftover.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["wcpa"]


# ---------------------------------------------------------------- 2. temporaries of killed runs are removed

def test_staged_folder_removes_only_dead_writers_folders(tmp_path):
    host = socket.gethostname()
    dead = dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        planted = {
            f".out.tmp-{dead}": False,              # written before the host was part of the name
            f".out.tmp-{dead}@{host}": False,
            f".out.old-{dead}@{host}": False,       # killed between its two renames
            f".out.tmp-{live.pid}@{host}": True,    # a writer still at work
            f".out.tmp-{live.pid}": True,
            f".out.tmp-{dead}@elsewhere.example": True,  # another host's, on a shared file system
            f".other.tmp-{dead}@{host}": True,      # another output's
            "out.tmp-1": True,                      # not a temporary of ours at all
        }
        for name in planted:
            (tmp_path / name).mkdir()
            (tmp_path / name / "frame.jpg").write_bytes(b"x")
        with staged_folder(tmp_path / "out", overwrite=False) as tmp:
            assert tmp.name == f".out.tmp-{os.getpid()}@{host}"
            (tmp / "done").write_text("yes")
        kept = {p.name for p in tmp_path.iterdir()}
        assert kept == {"out"} | {name for name, keep in planted.items() if keep}
        assert (tmp_path / f".out.tmp-{live.pid}@{host}" / "frame.jpg").read_bytes() == b"x"
    finally:
        live.kill()
        live.wait()


def test_atomic_write_removes_dead_writers_temporaries(tmp_path):
    host = socket.gethostname()
    dead = dead_pid()
    stale = tmp_path / f".summary.json.abcd1234.tmp-{dead}@{host}"
    mine = tmp_path / f".summary.json.efgh5678.tmp-{os.getpid()}@{host}"  # e.g. another thread's write
    unknown = tmp_path / ".summary.json.ijkl9012.tmp"  # an older version's: whose, nobody knows
    for p in (stale, mine, unknown):
        p.write_text("half")
    write_json(tmp_path / "summary.json", {"a": 1})
    assert json.loads((tmp_path / "summary.json").read_text()) == {"a": 1}
    assert not stale.exists() and mine.exists() and unknown.exists()
    assert remove_stale(tmp_path, "summary.json") == []


def test_a_stale_folder_of_a_killed_cache_is_removed_by_the_next_nas_data_cache(tiny_root, tmp_path):
    from facedata.cli import main
    stale = tmp_path / f".cache.tmp-{dead_pid()}"
    (stale / "images.npy").parent.mkdir(parents=True)
    (stale / "images.npy").write_bytes(b"\0" * 1000)
    assert main(["cache", "--data", str(tiny_root), "--out", str(tmp_path / "cache"), "--res", "32",
                 "--workers", "1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


# ---------------------------------------------------------------- 3. a driver's local Ray ends with the driver

GUARDED = ("import sys, subprocess, time\n"
           f"sys.path.insert(0, {str(ROOT)!r})\n"
           "from nas.cluster import start_guard\n"
           "assert start_guard()\n"
           "code = 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)'\n"
           "subprocess.Popen([sys.executable, '-c', code], start_new_session=True)\n"  # outlives its parent
           "print('ready', flush=True)\n"
           "time.sleep(120)\n")


@needs_proc
def test_the_guard_ends_what_a_killed_driver_started(tmp_path):
    """The mechanism, without Ray: a child that ignores SIGTERM and would outlive its killed parent is ended."""
    driver = subprocess.Popen([sys.executable, "-c", GUARDED], stdout=subprocess.PIPE, text=True)
    try:
        assert driver.stdout.readline().strip() == "ready"
        owned = wait_for(lambda: (lambda d: d if len(d) >= 2 else None)(descendants(driver.pid)), 10,
                         "guard and child")
        time.sleep(1.5)  # the guard has noted the child
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    took = gone_within(owned, 10)  # the child, then the guard itself
    assert took < 8


RAY_DRIVER = ("import sys, time\n"
              f"sys.path.insert(0, {str(ROOT)!r})\n"
              "from nas.cluster import connect\n"
              "connect(None, verbose=False)\n"
              "print('ready', flush=True)\n"
              "time.sleep(300)\n")


@needs_proc
@pytest.mark.ray
@pytest.mark.slow
def test_a_sigkilled_driver_leaves_no_ray_process(tmp_path, ray_tmp):
    """Without the guard, Ray 2.60's DashboardAgent and RuntimeEnvAgent outlived a SIGKILLed driver by ~60 s."""
    folder = ray_tmp
    env = {**os.environ, "RAY_TMPDIR": str(folder), "RAY_ADDRESS": "", "RAY_AUTH_MODE": "disabled"}
    driver = subprocess.Popen([sys.executable, "-c", RAY_DRIVER], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert driver.stdout.readline().strip() == "ready"

        def agents():
            d = descendants(driver.pid)
            return d if sum(cmdline(p).startswith(b"ray::") and b"Agent" in cmdline(p) for p in d) >= 2 else None
        owned = wait_for(agents, 60, "Ray's agents")
        time.sleep(2)
        owned = {**owned, **descendants(driver.pid)}
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        took = gone_within(owned, 15)
    finally:
        if driver.poll() is None:
            driver.kill()
        kill_ray(folder)
    assert took < 12


# ---------------------------------------------------------------- 5. trials.csv must agree with the study

@pytest.fixture
def search_run(tmp_path):
    """A run folder with a real Optuna study of 4 trials (complete, complete, pruned, complete) and the trials.csv
    exported from it."""
    import optuna

    from nas.runs import RunDir, trial_columns, write_table, write_yaml
    from nas.schema import run_schema
    from nas.study import trial_rows
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run = RunDir(tmp_path / "search")
    run.root.mkdir()
    write_yaml(run.config, {"command": "nas-search", "name": "search", "storage": None, "out": str(tmp_path)})
    study = optuna.create_study(storage=f"sqlite:///{run.root / 'study.db'}", study_name="search")
    for i, state in enumerate(["complete", "complete", "pruned", "complete"]):
        t = study.ask()
        t.set_user_attr("arch", f"d1.1.1.{i + 1}_w8.8.8.8")
        if state == "pruned":
            t.set_user_attr("proxy_score", 9000.0)
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(t, 1000.0 + i + 0.123456789)
    schema = run_schema("faces", "resnet_d")
    write_table(run.trials, trial_rows(study, schema), trial_columns(schema))
    return run


def _edit_trials(run, edit) -> None:
    lines = run.trials.read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    rows = edit(rows)
    run.trials.write_text("\n".join([lines[0], *(",".join(r[h] for h in header) for r in rows)]) + "\n")


def test_trials_that_agree_with_the_study_read_back(search_run):
    from nas.runs import read_table
    rows = read_table(search_run.trials)
    assert [r["status"] for r in rows] == ["complete", "complete", "pruned", "complete"]
    _edit_trials(search_run, lambda rows: rows[:2])  # fewer rows than the study: an export that lags is fine
    assert len(read_table(search_run.trials)) == 2


@pytest.mark.parametrize("edit,words", [
    (lambda rows: rows + [{**rows[0], "number": "7"}], ["line 6", "trial 7 is not in the study"]),
    (lambda rows: rows + [dict(rows[1])], ["line 6", "trial 1 is listed twice"]),
    (lambda rows: [{**r, "status": "complete"} if r["number"] == "2" else r for r in rows],
     ["line 4", "trial 2 is complete in the table but pruned"]),
    (lambda rows: [{**r, "proxy_score": "176.0"} if r["number"] == "3" else r for r in rows],
     ["line 5", "proxy_score '176.0'"]),
    (lambda rows: [{**r, "number": "x"} if r["number"] == "0" else r for r in rows], ["line 2", "'x'"]),
])
def test_nas_report_refuses_trials_that_disagree_with_the_study(search_run, capsys, edit, words):
    from reports.cli import main
    _edit_trials(search_run, edit)
    before = {p.name: p.read_bytes() for p in search_run.root.iterdir()}
    code = main([str(search_run.root), "--format", "md"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert str(search_run.trials) in err[0] and all(w in err[0] for w in words), err[0]
    assert {p.name: p.read_bytes() for p in search_run.root.iterdir()} == before  # the study opened read-only


def test_nas_report_on_a_replaced_study(search_run, capsys):
    """study.db of another search (or an empty file) beside this trials.csv."""
    from reports.cli import main
    (search_run.root / "study.db").write_bytes(b"")
    assert main([str(search_run.root), "--format", "md"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trials.csv" in err[0] and "cannot be read" in err[0], err


def test_resume_refuses_trials_that_disagree_with_the_study(search_run, capsys):
    from nas.cli import main
    from nas.runs import write_yaml
    from nas.settings import make_settings
    settings = make_settings({"budget": "5G", "name": "search", "out": str(search_run.root.parent)}, "smoke")
    write_yaml(search_run.config, settings.to_dict())
    _edit_trials(search_run, lambda rows: rows + [{**rows[0], "number": "9"}])
    before = {p.name: p.read_bytes() for p in search_run.root.iterdir() if p.name != ".lock"}
    code = main(["--name", "search", "--out", str(search_run.root.parent), "--resume"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "trials.csv: line 6: trial 9 is not in the study" in err[0], err
    assert {p.name: p.read_bytes() for p in search_run.root.iterdir() if p.name != ".lock"} == before


def test_resume_refuses_a_run_folder_copied_without_its_study(search_run, capsys):
    """trials.csv lists trials but study.db is gone: resuming would start a new search into the same folder."""
    from nas.cli import main
    from nas.runs import write_yaml
    from nas.settings import make_settings
    settings = make_settings({"budget": "5G", "name": "search", "out": str(search_run.root.parent)}, "smoke")
    write_yaml(search_run.config, settings.to_dict())
    (search_run.root / "study.db").unlink()
    before = {p.name: p.read_bytes() for p in search_run.root.iterdir() if p.name != ".lock"}
    code = main(["--name", "search", "--out", str(search_run.root.parent), "--resume"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "lists 4 trials" in err[0] and "study.db is missing" in err[0], err
    assert {p.name: p.read_bytes() for p in search_run.root.iterdir() if p.name != ".lock"} == before
