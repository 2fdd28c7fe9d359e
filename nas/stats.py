"""Proxy fidelity statistics: how well a cheap proxy ranks architectures as full training does.

Pure numpy/scipy (no torch, no Ray), so a report or `nas-fidelity` can import it anywhere. Scores arrive as
(n_architectures, k_seeds) arrays, one row per architecture and one column per seed; NaN marks a missing
score (infinities are kept: a failed trial's worst score still ranks, last). Full-training scores are
lower-is-better (a WCPA error in mm); `fidelity_row` turns a higher-is-better proxy around so that a positive
tau always means "ranks as full training does".
Two-group comparisons (a searched net's seeds against resnet34d's) are in `nas.compare`.
"""
from __future__ import annotations

import itertools
import math
import warnings
from typing import Any, Callable, Iterable, Mapping

import numpy as np
from scipy import stats

MIN_PAIRS = 3  # fewer pairs than this have no rank correlation worth reporting
Statistic = Callable[[np.ndarray, np.ndarray], float]


def pairs(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of two equally long score vectors where neither is NaN."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired scores differ in length: {x.size} and {y.size}")
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def _correlate(scipy_fn: Callable[..., Any], x: Any, y: Any) -> float:
    """A scipy rank correlation of the non-NaN pairs; NaN with fewer than MIN_PAIRS or a constant side."""
    x, y = pairs(x, y)
    if x.size < MIN_PAIRS:
        return math.nan
    with warnings.catch_warnings():  # a constant input is an expected NaN here, not a warning
        warnings.simplefilter("ignore")
        return float(scipy_fn(x, y).statistic)


def kendall(x: Any, y: Any) -> float:
    """Kendall's tau-b (scipy) over the pairs where neither score is NaN; NaN with fewer than 3 pairs."""
    return _correlate(stats.kendalltau, x, y)


def spearman(x: Any, y: Any) -> float:
    """Spearman's rho (scipy) over the pairs where neither score is NaN; NaN with fewer than 3 pairs."""
    return _correlate(stats.spearmanr, x, y)


def bootstrap_interval(x: Any, y: Any, statistic: Statistic, n: int = 2000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic(x, y)`, resampling the (x, y) pairs with replacement.

    Resamples are drawn as `scipy.stats.bootstrap(paired=True, method="percentile")` draws them (one
    `default_rng(seed).integers(0, m, (n, m))`), so the two agree where no resample is degenerate; a resample
    whose statistic is NaN (all ties) is skipped instead of making the whole interval NaN.
    """
    x, y = pairs(x, y)
    return bootstrap_rows(np.c_[x, y], lambda a: statistic(a[:, 0], a[:, 1]), n, level, seed)


def bootstrap_rows(a: np.ndarray, statistic: Callable[[np.ndarray], float], n: int = 2000, level: float = 0.95,
                   seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic` over the rows (architectures) of `a`, drawn as
    `bootstrap_interval` draws pairs; NaN with fewer than MIN_PAIRS rows."""
    m = a.shape[0]
    if m < MIN_PAIRS:
        return math.nan, math.nan
    rows = np.random.default_rng(seed).integers(0, m, (n, m))
    values = np.array([statistic(a[i]) for i in rows], dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])  # linear interpolation, as scipy's percentile method
    return float(lo), float(hi)


def icc(scores: Any) -> float:
    """One-way random-effects ICC(1) (Shrout & Fleiss 1979; McGraw & Wong's ICC(1,1)) of an (n, k) array.

    (BMS - WMS) / (BMS + (k - 1) WMS) from the one-way ANOVA of n targets by k raters; targets with a missing
    rater are dropped. NaN with fewer than 2 targets or raters, or when every score is equal.
    """
    a = np.asarray(scores, dtype=float)
    if a.ndim != 2:
        raise ValueError(f"icc needs an (n_targets, k_raters) array, got shape {a.shape}")
    a = a[~np.isnan(a).any(axis=1)]
    n, k = a.shape
    if n < 2 or k < 2:
        return math.nan
    target_means = a.mean(axis=1)
    bms = k * float(((target_means - a.mean()) ** 2).sum()) / (n - 1)
    wms = float(((a - target_means[:, None]) ** 2).sum()) / (n * (k - 1))
    denominator = bms + (k - 1) * wms
    return (bms - wms) / denominator if denominator > 0 else math.nan


def _by_seed(scores: Any) -> np.ndarray:
    """Scores as an (n_architectures, k_seeds) float array (a vector is one seed)."""
    a = np.asarray(scores, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"scores by seed must be (n_architectures, k_seeds), got shape {a.shape}")
    return a


def _seed_mean(a: np.ndarray) -> np.ndarray:
    """Each architecture's mean over the seeds it has (NaN where it has none)."""
    with warnings.catch_warnings():  # an architecture without any score is NaN, on purpose
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=1)


def _repeat_kendall(a: np.ndarray) -> float:
    """Kendall tau between the first two seeds (NaN with one seed)."""
    return kendall(a[:, 0], a[:, 1]) if a.shape[1] >= 2 else math.nan


def _mean_pair_kendall(a: np.ndarray) -> float:
    """Kendall tau between seeds: the mean over every pair of columns (NaN where no pair has one)."""
    taus = [kendall(a[:, i], a[:, j]) for i, j in itertools.combinations(range(a.shape[1]), 2)]
    finite = [t for t in taus if not math.isnan(t)]
    return float(np.mean(finite)) if finite else math.nan


def noise_ceiling(full_seed_scores: Any, *, n_boot: int = 2000, level: float = 0.95,
                  seed: int = 0) -> dict[str, float | int]:
    """How repeatable full training itself is, over the architectures scored under every seed (`n` of them):
    `kendall` between its seeds (the mean over every pair of seeds where there are more than two) with its
    bootstrap interval (`kendall_lo`, `kendall_hi`), and the `icc` over seeds."""
    a = _by_seed(full_seed_scores)
    complete = a[~np.isnan(a).any(axis=1)]  # the point, its interval and n over the same architectures
    lo, hi = (bootstrap_rows(complete, _mean_pair_kendall, n_boot, level, seed) if a.shape[1] >= 2
              else (math.nan, math.nan))
    return {"kendall": _mean_pair_kendall(complete), "kendall_lo": lo, "kendall_hi": hi, "icc": icc(a),
            "n": int(complete.shape[0])}


def fidelity_row(proxy_scores_by_seed: Any, full_scores_by_seed: Any, direction: str, *, n_boot: int = 2000,
                 level: float = 0.95, seed: int = 0) -> dict[str, float | int]:
    """One proxy's fidelity: Kendall and Spearman of its seed-mean against full training's seed-mean, with
    bootstrap intervals over architectures, and its seed-to-seed `repeat_kendall`.

    A "max" proxy is negated first: full scores are lower-is-better, so positive tau means agreement.
    """
    if direction not in ("min", "max"):
        raise ValueError(f"direction must be 'min' or 'max', got {direction!r}")
    proxy, full = _by_seed(proxy_scores_by_seed), _by_seed(full_scores_by_seed)
    if proxy.shape[0] != full.shape[0]:
        raise ValueError(f"{proxy.shape[0]} architectures of proxy scores but {full.shape[0]} of full scores")
    sign = -1.0 if direction == "max" else 1.0
    x, y = pairs(sign * _seed_mean(proxy), _seed_mean(full))
    row: dict[str, float | int] = {}
    for name, fn in (("kendall", kendall), ("spearman", spearman)):
        row[name] = fn(x, y)
        row[f"{name}_lo"], row[f"{name}_hi"] = bootstrap_interval(x, y, fn, n_boot, level, seed)
    row["repeat_kendall"] = _repeat_kendall(proxy)
    row["n"] = int(x.size)
    return row


def _named_rows(rows: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]]) -> dict[str, Mapping]:
    """Rows by proxy name: a mapping as given, or rows that carry it as `proxy` (a fidelity table's) or `name`."""
    if isinstance(rows, Mapping):
        return dict(rows)
    return {str(r["proxy"] if "proxy" in r else r["name"]): r for r in rows}


def _finite(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def ceiling_words(ceiling: Mapping[str, Any] | None) -> str | None:
    """How full training's seeds agree with each other where its interval does not lie above zero, else None."""
    if not ceiling or not _finite(ceiling.get("kendall_lo")) or float(ceiling["kendall_lo"]) > 0:
        return None
    tau, lo, hi = (float(ceiling[k]) for k in ("kendall", "kendall_lo", "kendall_hi"))
    where = ("lies below zero: they rank the architectures measurably in opposite orders" if hi < 0 else
             "includes zero: no measurable agreement with each other")
    return (f"full training's seeds rank them with Kendall tau {tau:+.2f} (interval {lo:+.2f} to {hi:+.2f}, "
            f"which {where})")


def recommend(rows: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]],
              cost_key: str = "gpu_s_per_arch", margin: float = 0.1,
              ceiling: Mapping[str, Any] | None = None) -> tuple[str | None, str]:
    """The proxy to use and the rule that picked it: among proxies whose `kendall_lo` is above zero (they rank
    measurably better than chance against the mean of full training's seeds), the cheapest (by `cost_key`; a
    missing cost counts as dearest) whose `kendall_lo` is within `margin` of the best. None when no proxy
    qualifies; then `ceiling` (a `noise_ceiling`), where its interval does not lie above zero, is part of why.

    Ties in cost go to the higher `kendall_lo`, then to the name. `rows`: name -> row, or rows that carry their
    name as `proxy` or `name`.
    """
    named = _named_rows(rows)
    lo = {k: float(r["kendall_lo"]) for k, r in named.items() if _finite(r.get("kendall_lo"))}
    rule = (f"among proxies whose lower bound on Kendall tau (kendall_lo) is above zero, the cheapest by "
            f"{cost_key} whose kendall_lo is within {margin:g} of the best")
    best = max(lo, key=lo.__getitem__) if lo else None
    if best is None or lo[best] <= 0:
        why = "no proxy has a finite kendall_lo" if best is None else "no proxy's kendall_lo is above zero"
        best_text = f" (the best kendall_lo: {best}, {lo[best]:+.3f})" if best else ""
        words = ceiling_words(ceiling)
        return None, f"{rule}: {why}, none recommended{best_text}" + (f"; {words}" if words else "")
    eligible = sorted(k for k in lo if lo[k] > 0 and lo[k] >= lo[best] - margin - 1e-12)  # "within": inclusive

    def cost(k: str) -> float:
        return float(named[k][cost_key]) if _finite(named[k].get(cost_key)) else math.inf
    chosen = min(eligible, key=lambda k: (cost(k), -lo[k], k))
    return chosen, (f"{rule}: best kendall_lo {lo[best]:.3f} ({best}); within reach: {', '.join(eligible)}; "
                    f"{chosen} costs {cost(chosen):g} ({cost_key}) with kendall_lo {lo[chosen]:.3f}")


# --- comparing two groups of scores: numpy and math only (tests check each function against scipy.stats) ---
