"""NVIDIA's Multi-Process Service (MPS) for the trainings a local Ray instance packs onto a GPU.

Without MPS the CUDA contexts of separate processes take turns on a GPU (time-slicing), so trainings that share it
never run kernels side by side. Under MPS they do. Measured on H200s (BENCHMARKS.md, issue 13; synthetic data, one
run each on two machines): 4 packed proxy trainings, 703 trials/h without MPS, 928 with it (4,378 training img/s
together against ~3,700), with identical proxy scores. A daemon of the run's own (private pipe and log folders) is started before Ray, so that Ray's
workers inherit its pipe folder; it is stopped when the driver ends, and by the driver's guard if it is killed.
On a cluster, start MPS on every node before `ray start` (README); the driver never starts daemons there.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kit.errors import ToolkitError

MODES = ("auto", "on", "off")
CONTROL = "nvidia-cuda-mps-control"
DEFAULT_PIPE = "/tmp/nvidia-mps"  # where CUDA clients look for a daemon when CUDA_MPS_PIPE_DIRECTORY is not set
PIPE_ENV, LOG_ENV = "CUDA_MPS_PIPE_DIRECTORY", "CUDA_MPS_LOG_DIRECTORY"
PIPE = "pipe"  # a Daemon's pipe folder inside its own folder
READY_S = 10.0  # `-d` returns once it has forked; the daemon opens its pipe a moment later
# a CUDA client run under the new daemon before any trial relies on it. A client that cannot reach a daemon runs
# without MPS, silently, so the daemon's log must also show it as served (`served`)
CLIENT_CHECK = "import torch; torch.zeros(1, device='cuda').add_(1); torch.cuda.synchronize()"


class MpsError(ToolkitError):
    """MPS asked for (`--mps on`) where it cannot be had."""


@dataclass(frozen=True)
class MpsPlan:
    """What the driver does about MPS, and why (a line for the terminal and summary.json)."""

    start: bool
    reason: str
    notable: bool = True  # worth a line in the terminal (False: off, or nothing to use on this machine)


def plan(mode: str, local: bool, gpus: int, control: str | None, pipe_env: str | None, default_daemon: bool,
         visible: str | None = None) -> MpsPlan:
    """Whether to start a daemon for this run: a pure function of the mode and what the machine has."""
    if mode not in MODES:
        raise MpsError(f"--mps must be one of {', '.join(MODES)}, not {mode!r}")
    if local and (pipe_env or default_daemon):  # CUDA clients use it whatever --mps says
        where = f"{PIPE_ENV}={pipe_env}" if pipe_env else DEFAULT_PIPE
        off = "--mps off cannot keep them off it: " if mode == "off" else ""
        return MpsPlan(False, f"a daemon already serves this machine ({where}): {off}Ray's workers use it")
    if mode == "off":
        return MpsPlan(False, "off (--mps off): packed trainings take turns on each GPU", notable=False)
    why_not = ("the driver joins a Ray cluster: start MPS on every node before `ray start`" if not local else
               # MPS clients number devices as the daemon sees them, Ray's workers as the machine does
               "CUDA_VISIBLE_DEVICES is set: start a daemon for those GPUs before the run" if visible is not None else
               f"{CONTROL} not found on PATH" if control is None else
               "no NVIDIA GPU found (nvidia-smi -L)" if gpus == 0 else "")
    if why_not and mode == "on":
        raise MpsError(f"--mps on: cannot start an MPS daemon: {why_not}")
    if why_not:
        return MpsPlan(False, f"not started: {why_not}", notable=visible is not None)
    return MpsPlan(True, f"started for this run on {gpus} GPU{'s' * (gpus != 1)}: packed trainings share each "
                         "GPU's SMs")


def local_gpus() -> int:
    """NVIDIA GPUs this machine shows (nvidia-smi -L; 0 without the tool), without a CUDA context in the driver."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return 0
    try:
        listed = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in listed.stdout.splitlines()) if listed.returncode == 0 else 0


def served(log_dir: str) -> int:
    """Clients a daemon has served, from its log (`NEW CLIENT` lines of control.log)."""
    try:
        return Path(log_dir, "control.log").read_text(errors="replace").count("NEW CLIENT")
    except OSError:
        return 0


class Daemon:
    """A control daemon of this run's own, in a fresh folder (its pipe and log), stopped by `stop`."""

    def __init__(self, control: str) -> None:
        self.control = control
        self.folder = Path(tempfile.mkdtemp(prefix="nas-mps."))  # short: the pipe is a unix socket path
        self.env = {PIPE_ENV: str(self.folder / PIPE), LOG_ENV: str(self.folder / "log")}

    def start(self) -> None:
        """Start the daemon and check that it serves a CUDA client; MpsError (and nothing left) if not."""
        for path in self.env.values():
            os.makedirs(path, exist_ok=True)
        env = {**os.environ, **self.env}
        try:
            with open(self.folder / "start.txt", "wb") as out:  # a file, not a pipe: the forked daemon keeps it
                subprocess.run([self.control, "-d"], env=env, stdin=subprocess.DEVNULL, stdout=out,
                               stderr=subprocess.STDOUT, timeout=60, check=True, start_new_session=True)
            self._wait_ready()
            subprocess.run([sys.executable, "-c", CLIENT_CHECK], env=env, capture_output=True, timeout=120,
                           check=True)
            if not served(self.env[LOG_ENV]):
                raise MpsError("its log shows no client served (a client that cannot reach a daemon runs without it)")
        except (OSError, subprocess.SubprocessError, MpsError) as exc:
            detail = self._detail(exc)
            self.stop()
            raise MpsError(f"the MPS daemon could not serve a CUDA client: {detail}") from None

    def _wait_ready(self) -> None:
        end = time.monotonic() + READY_S
        while not os.path.exists(os.path.join(self.env[PIPE_ENV], "control")):
            if time.monotonic() > end:
                raise MpsError(f"the MPS daemon opened no pipe within {READY_S:.0f} s")
            time.sleep(0.1)

    def _detail(self, exc: BaseException) -> str:
        """The last line a failed step wrote (the daemon's start, or the client's error), else the error."""
        text = getattr(exc, "stderr", None) or b""
        if isinstance(exc, subprocess.CalledProcessError) and exc.cmd[-1] == "-d":
            text = (self.folder / "start.txt").read_bytes() if (self.folder / "start.txt").exists() else b""
        last = text.decode(errors="replace").strip().splitlines()[-1:] or [str(exc) or type(exc).__name__]
        return last[0][:200]

    def stop(self) -> None:
        """Ask the daemon to quit and remove its folder."""
        stop_folder(self.control, str(self.folder))


def stop_folder(control: str, folder: str) -> None:
    """Stop the daemon whose pipe is in `folder` (a `Daemon`'s) and remove the folder."""
    stop(control, os.path.join(folder, PIPE))
    shutil.rmtree(folder, ignore_errors=True)


def stop(control: str, pipe: str, timeout: float = 60.0) -> bool:
    """Send `quit` to the daemon listening at `pipe`; False if it could not be told (gone already, say)."""
    return _tell(control, pipe, "quit", timeout)


def _tell(control: str, pipe: str, command: str, timeout: float) -> bool:
    try:
        done = subprocess.run([control], input=f"{command}\n".encode(), env={**os.environ, PIPE_ENV: pipe},
                              capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def default_daemon(control: str | None) -> bool:
    """A daemon at the default pipe folder that answers (a crashed one's leftover socket does not)."""
    if not os.path.exists(os.path.join(DEFAULT_PIPE, "control")):
        return False
    return control is None or _tell(control, DEFAULT_PIPE, "get_server_list", 10.0)


def prepare(mode: str, local: bool) -> tuple[MpsPlan, Daemon | None]:
    """Decide from this machine (`plan`) and start the daemon where it says so; a daemon that fails its client
    check is `--mps on`'s MpsError, and under `auto` a plan that says why it was not used."""
    control = shutil.which(CONTROL)
    looked = local and mode != "off" and control is not None
    decided = plan(mode, local, local_gpus() if looked else 0, control, os.environ.get(PIPE_ENV),
                   local and default_daemon(control), os.environ.get("CUDA_VISIBLE_DEVICES"))
    if not decided.start:
        return decided, None
    try:
        daemon = Daemon(control)  # type: ignore[arg-type]  # plan starts one only where the control tool was found
        daemon.start()
    except (OSError, MpsError) as exc:  # OSError: no folder for it (a full or read-only temporary folder)
        failure = exc if isinstance(exc, MpsError) else \
            MpsError(f"no folder for the MPS daemon in {tempfile.gettempdir()}: {exc.strerror or exc}")
        if mode == "on":
            raise failure from None
        return MpsPlan(False, f"not started: {failure}"), None
    return decided, daemon
