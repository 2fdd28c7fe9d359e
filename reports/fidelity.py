"""What a nas-fidelity run measured, as tables and checks: the proxies by Kendall tau, each architecture's mean
scores, the issue's goal for a proxy, and whether two proxies' taus differ (a paired bootstrap over the
architectures of models.csv)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from reports.fidelity_tables import FULL, fidelity_proxies, is_reference, reference_names, seed_columns
from reports.run import Run

GOAL_TAU, GOAL_LOWER, GOAL_COST = 0.6, 0.3, 0.10  # Kendall >= 0.6, interval's lower end > 0.3, <= 10% of full
BOOTSTRAP, BOOTSTRAP_SEED = 2000, 0
MEAN = "_mean"  # models.csv's copy: full_score_mean and PROXY_mean, each a mean over the seeds' columns


def _by_tau(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.sort_values("kendall", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def fidelity_table(run: Run) -> pd.DataFrame:
    """fidelity.csv's proxies sorted by Kendall tau, highest first (proxies not yet measured last)."""
    return _by_tau(run.fidelity[~is_reference(run.fidelity)])


def reference_table(run: Run) -> pd.DataFrame:
    """fidelity.csv's structural references (size alone, no training), sorted by Kendall tau."""
    return _by_tau(run.fidelity[is_reference(run.fidelity)])


def models_table(run: Run) -> pd.DataFrame:
    """models.csv with the mean full score over its seeds and each proxy's mean over its seeds added."""
    table = run.models.copy()
    for name in [FULL, *fidelity_proxies(run), *reference_names(run)]:
        cols = seed_columns(table, name)
        table[name + MEAN] = table[cols].mean(axis=1) if cols else np.nan
    return table


def full_gpu_s(run: Run) -> float | None:
    """One full training's GPU-seconds per architecture (summary.json's `full_gpu_s_per_arch`), if recorded."""
    value = run.summary.get("full_gpu_s_per_arch")
    return float(value) if value is not None and math.isfinite(value) and value > 0 else None


def proxy_label(row: "pd.Series | dict[str, Any]") -> str:
    """A proxy's name, with fidelity.csv's label where it gives one: `tse (sum of training losses)`."""
    label = str(row.get("label") or "").strip()
    label = "" if label.lower() == "nan" else label
    return f"{row['proxy']} ({label})" if label and label != row["proxy"] else str(row["proxy"])


@dataclass
class Goal:
    """Whether one proxy meets the issue's goal, and why not."""

    proxy: str
    meets: bool | None  # None: the ranking part holds but the cost cannot be checked
    reasons: list[str] = field(default_factory=list)
    cost_share: float | None = None  # GPU-seconds per architecture as a fraction of one full training


def goal(row: "pd.Series | dict[str, Any]", full_s: float | None) -> Goal:
    """Kendall >= 0.6, the 95% interval's lower end above 0.3, at <= 10% of one full training's GPU time."""
    tau, lo, cost = (float(row.get(k, math.nan)) for k in ("kendall", "kendall_lo", "gpu_s_per_arch"))
    reasons = []
    if not tau >= GOAL_TAU:
        reasons.append(f"Kendall tau {tau:+.2f} is below {GOAL_TAU}" if math.isfinite(tau) else "no Kendall tau")
    if not lo > GOAL_LOWER:
        reasons.append(f"its interval's lower end {lo:+.2f} is not above {GOAL_LOWER}" if math.isfinite(lo)
                       else "no interval")
    share = cost / full_s if full_s and math.isfinite(cost) else None
    if share is not None and share > GOAL_COST:
        reasons.append(f"it costs {100 * share:.0f}% of a full training, more than {100 * GOAL_COST:.0f}%")
    elif share is None and full_s and not math.isfinite(cost):
        reasons.append("its GPU time is not recorded")
    meets = False if reasons else (True if share is not None else None)
    return Goal(str(row["proxy"]), meets, reasons, share)


def goals(run: Run) -> list[Goal]:
    """The goal checked for every proxy of fidelity.csv, best Kendall tau first."""
    full_s = full_gpu_s(run)
    return [goal(r, full_s) for _, r in fidelity_table(run).iterrows()]


def direction_sign(row: "pd.Series | dict[str, Any]") -> int | None:
    """fidelity.csv's `direction` of a proxy: +1 where lower scores are better (min), -1 where higher are (max)."""
    word = str(row.get("direction", "") or "").strip().lower()
    return 1 if word.startswith(("min", "low")) else -1 if word.startswith(("max", "high")) else None


def _sign(run: Run, proxy: str, means: pd.DataFrame) -> int:
    """A proxy's direction (`direction_sign`), or where fidelity.csv does not say, the sign that makes models.csv's
    tau agree with fidelity.csv's (which is positive where the proxy ranks as full training does)."""
    row = run.fidelity.set_index("proxy").loc[proxy]
    if (sign := direction_sign(row)) is not None:
        return sign
    x, y = means[[proxy + MEAN, FULL + MEAN]].dropna().to_numpy(float).T
    raw = tau_b(x[None], y[None])[0] if len(x) > 2 else 0.0
    return -1 if np.isfinite(raw) and abs(-raw - row["kendall"]) < abs(raw - row["kendall"]) else 1


def tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row of x against the same row of y (rows: bootstrap samples)."""
    sx = np.sign(x[:, :, None] - x[:, None, :])
    sy = np.sign(y[:, :, None] - y[:, None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sx * sy).sum((1, 2)) / np.sqrt((sx * sx).sum((1, 2)) * (sy * sy).sum((1, 2)))


@dataclass
class Difference:
    """Kendall tau of proxy `a` minus that of `b` (fidelity.csv's), with a paired 95% interval where models.csv
    allows one."""

    a: str
    b: str
    delta: float
    shown: bool | None  # whether the run shows a difference (None: it cannot tell)
    lo: float | None = None  # the paired interval ...
    hi: float | None = None
    archs: int = 0  # ... over this many architectures (0: no paired interval; `shown` compares the intervals)


def _chunks(pick: np.ndarray) -> list[np.ndarray]:
    """Bootstrap samples in chunks of at most ~4M pairwise signs."""
    return np.array_split(pick, max(1, pick.shape[0] * pick.shape[1] ** 2 // 4_000_000))


def difference(run: Run, a: str, b: str) -> Difference:
    """tau(a) - tau(b), with a paired bootstrap over the architectures that have both proxies and a full score."""
    rows = run.fidelity.set_index("proxy")
    delta = float(rows.loc[a, "kendall"] - rows.loc[b, "kendall"])
    means = models_table(run)
    cols = [a + MEAN, b + MEAN, FULL + MEAN]
    data = means[cols].dropna().to_numpy(float) if all(c in means for c in cols) else np.empty((0, 3))
    if len(data) < 4:
        return _unpaired(rows, a, b, delta)
    pick = np.random.default_rng(BOOTSTRAP_SEED).integers(0, len(data), (BOOTSTRAP, len(data)))
    sa, sb = _sign(run, a, means), _sign(run, b, means)
    diffs = np.concatenate([sa * tau_b(data[i, 0], data[i, 2]) - sb * tau_b(data[i, 1], data[i, 2])
                            for i in _chunks(pick)])
    lo, hi = (float(v) for v in np.nanpercentile(diffs, [2.5, 97.5]))
    return Difference(a, b, delta, lo > 0 or hi < 0, lo, hi, len(data))


def _unpaired(rows: pd.DataFrame, a: str, b: str, delta: float) -> Difference:
    """Without paired scores: a difference only where the two proxies' 95% intervals do not overlap."""
    (alo, ahi), (blo, bhi) = (rows.loc[p, ["kendall_lo", "kendall_hi"]].astype(float) for p in (a, b))
    if not all(math.isfinite(v) for v in (alo, ahi, blo, bhi)):
        return Difference(a, b, delta, None)
    return Difference(a, b, delta, bool(alo > bhi or blo > ahi))
