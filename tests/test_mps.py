"""NVIDIA MPS for packed trainings (`nas/mps.py`): the decision as a pure function, `--mps on` refused in one line
where it cannot be had, and the daemon's lifecycle around a local Ray instance (started before Ray so that the
workers inherit its pipe folder; stopped at the driver's exit and by the guard after a SIGKILL).

This CPU machine has no NVIDIA driver, so the lifecycle tests put a stand-in for `nvidia-cuda-mps-control` first on
PATH: it keeps a file where the real one keeps its socket and records every command it gets. The real daemon, with
a CUDA client, is tested in tests/test_gpu.py.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nas.mps import MpsError, MpsPlan, plan, prepare

ROOT = Path(__file__).resolve().parents[1]
FAKE_CONTROL = """#!/usr/bin/env bash
pipe=${CUDA_MPS_PIPE_DIRECTORY:-/tmp/nvidia-mps}
if [ "${1:-}" = -d ]; then  # as the real one: forks a daemon that keeps this stdout and opens its pipe a moment later
    echo "start $pipe" >> "$FAKE_MPS_RECORD"
    ( sleep 0.3; touch "$pipe/control"; exec sleep 300 ) &
    echo $! > "$pipe/daemon.pid"; exit 0
fi
[ -e "$pipe/control" ] || { echo "Cannot find MPS control daemon process" >&2; exit 1; }
while read -r cmd; do
    pgrep -f "gcs_server.*${RAY_TMPDIR:-/nonexistent}" > /dev/null && ray=up || ray=down  # clients still alive?
    echo "$cmd $pipe ray=$ray" >> "$FAKE_MPS_RECORD"
    [ "$cmd" = quit ] && { kill "$(cat "$pipe/daemon.pid")"; rm -f "$pipe/control"; }
done
exit 0
"""
# a CUDA client as the daemon's log records one
CLIENT = ("import os; open(os.path.join(os.environ['CUDA_MPS_LOG_DIRECTORY'], 'control.log'), 'a')"
          ".write('[2026-12-03] NEW CLIENT 42 from user 0: Server already exists\\n')")
FAKE_SMI = "#!/usr/bin/env bash\n[ \"$1\" = -L ] && echo 'GPU 0: Stand-in (UUID: GPU-0)'\n"


@pytest.mark.parametrize("mode, local, gpus, control, env, default, start, words", [
    ("auto", True, 1, "/bin/ctl", None, False, True, "started for this run on 1 GPU"),
    ("on", True, 8, "/bin/ctl", None, False, True, "on 8 GPUs"),
    ("off", True, 1, "/bin/ctl", None, False, False, "off (--mps off)"),
    ("auto", False, 1, "/bin/ctl", None, False, False, "start MPS on every node before `ray start`"),
    ("auto", True, 0, "/bin/ctl", None, False, False, "no NVIDIA GPU"),
    ("auto", True, 1, None, None, False, False, "nvidia-cuda-mps-control not found"),
    ("auto", True, 1, "/bin/ctl", "/x/pipe", False, False, "CUDA_MPS_PIPE_DIRECTORY=/x/pipe"),
    ("on", True, 1, "/bin/ctl", None, True, False, "already serves this machine (/tmp/nvidia-mps)"),
    ("off", True, 1, "/bin/ctl", "/x/pipe", False, False, "--mps off cannot keep them off it"),
    ("auto", False, 1, "/bin/ctl", "/x/pipe", False, False, "joins a Ray cluster"),
])
def test_the_decision_follows_the_mode_and_the_machine(mode, local, gpus, control, env, default, start, words):
    decided = plan(mode, local, gpus, control, env, default)
    assert decided.start is start and words in decided.reason


def test_visible_devices_keep_auto_from_starting_a_daemon_and_on_fails():
    """MPS clients number GPUs as the daemon sees them, Ray's workers as the machine does: no daemon of ours."""
    decided = plan("auto", True, 2, "/bin/ctl", None, False, visible="2,3")
    assert not decided.start and decided.notable and "CUDA_VISIBLE_DEVICES is set" in decided.reason
    with pytest.raises(MpsError, match="CUDA_VISIBLE_DEVICES is set"):
        plan("on", True, 2, "/bin/ctl", None, False, visible="2,3")


@pytest.mark.parametrize("local, gpus, control, words", [
    (False, 1, "/bin/ctl", "joins a Ray cluster"), (True, 0, "/bin/ctl", "no NVIDIA GPU"),
    (True, 1, None, "not found on PATH")])
def test_mps_on_where_it_cannot_be_had_is_an_error_naming_why(local, gpus, control, words):
    with pytest.raises(MpsError, match=words):
        plan("on", local, gpus, control, None, False)
    with pytest.raises(MpsError, match="must be one of auto, on, off"):
        plan("always", True, 1, "/bin/ctl", None, False)


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    """PATH starting with a stand-in control tool and nvidia-smi (one GPU); the file recording their commands."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("nvidia-cuda-mps-control", FAKE_CONTROL), ("nvidia-smi", FAKE_SMI)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    record = tmp_path / "record.txt"
    record.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_MPS_RECORD", str(record))
    monkeypatch.delenv("CUDA_MPS_PIPE_DIRECTORY", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    if os.path.exists("/tmp/nvidia-mps/control"):
        pytest.skip("a real MPS daemon serves this machine")
    return record


def test_a_daemon_that_cannot_serve_a_client_is_stopped_and_auto_goes_on_without(stand_in, monkeypatch):
    monkeypatch.setattr("nas.mps.CLIENT_CHECK", "import sys; sys.exit('no CUDA device behind this daemon')")
    decided, daemon = prepare("auto", local=True)
    assert daemon is None and not decided.start and decided.notable
    assert "could not serve a CUDA client: no CUDA device behind this daemon" in decided.reason
    started, stopped = stand_in.read_text().splitlines()
    pipe = started.split()[1]
    assert started == f"start {pipe}" and stopped == f"quit {pipe} ray=down" and not Path(pipe).parent.exists()
    with pytest.raises(MpsError, match="could not serve"):
        prepare("on", local=True)


def test_a_client_the_daemon_never_saw_fails_the_check(stand_in, monkeypatch):
    """A CUDA client that cannot reach a daemon runs without MPS and exits 0: the daemon's log must show it."""
    monkeypatch.setattr("nas.mps.CLIENT_CHECK", "pass")
    decided, daemon = prepare("auto", local=True)
    assert daemon is None and "its log shows no client served" in decided.reason


def test_a_daemon_that_serves_is_returned_with_its_environment_and_stops(stand_in, monkeypatch):
    monkeypatch.setattr("nas.mps.CLIENT_CHECK", CLIENT)
    decided, daemon = prepare("auto", local=True)
    assert decided == MpsPlan(True, "started for this run on 1 GPU: packed trainings share each GPU's SMs")
    pipe = daemon.env["CUDA_MPS_PIPE_DIRECTORY"]
    assert Path(pipe, "control").exists()  # waited for: the stand-in opens it 0.3 s after `-d` returned
    daemon.stop()
    assert stand_in.read_text().splitlines() == [f"start {pipe}", f"quit {pipe} ray=down"]
    assert not daemon.folder.exists()


def test_mps_on_without_the_tool_is_one_line_and_exit_2(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path), "RAY_ADDRESS": ""}  # no nvidia-cuda-mps-control on it
    code = ("from nas.cli import main\n"
            "raise SystemExit(main(['--budget', '5G', '--preset', 'smoke', '--mps', 'on', '--out', 'runs']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "nas-search: error: --mps on: cannot start an MPS daemon: nvidia-cuda-mps-control not found on PATH"]
    assert not (tmp_path / "runs" / "search").exists()  # the refused run leaves no folder behind


DRIVER = ("import os, sys, time\n"
          f"sys.path.insert(0, {str(ROOT)!r})\n"
          "import nas.mps, ray\n"
          f"nas.mps.CLIENT_CHECK = {CLIENT!r}\n"
          "from nas.cluster import connect\n"
          "print(connect(None, verbose=False, mps='on').reason, flush=True)\n"
          "seen = ray.get(ray.remote(lambda: os.environ.get('CUDA_MPS_PIPE_DIRECTORY')).remote())\n"
          "print(seen, flush=True)\n"
          "if sys.argv[1] == 'wait':\n"
          "    time.sleep(300)\n")


def _driver(stand_in, ray_tmp, how: str):
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp), "RAY_ADDRESS": "", "RAY_AUTH_MODE": "disabled"}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, how], stdout=subprocess.PIPE, text=True, env=env)
    assert driver.stdout.readline().startswith("started for this run on 1 GPU")
    pipe = driver.stdout.readline().strip()
    assert stand_in.read_text().splitlines() == [f"start {pipe}"]  # the worker saw the daemon's pipe folder
    return driver, pipe


def _quit_within(record: Path, pipe: str, seconds: float) -> None:
    end = time.monotonic() + seconds
    while f"quit {pipe}" not in record.read_text() and time.monotonic() < end:
        time.sleep(0.2)
    assert record.read_text().splitlines() == [f"start {pipe}", f"quit {pipe} ray=down"]  # Ray's processes first
    assert not Path(pipe).parent.exists()


@pytest.mark.ray
@pytest.mark.slow
def test_the_daemon_starts_before_ray_and_stops_when_the_driver_ends(stand_in, ray_tmp):
    driver, pipe = _driver(stand_in, ray_tmp, "end")
    assert driver.wait(timeout=120) == 0
    _quit_within(stand_in, pipe, 1)  # at exit, by the driver itself


@pytest.mark.ray
@pytest.mark.slow
def test_the_guard_stops_the_daemon_of_a_sigkilled_driver(stand_in, ray_tmp):
    driver, pipe = _driver(stand_in, ray_tmp, "wait")
    time.sleep(1.5)  # the guard has noted Ray's processes
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    _quit_within(stand_in, pipe, 20)


LATER = ("import sys, time\n"
         f"sys.path.insert(0, {str(ROOT)!r})\n"
         "import nas.mps\n"
         f"nas.mps.CLIENT_CHECK = {CLIENT!r}\n"
         "from nas.cluster import start_guard\n"
         "assert start_guard()\n"  # a first connect's guard, started with no daemon
         "decided, daemon = nas.mps.prepare('on', local=True)\n"  # a later connect's daemon (after ray.shutdown)
         "assert start_guard(daemon)\n"
         "print(daemon.env['CUDA_MPS_PIPE_DIRECTORY'], flush=True)\n"
         "time.sleep(300)\n")


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="the guard needs /proc")
def test_the_guard_stops_a_daemon_started_after_the_guard(stand_in):
    driver = subprocess.Popen([sys.executable, "-c", LATER], stdout=subprocess.PIPE, text=True)
    pipe = driver.stdout.readline().strip()
    assert pipe.endswith("/pipe"), pipe
    driver.send_signal(signal.SIGKILL)  # no wait: the daemon's line is in the pipe before its end of file
    driver.wait()
    _quit_within(stand_in, pipe, 15)


def test_no_room_for_the_daemons_folder_is_one_error_under_on_and_a_reason_under_auto(stand_in, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("nas.mps.tempfile.mkdtemp", full)
    decided, daemon = prepare("auto", local=True)
    assert daemon is None and "no folder for the MPS daemon" in decided.reason and "No space left" in decided.reason
    with pytest.raises(MpsError, match="no folder for the MPS daemon .*No space left on device"):
        prepare("on", local=True)
    assert stand_in.read_text() == ""  # nothing was started
