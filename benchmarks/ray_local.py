"""Ray clusters on loopback that touch nothing but their own processes (tests and benchmarks share this).

Every node gets a `--temp-dir` inside one folder of the caller's, so its processes name that folder on
their command lines or hold their logs open there; `kill_ray(folder)` ends those and no others
(`ray stop --force` would end every Ray instance on the machine, a user's included). Keep the folder
short and under /tmp: Ray's socket paths inside it must stay within the 107-byte limit of Unix sockets.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

RAY = str(Path(sys.executable).with_name("ray"))  # the venv's CLI, whether or not the venv is activated
# For the nodes and the driver of a loopback cluster: no inherited address, and no token authentication.
# Ray turns token auth on by itself where ~/.ray/auth_token exists, and worker nodes started with
# `ray start --address` were then refused by the head (InvalidAuthToken, Ray 2.60; cause not pinned
# down). These clusters listen on 127.0.0.1 and live for one test or benchmark. Ray keeps the mode per
# process, so a driver of such a cluster runs in a process of its own.
LOOPBACK_ENV = {"RAY_ADDRESS": "", "RAY_AUTH_MODE": "disabled"}


def _names(pid: Path, folder: bytes) -> bool:
    """Whether the process's command line or one of its open files names `folder`."""
    if folder in (pid / "cmdline").read_bytes():
        return True
    # Ray's agents and workers rename themselves (`ray::DashboardAgent`, `ray::IDLE`), but keep their
    # log files under the node's temp folder open
    for fd in (pid / "fd").iterdir():
        try:
            if folder in os.fsencode(os.readlink(fd)):
                return True
        except OSError:
            pass
    return False


def _sweep(name: bytes) -> int:
    """One pass over /proc: SIGKILL what names the folder; how many."""
    killed = 0
    for pid in Path("/proc").glob("[0-9]*"):
        try:
            if int(pid.name) != os.getpid() and _names(pid, name):
                os.kill(int(pid.name), signal.SIGKILL)
                killed += 1
        except (OSError, ValueError):
            pass  # gone already, or not ours to look at or kill
    return killed


def kill_ray(folder: Path, rounds: int = 20) -> int:
    """SIGKILL the processes whose command line or open files name `folder`; returns how many.

    Sweeps again until one finds nothing: a raylet killed mid-sweep may just have spawned a worker
    that the pass had already walked past."""
    name, total = os.fsencode(str(folder)), 0
    for _ in range(rounds):
        killed = _sweep(name)
        total += killed
        if not killed:
            break
        time.sleep(0.2)
    return total


@contextmanager
def local_ray(num_cpus: int, num_gpus: int | None = None, paths: Sequence[Path] = ()) -> Iterator[Path]:
    """A local Ray instance in a temp folder of its own, whose workers can import from `paths`; on exit Ray is shut
    down, the folder's processes killed and PYTHONPATH restored. Yields the folder."""
    import ray
    folder = Path(tempfile.mkdtemp(prefix="nasray-", dir="/tmp"))
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([*map(str, paths), *filter(None, [saved])])
    gpus = {} if num_gpus is None else {"num_gpus": num_gpus}
    try:
        ray.init(num_cpus=num_cpus, include_dashboard=False, _temp_dir=str(folder), log_to_driver=False, **gpus)
        yield folder
    finally:
        ray.shutdown()
        kill_ray(folder)
        shutil.rmtree(folder, ignore_errors=True)
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def start_node(folder: Path, port: int, head: bool, cpus: int = 1, gpus: float = 0, index: int = 0,
               timeout: float = 180) -> None:
    """`ray start` one node on 127.0.0.1 (the head listens on `port`), temp folder `folder/nINDEX`."""
    temp = folder / f"n{index}"
    temp.mkdir(parents=True, exist_ok=True)
    where = [f"--port={port}", "--include-dashboard=false"] if head else [f"--address=127.0.0.1:{port}"]
    cmd = [RAY, "start", *(["--head", "--node-ip-address=127.0.0.1"] if head else []), *where,
           f"--num-cpus={cpus}", f"--num-gpus={gpus:g}", "--disable-usage-stats", f"--temp-dir={temp}"]
    env = {**os.environ, **LOOPBACK_ENV}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).split())[-400:]
        raise RuntimeError(f"ray start ({'head' if head else f'worker {index}'}) failed: {tail}")
