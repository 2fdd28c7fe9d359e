"""Joining or starting Ray, and sizing trials to what the cluster holds."""
from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass

import ray

from kit.errors import ToolkitError


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


def connect(address: str | None, verbose: bool = True) -> None:
    """Join the cluster at `address` (or `RAY_ADDRESS`), else start a local Ray instance; without `verbose` the
    workers' output stays in Ray's session logs (/tmp/ray/session_latest/logs) instead of the terminal."""
    if ray.is_initialized():
        return
    if not verbose:  # one line of progress per stage (nas.progress) instead of Tune's and Optuna's logs
        quiet()
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address and address != "auto":
        probe(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=verbose)
        else:
            # a local instance only this process talks to: Ray's token authentication has nothing to guard here
            # (and would announce a new token in ~/.ray); on a cluster the user's setting stands
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            ray.init(include_dashboard=False, log_to_driver=verbose)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
        first = " ".join(str(exc).split())[:300]
        raise ClusterError(f"cannot reach {where}: {first}") from None


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
    total = ray.cluster_resources()
    return int(total.get("CPU", 1)), float(total.get("GPU", 0))


def gpu_count() -> int:
    """GPUs of the connected cluster."""
    return int(ray.cluster_resources().get("GPU", 0))
