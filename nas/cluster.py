"""Joining or starting Ray, and sizing trials to what the cluster holds.

A local Ray instance ends with the driver that started it, however the driver ends. Measured with Ray 2.60 on
the 2-core development VM (a smoke search SIGKILLed in stage 1): gcs_server, raylet, the monitors and the
dashboard went within a second and the trial's worker within 3 s, but `ray::DashboardAgent` and
`ray::RuntimeEnvAgent` were still running 30 s later: they notice the raylet is gone, then wait up to 60 s to tell
the (dead) GCS so. A guard process (`guard`, Linux) started beside every local instance watches the driver
through a pipe and ends what the driver started once the driver is gone: within about 5 s of a SIGKILL.
"""
from __future__ import annotations

import atexit
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.errors import ToolkitError
from nas.mps import Daemon, MpsPlan, prepare

GUARD_GRACE_S = 2.0  # after the driver is gone: time for Ray's processes to end by themselves, then SIGTERM ...
GUARD_TERM_S = 2.0   # ... and this long before SIGKILL
_GUARD: dict = {}   # the guard's process, and the write end of its pipe: held open (never written) while the driver lives


class ClusterError(ToolkitError):
    """A Ray cluster that cannot be reached or cannot run a single trial."""


def probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast where nothing listens at a `host:port` address (`ray.init` would wait minutes)."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ClusterError(f"Ray address {address!r} is not of the form host:port, ray://host:port or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ClusterError(f"cannot reach the Ray cluster at {address!r}: {exc.strerror or exc}") from None


def connect(address: str | None, verbose: bool = True, mps: str = "off") -> MpsPlan:
    """Join the cluster at `address` (or `RAY_ADDRESS`), else start a local Ray instance (and, as `mps` says, an
    MPS daemon first: `nas.mps`); without `verbose` the workers' output stays in Ray's session logs
    (/tmp/ray/session_latest/logs) instead of the terminal. Returns what was done about MPS."""
    import ray
    if ray.is_initialized():
        return MpsPlan(False, "not decided: Ray was already running in this process", notable=False)
    if not verbose:  # one line of progress per stage (nas.progress) instead of Tune's and Optuna's logs
        quiet()
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address and address != "auto":
        probe(address)
    decided, daemon = prepare(mps, local=not address)
    if daemon is not None:  # before ray.init: the local instance's workers inherit the daemon's pipe folder
        os.environ.update(daemon.env)
        atexit.register(_stop_daemon, daemon)  # exit hooks run last-registered first: this before Ray's (at import)
    on_term = signal.getsignal(signal.SIGTERM)
    try:
        if address:
            ray.init(address=address, log_to_driver=verbose)
        else:
            # a local instance only this process talks to: Ray's token authentication has nothing to guard here
            # (and would announce a new token in ~/.ray); on a cluster the user's setting stands
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            # "local": a new instance even where `ray start` left one on this machine (whose workers would not
            # see this run's MPS daemon, nor end with the driver)
            ray.init(address="local", include_dashboard=False, log_to_driver=verbose)
            start_guard(daemon)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
        first = " ".join(str(exc).split())[:300]
        raise ClusterError(f"cannot reach {where}: {first}") from None
    finally:
        _keep_handler(signal.SIGTERM, on_term)
    return decided


def _stop_daemon(daemon: Daemon) -> None:
    """At the driver's exit: end Ray's workers (the daemon's clients) first, then the daemon; a second Ctrl-C
    meanwhile is not let through (it would print a traceback, and the guard would stop the daemon anyway)."""
    import ray
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
    try:
        ray.shutdown()
    except Exception:  # noqa: BLE001  # the daemon must still be stopped; Ray's own hook reports its errors
        pass
    daemon.stop()


def _keep_handler(signum: int, handler: Any) -> None:
    """Put back the driver's handler of `signum`: ray.init replaces SIGTERM's with a plain exit (Ray 2.60), which
    would skip the driver's clean stop (`nas.driver.driving`) that a batch scheduler's SIGTERM should get."""
    if handler is not None and signal.getsignal(signum) is not handler and \
            threading.current_thread() is threading.main_thread():
        signal.signal(signum, handler)


def start_guard(daemon: Daemon | None = None) -> bool:
    """Start the guard of this driver's processes (once; Linux, where /proc lists processes): when the driver
    ends, however it ends, the guard ends every process the driver started that is still running (Ray's
    local instance, above all), then every MPS `daemon` it was told of, this call's and later calls'. False
    where there is no /proc."""
    if not _GUARD and not _spawn_guard():
        return False
    if daemon is not None:  # told through the pipe, so that a daemon of a later `connect` is stopped too
        try:
            os.write(_GUARD["pipe"], (json.dumps([daemon.control, str(daemon.folder)]) + "\n").encode())
        except OSError:  # the guard is gone: the driver's exit hook still stops the daemon
            return False
    return True


def _spawn_guard() -> bool:
    if not os.path.isdir("/proc/self/task"):
        return False
    read, write = os.pipe()  # not inherited by what the driver starts later: only the guard holds the read end
    root = str(Path(__file__).resolve().parents[1])
    code = f"import sys; sys.path.insert(0, {root!r}); from nas.cluster import guard; guard({os.getpid()})"
    try:
        _GUARD["process"] = subprocess.Popen([sys.executable, "-c", code], stdin=read, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        os.close(write)
        return False
    finally:
        os.close(read)
    _GUARD["pipe"] = write
    return True


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, start time in clock ticks) of every process /proc shows (zombies left out)."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if fields[0] != b"Z":
            table[int(entry.name)] = (int(fields[1]), int(fields[19]))
    return table


def descendants(root: int, table: dict[int, tuple[int, int]] | None = None) -> dict[int, int]:
    """pid -> start time of every living process below `root` (children, their children, ...)."""
    table = _proc_table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid not in found:
            found[pid] = table[pid][1]
            todo += children.get(pid, [])
    return found


def _alive(owned: dict[int, int]) -> dict[int, int]:
    """Those of `owned` still running as the same process (a pid taken over by another process is not ours)."""
    table = _proc_table()
    return {pid: start for pid, start in owned.items() if pid in table and table[pid][1] == start}


def _signal_all(owned: dict[int, int], signum: int) -> None:
    for pid in owned:
        try:
            os.kill(pid, signum)
        except OSError:
            pass  # ended meanwhile, or not ours to signal


def _wait_gone(owned: dict[int, int], seconds: float) -> dict[int, int]:
    end = time.monotonic() + seconds
    left = _alive(owned)
    while left and time.monotonic() < end:
        time.sleep(0.1)
        left = _alive(left)
    return left


def guard(driver: int, poll: float = 1.0) -> None:
    """The guard's body (stdin: the read end of the driver's pipe, on which the driver names its MPS daemons, one
    JSON [control tool, folder] a line). While the driver lives, note every process below it; once the pipe says
    the driver is gone, give them GUARD_GRACE_S to end, then SIGTERM and at last SIGKILL what is left of them;
    then stop the daemons the driver could not."""
    import select
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the driver's to handle; the guard waits for its end
    owned: dict[int, int] = {}
    told = b""
    while True:
        owned.update(descendants(driver))
        owned.pop(os.getpid(), None)
        ready, _, _ = select.select([sys.stdin.fileno()], [], [], poll)
        if ready:
            chunk = os.read(sys.stdin.fileno(), 4096)
            if not chunk:
                break  # end of file: the driver is gone (or closed the pipe)
            told += chunk
    left = _wait_gone(owned, GUARD_GRACE_S)
    _signal_all(left, signal.SIGTERM)
    left = _wait_gone(left, GUARD_TERM_S)
    _signal_all(left, signal.SIGKILL)
    _stop_daemons(told)


def _stop_daemons(told: bytes) -> None:
    """Stop the daemons named in `told` whose folders remain (the driver's own exit hook removes a folder)."""
    from nas.mps import stop_folder
    for line in told.decode(errors="replace").splitlines():
        try:
            control, folder = json.loads(line)
        except ValueError:
            continue  # a line cut by the driver's death
        if os.path.isdir(folder):
            stop_folder(control, folder)


def quiet() -> None:
    """Keep Ray Tune's experiment boxes and result paths, Optuna's per-trial logs and Ray's INFO lines out of the
    terminal (they stay in Ray's session logs and the run folder)."""
    import logging

    import optuna
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the legacy reporter prints nothing at verbose=0
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name in ("ray", "ray.tune", "ray.train"):
        logging.getLogger(name).setLevel(logging.WARNING)


@dataclass(frozen=True)
class Slots:
    """Resources of one trial and how many trials fit at once."""

    cpus: int
    gpus: float
    concurrent: int

    def resources(self) -> dict[str, float]:
        """The `tune.with_resources` request."""
        return {"cpu": self.cpus, "gpu": self.gpus}

    @property
    def per_gpu(self) -> int:
        """Trainings sharing one GPU (1 on a CPU-only cluster)."""
        return round(1 / self.gpus) if self.gpus > 0 else 1


def slots_for(cpus: int, gpus: float, gpus_per_trial: float, cpus_per_trial: int | None) -> Slots:
    """One trial per `gpus_per_trial` GPUs (fractions pack several on a GPU); CPUs shared out evenly; on a
    CPU-only cluster, trials of `cpus_per_trial` CPUs (default: all of them, one at a time)."""
    if gpus >= 1e-9 and gpus_per_trial > 0:
        if gpus_per_trial > gpus:
            raise ClusterError(f"--gpus-per-trial {gpus_per_trial} is more than the {gpus:g} GPUs of the cluster")
        concurrent = int(math.floor(gpus / gpus_per_trial + 1e-9))
        per = cpus_per_trial or max(1, cpus // concurrent)
        return Slots(per, gpus_per_trial, concurrent)
    per = min(cpus_per_trial or cpus, cpus)
    return Slots(per, 0.0, max(1, cpus // per))


def cluster_size() -> tuple[int, float]:
    """CPUs and GPUs of the connected cluster."""
    import ray
    total = ray.cluster_resources()
    return int(total.get("CPU", 1)), float(total.get("GPU", 0))


def gpu_count() -> int:
    """GPUs of the connected cluster."""
    import ray
    return int(ray.cluster_resources().get("GPU", 0))
