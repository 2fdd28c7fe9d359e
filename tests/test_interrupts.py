"""One writer per run folder, and a Ctrl-C that stops a whole search cleanly and resumes exactly."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kit.lock import RunLockedError, run_lock
from nas.cli import main
from nas.runs import RunDir, read_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from ray_local import kill_ray  # noqa: E402


def test_a_second_writer_is_refused_and_a_dead_holder_releases(tmp_path):
    with run_lock(tmp_path, "nas-search"):
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            with run_lock(tmp_path, "nas-search"):
                pass
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from kit.lock import run_lock\n"
                               f"with run_lock({str(tmp_path)!r}, 'x'):\n    print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
        with run_lock(tmp_path):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with run_lock(tmp_path):  # the kernel released the killed holder's lock: nothing stale to clean
        pass


def test_nas_search_on_a_folder_another_driver_holds_is_one_line_exit_2(tmp_path, capsys):
    from nas.runs import write_yaml
    from nas.settings import make_settings
    run = RunDir(tmp_path / "busy")
    write_yaml(run.config, make_settings({"budget": "5G", "name": "busy", "out": str(tmp_path)}, "smoke").to_dict())
    with run_lock(run.root, "nas-search"):
        assert main(["--name", "busy", "--out", str(tmp_path), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "being written by nas-search pid" in err[0]


def _as_from_a_terminal() -> None:
    """In the child before exec: SIGINT handled by default, as in a shell's foreground job. A test runner started
    in the background by a non-interactive shell inherits SIGINT ignored, and Python keeps an ignored SIGINT so."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.parametrize("group", [False, True], ids=["ctrl-c", "sigterm-to-group"])
def test_ctrl_c_stops_the_search_and_resume_finishes_it(tiny_cache, tmp_path, ray_tmp, group):
    # group: SIGTERM to the driver and to its process group (Ray's processes too), as `timeout` and batch schedulers
    # send it at the end of a wall time; ray.init replaces the driver's SIGTERM handler, which nas.cluster puts back
    folder = ray_tmp
    args = ["--budget", "5G", "--data", str(tiny_cache), "--trials", "6", "--proxy-epochs", "2", "--proxy-res", "32",
            "--final-epochs", "1", "--final-res", "32", "--top-k", "1", "--baselines", "resnet18d", "--batch", "8",
            "--val-max", "8", "--scheduler", "none", "--preset", "smoke", "--out", str(tmp_path), "--name", "int"]
    proc = subprocess.Popen([sys.executable, "-m", "nas.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "RAY_TMPDIR": str(folder)},
                            preexec_fn=_as_from_a_terminal, start_new_session=group)
    run = RunDir(tmp_path / "int")
    try:
        end = time.time() + 300
        while time.time() < end and len(read_table(run.trials, check=False)) < 2:  # the study stays unopened
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.3)
        if group:
            proc.send_signal(signal.SIGTERM)
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        code = proc.wait(timeout=120)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_ray(folder)
    assert code == 130, err
    last = err.strip().splitlines()[-1]
    assert last == f"nas-search: interrupted: resume with `nas-search --name int --out {tmp_path} --resume`"
    summary = json.loads(run.summary.read_text())
    assert summary["interrupted"]["stage"] == "stage1" and summary["stage1"] == "interrupted"
    assert "stage2" not in summary and not run.final.exists()  # nothing moved on to the next stage
    done = {r["number"]: r for r in read_table(run.trials)}
    assert 2 <= len(done) < 6
    assert main(["--name", "int", "--out", str(tmp_path), "--resume"]) == 0
    summary = json.loads(run.summary.read_text())
    assert summary["stage1"] == summary["stage2"] == "done" and summary["interrupted"] is None
    assert [i["stage"] for i in summary["interruptions"]] == ["stage1"]
    after = {r["number"]: r for r in read_table(run.trials)}
    assert len([r for r in after.values() if r["status"] != "interrupted"]) == 6
    for number, row in done.items():
        assert after[number] == row


_HUNG_SHUTDOWN = """
import sys, time, ray
from pathlib import Path
import nas.driver as driver
from nas.runs import RunDir
driver.STOP_GRACE_S = 1.0
ray.is_initialized = lambda: True
ray.shutdown = lambda: time.sleep(120)  # as Ray's shutdown waiting on a GCS that a SIGTERM to the group ended
folder = Path(sys.argv[1])
folder.mkdir()
with driver.driving(RunDir(folder), "nas-ablate", "nas-ablate --resume"):
    raise KeyboardInterrupt
"""


def test_an_interrupted_driver_whose_ray_shutdown_hangs_still_ends_with_its_resume_line(tmp_path):
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", _HUNG_SHUTDOWN, str(tmp_path / "run")], capture_output=True,
                          text=True, timeout=100)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "nas-ablate: interrupted: resume with `nas-ablate --resume`"
    assert time.time() - start < 60  # ended by the grace, not by the shutdown's end
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["interrupted"]["stage"] == "start"  # recorded before the driver ended itself
