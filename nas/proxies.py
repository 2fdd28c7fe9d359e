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
    schedule: Mapping[str, Any] | None = None  # a trained proxy's own schedule (e.g. {"epochs": 4, "res": 128});
    # None: the search's proxy schedule (--proxy-epochs, --proxy-res), which every history proxy is read off
    reads: str | None = None  # with a schedule: the history proxy read off that schedule's training

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
    if (proxy.schedule is None) != (proxy.reads is None):
        raise ProxyError(f"proxy {proxy.name!r}: a proxy with its own schedule names the history proxy it reads")
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
    """The proxies read off the search's proxy training (recorded together for every stage-2 model)."""
    return [p.name for p in _PROXIES.values() if p.trains and p.schedule is None]


def history_scores(history: History) -> dict[str, float | None]:
    """Every history proxy's score of one training so far, as `proxy_NAME`."""
    return {f"proxy_{name}": _PROXIES[name].score_history(history) for name in history_proxies()}


def schedule_key(proxy: Proxy) -> str:
    """The training a trained proxy needs, as a short tag (`base` for the search's own schedule)."""
    if not proxy.schedule:
        return "base"
    return "_".join(f"{k[0]}{v}" for k, v in sorted(proxy.schedule.items()))


def _last_score(history: History) -> float | None:
    return history[-1].get("score") if history else None


def _tse(history: History) -> float | None:
    return float(sum(row["train_loss"] for row in history)) if history else None


def _val_loss(history: History) -> float | None:
    return history[-1].get("val_loss") if history else None


register_proxy(Proxy("final", "the held-out task score after the short training (its last epoch)",
                     "the last validation score", score_history=_last_score, needs_validation=True))
register_proxy(Proxy("tse", "the sum of the epochs' mean training losses (TSE, Ru et al., NeurIPS 2021)",
                     "the sum of training losses (TSE)", score_history=_tse))
register_proxy(Proxy("val_loss", "the training loss on the held-out frames after the short training (no PnP)",
                     "the held-out loss", score_history=_val_loss, needs_validation=True))


def _variant(reads: str, epochs: int, res: int | None = None) -> Proxy:
    """A trained proxy read off a training of its own schedule (issue 14's shorter, longer, smaller variants)."""
    base = get_proxy(reads)
    schedule = {"epochs": epochs, **({"res": res} if res else {})}
    name = f"{reads}_e{epochs}" + (f"_r{res}" if res else "")
    return Proxy(name, f"{base.doc}, after {epochs} epoch(s)" + (f" at {res}x{res}" if res else ""),
                 f"{base.label} after {epochs} epoch(s)" + (f" at {res} px" if res else ""),
                 score_history=base.score_history, needs_validation=base.needs_validation, schedule=schedule,
                 reads=reads)


for _reads, _epochs, _res in (("final", 1, None), ("final", 2, None), ("final", 4, None), ("final", 8, None),
                              ("final", 4, 128), ("tse", 4, None), ("tse", 8, None), ("val_loss", 4, None)):
    register_proxy(_variant(_reads, _epochs, _res))
import nas.zero_cost  # noqa: E402,F401  (registers synflow, grad_norm, naswot; it imports torch only when they run)
