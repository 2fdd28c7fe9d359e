"""The proxy registry: how a search ranks an architecture without training it fully.

A proxy is a small registered object: its name, what it runs (a short training, or nothing but the network
at initialisation), how it scores, and its direction. A trained proxy scores from the history of epoch rows
that the task's training writes (`score_history`), so every such proxy of one training can be read off the
same run: stage 2 records each of them for every model (`proxy_NAME` in final.csv). A zero-cost proxy scores
the untrained network on one batch of the task's data (`score_network`). Adding a proxy is one entry.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from kit.errors import ToolkitError

History = Sequence[Mapping[str, Any]]


class ProxyError(ToolkitError):
    """An unknown proxy name."""


@dataclass(frozen=True)
class Proxy:
    """One way of scoring an architecture cheaply."""

    name: str
    doc: str
    label: str  # how a report names it, e.g. "the sum of training losses (TSE)"
    direction: str = "min"  # "min": lower ranks better; "max": higher
    trains: bool = True  # True: a short training (the plan's epochs, fraction, resolution); False: zero-cost
    score_history: Callable[[History], "float | None"] | None = None  # trained proxies: epoch rows -> score
    score_network: Callable[[Any], float] | None = None  # zero-cost: kit.task.Probe -> score
    needs_validation: bool = False  # reads the held-out score of every epoch it scores

    @property
    def mode(self) -> str:
        """Ray Tune's / Optuna's word for the direction."""
        return "min" if self.direction == "min" else "max"

    def worst(self) -> float:
        """The score of a failed trial: the worst possible in this proxy's direction."""
        return math.inf if self.direction == "min" else -math.inf


_PROXIES: dict[str, Proxy] = {}


def register_proxy(proxy: Proxy) -> Proxy:
    """Add a proxy to the registry (names are unique)."""
    if proxy.name in _PROXIES:
        raise ProxyError(f"proxy {proxy.name!r} is registered twice")
    if proxy.trains != (proxy.score_history is not None) or proxy.trains == (proxy.score_network is not None):
        raise ProxyError(f"proxy {proxy.name!r}: a trained proxy scores its history, a zero-cost one its network")
    _PROXIES[proxy.name] = proxy
    return proxy


def get_proxy(name: str) -> Proxy:
    """A registered proxy by name."""
    try:
        return _PROXIES[name]
    except KeyError:
        raise ProxyError(f"unknown proxy {name!r}; registered: {', '.join(list_proxies())}") from None


def list_proxies() -> list[str]:
    """Every registered proxy's name, in registration order."""
    return list(_PROXIES)


def history_proxies() -> list[str]:
    """The proxies read off a training's history (recorded together for every stage-2 model)."""
    return [p.name for p in _PROXIES.values() if p.trains]


def history_scores(history: History) -> dict[str, float | None]:
    """Every history proxy's score of one training so far, as `proxy_NAME`."""
    return {f"proxy_{p.name}": p.score_history(history) for p in _PROXIES.values() if p.trains}


def _last_score(history: History) -> float | None:
    return history[-1].get("score") if history else None


def _tse(history: History) -> float | None:
    return float(sum(row["train_loss"] for row in history)) if history else None


register_proxy(Proxy("final", "the held-out task score after the short training (its last epoch)",
                     "the last validation score", score_history=_last_score, needs_validation=True))
register_proxy(Proxy("tse", "the sum of the epochs' mean training losses (TSE, Ru et al., NeurIPS 2021)",
                     "the sum of training losses (TSE)", score_history=_tse))
import nas.zero_cost  # noqa: E402,F401  (registers synflow, grad_norm, naswot; it imports torch only when they run)
