"""How a report names, orders and writes the proxy that ranked a run's stage 1: the validation score is in mm and
lower ranks better; a zero-cost proxy such as SynFlow has no unit, ranks higher first and can reach 1e234."""
from __future__ import annotations

from typing import Any

import pandas as pd

from kit.numbers import short_number
from nas.proxies import Proxy, ProxyError, get_proxy
from reports.run import Run


def run_proxy(run: Run) -> Proxy | None:
    """The proxy of the run's config (`final` for runs that do not say; None: one this version does not know)."""
    try:
        return get_proxy(str(run.config.get("proxy_score") or "final"))
    except ProxyError:
        return None


def higher_is_better(run: Run) -> bool:
    """Whether a higher proxy score ranks an architecture better (unknown proxies: the trained proxies' lower)."""
    proxy = run_proxy(run)
    return proxy is not None and proxy.direction == "max"


def best_row(run: Run, frame: pd.DataFrame, column: str = "proxy_score") -> pd.Series:
    """The row of `frame` whose proxy score ranks best (NaN scores never do)."""
    scores = pd.to_numeric(frame[column], errors="coerce")
    return frame.loc[scores.idxmax() if higher_is_better(run) else scores.idxmin()]


def ranks_better(run: Run, a: float, b: float) -> bool:
    """Whether proxy score `a` ranks strictly better than `b`."""
    return a > b if higher_is_better(run) else a < b


def in_mm(run: Run) -> bool:
    """Whether the proxy is a validation score in mm (`final` and its variants)."""
    proxy = run_proxy(run)
    return proxy is not None and (proxy.reads or proxy.name) == "final"


def number(x: Any) -> str:
    """A proxy score for a table: two decimals, or three significant digits where it is huge or tiny."""
    return short_number(x, decimals=2)


def value(run: Run, x: Any) -> str:
    """A proxy score for a sentence: its number, with mm where it is one."""
    return number(x) + (" mm" if in_mm(run) else "")


def axis_label(run: Run) -> str:
    """The proxy axis of a figure, e.g. `proxy: SynFlow (higher is better)`."""
    proxy = run_proxy(run)
    name = proxy.name if proxy is not None else str(run.config.get("proxy_score") or "proxy")
    unit = ", mm" if in_mm(run) else ""
    return f"proxy: {name}{unit} ({'higher' if higher_is_better(run) else 'lower'} is better)"


def described(run: Run) -> str:
    """What the proxy column holds, for a table's note."""
    proxy = run_proxy(run)
    what = proxy.label if proxy is not None else f"the proxy {run.config.get('proxy_score')!r}"
    return f"{what}, which ranked stage 1's architectures ({'higher' if higher_is_better(run) else 'lower'} is better)"
