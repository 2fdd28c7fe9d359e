"""Comparing two groups of scores (a searched net's seeds against resnet34d's, searched picks against random
controls) in numpy and `math` alone: one-sided Mann-Whitney and permutation p-values, Welch's and the paired
t-test, bootstrap intervals of a mean difference, and the one `verdict` rule (an interval that contains zero is
never a win or a loss). NaN scores (a failed training) are dropped from a group.
"""
from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from nas.stats import pairs

DIRECTIONS = ("min", "max")
_TOL = 100 * np.finfo(float).eps  # relative slack when a permuted statistic equals the observed one


def _values(x: Any) -> np.ndarray:
    """A group's scores as a flat float array without NaNs (a failed training has no score)."""
    a = np.asarray(x, dtype=float).ravel()
    return a[~np.isnan(a)]


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the regularized incomplete beta function (modified Lentz)."""
    def clamp(v: float) -> float:
        return v if abs(v) > 1e-300 else 1e-300
    c, d = 1.0, 1.0 / clamp(1.0 - (a + b) * x / (a + 1.0))
    h = d
    for m in range(1, 10_000):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d, c = 1.0 / clamp(1.0 + num * d), clamp(1.0 + num / c)
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def _t_two_sided(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's T with df degrees of freedom (NaN in, NaN out)."""
    if math.isnan(t) or math.isnan(df):
        return math.nan
    return _betainc(df / 2.0, 0.5, df / (df + t * t)) if math.isfinite(t) else 0.0


def _ranks(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks (1-based) of z, and the size of each group of tied values."""
    order = np.argsort(z, kind="mergesort")
    _, first, counts = np.unique(z[order], return_index=True, return_counts=True)
    ranks = np.empty(z.size)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return ranks, counts


def _u_counts(m: int, n: int) -> list[int]:
    """How many of the C(m+n, m) orderings of two tie-free groups give U = 0 .. m*n (Gaussian binomial)."""
    c = [1] + [0] * (m * n)
    for k in range(1, m + 1):  # times (1 - q^(n+k)) / (1 - q^k)
        for u in range(m * n, n + k - 1, -1):
            c[u] -= c[u - n - k]
        for u in range(k, m * n + 1):
            c[u] += c[u - k]
    return c


def mann_whitney_greater(x: Any, y: Any) -> float:
    """One-sided Mann-Whitney p that x tends to be greater than y (scipy's 'auto': exact or normal with ties)."""
    x, y = _values(x), _values(y)
    n1, n2 = x.size, y.size
    if n1 == 0 or n2 == 0:
        return math.nan
    ranks, ties = _ranks(np.concatenate([x, y]))
    u = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2.0
    if min(n1, n2) <= 8 and ties.max() == 1:  # exact: the share of orderings with U at least this large
        counts = _u_counts(min(n1, n2), max(n1, n2))
        return min(1.0, sum(counts[int(round(u)):]) / math.comb(n1 + n2, n1))
    n = n1 + n2
    var = n1 * n2 / 12.0 * ((n + 1) - float((ties ** 3 - ties).sum()) / (n * (n - 1)))
    if var <= 0:  # every value equal: no evidence either way
        return 1.0
    z = (u - n1 * n2 / 2.0 - 0.5) / math.sqrt(var)  # with the continuity correction
    return 0.5 * math.erfc(z / math.sqrt(2.0))  # the standard normal's P(Z >= z)


def smallest_p(n1: int, n2: int) -> float:
    """The smallest one-sided p a rank or permutation test of n1 against n2 distinct values can give."""
    return 1.0 / math.comb(n1 + n2, n1) if n1 > 0 and n2 > 0 else math.nan


def permutation_greater(x: Any, y: Any, n: int = 10_000, seed: int = 0) -> float:
    """One-sided permutation p of mean(x) - mean(y) > 0: exact over all splits when there are at most n,
    else (count + 1) / (n + 1) over n random splits."""
    x, y = _values(x), _values(y)
    if x.size == 0 or y.size == 0:
        return math.nan
    z, n1 = np.concatenate([x, y]), x.size
    total = z.sum()

    def diff(sums: Any) -> Any:
        return sums / n1 - (total - sums) / y.size

    observed = diff(x.sum())
    at_least = observed - _TOL * max(abs(observed), float(np.abs(z).max()))
    splits = math.comb(z.size, n1)
    if splits <= n:
        idx = np.array(list(itertools.combinations(range(z.size), n1)))
        return float(np.count_nonzero(diff(z[idx].sum(axis=1)) >= at_least)) / splits
    rng, count = np.random.default_rng(seed), 0
    for start in range(0, n, 1000):
        perms = rng.permuted(np.tile(z, (min(1000, n - start), 1)), axis=1)
        count += int(np.count_nonzero(diff(perms[:, :n1].sum(axis=1)) >= at_least))
    return (count + 1) / (n + 1)


def _t_row(t: float, df: float) -> dict[str, float]:
    return {"t": t, "df": df, "p": _t_two_sided(t, df)}


def welch(x: Any, y: Any) -> dict[str, float]:
    """Welch's t of mean(x) - mean(y), its df and two-sided p; all NaN with fewer than 2 values in a group or
    no spread in either."""
    x, y = _values(x), _values(y)
    if x.size < 2 or y.size < 2 or (np.ptp(x) == 0 and np.ptp(y) == 0):
        return _t_row(math.nan, math.nan)
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    df = (vx + vy) ** 2 / (vx ** 2 / (x.size - 1) + vy ** 2 / (y.size - 1))
    return _t_row(float((x.mean() - y.mean()) / math.sqrt(vx + vy)), float(df))


def paired_t(x: Any, y: Any) -> dict[str, float]:
    """The paired t-test of x - y (pairs with a NaN dropped): t, df, two-sided p; NaN with fewer than 2 pairs
    or equal differences."""
    x, y = pairs(x, y)
    d = x - y
    if d.size < 2 or np.ptp(d) == 0:
        return _t_row(math.nan, math.nan)
    return _t_row(float(d.mean() / (d.std(ddof=1) / math.sqrt(d.size))), float(d.size - 1))


def _percentile(values: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])  # linear interpolation, as scipy's percentile method
    return float(lo), float(hi)


def _interval(x: np.ndarray, y: np.ndarray, rows: tuple[np.ndarray, np.ndarray] | None, relative_to: str | None,
              level: float) -> dict[str, float]:
    """diff, lo, hi (and pct, pct_lo, pct_hi in percent of the relative_to group's mean) from the bootstrap's
    resample indices of x and of y; rows None: no interval (NaN lo and hi)."""
    if relative_to not in (None, "x", "y"):
        raise ValueError(f"relative_to must be None, 'x' or 'y', got {relative_to!r}")
    mean = {k: float(v.mean()) if v.size else math.nan for k, v in (("x", x), ("y", y))}
    row = {"diff": mean["x"] - mean["y"], "lo": math.nan, "hi": math.nan}
    boot = None if rows is None else {"x": x[rows[0]].mean(axis=1), "y": y[rows[1]].mean(axis=1)}
    if boot is not None:
        row["lo"], row["hi"] = _percentile(boot["x"] - boot["y"], level)
    if relative_to is not None:
        ref = mean[relative_to]
        row["pct"] = 100.0 * row["diff"] / ref if ref else math.nan
        row["pct_lo"], row["pct_hi"] = math.nan, math.nan
        if boot is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                row["pct_lo"], row["pct_hi"] = _percentile(100.0 * (boot["x"] - boot["y"]) / boot[relative_to], level)
    return row


def difference_interval(x: Any, y: Any, relative_to: str | None = None, n_boot: int = 10_000, seed: int = 0,
                        level: float = 0.95) -> dict[str, float]:
    """mean(x) - mean(y) and its percentile bootstrap interval, each group resampled on its own (as
    scipy.stats.bootstrap draws them); with relative_to 'x' or 'y', also in percent of that group's mean.

    lo/hi (and pct_lo/pct_hi) are NaN when a group has fewer than 2 values: one value shows no spread, so
    there is no interval (and a verdict on it is 'undecided'). Every key is NaN when a group is empty.
    """
    x, y = _values(x), _values(y)
    rows = None
    if min(x.size, y.size) >= 2:
        rng = np.random.default_rng(seed)
        rows = rng.integers(0, x.size, (n_boot, x.size)), rng.integers(0, y.size, (n_boot, y.size))
    return _interval(x, y, rows, relative_to, level)


def paired_difference_interval(x: Any, y: Any, relative_to: str | None = None, n_boot: int = 10_000,
                               seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """As `difference_interval` for values paired by seed (x[i] and y[i] share seed i): the pairs are
    resampled together; pairs with a NaN are dropped, and fewer than 2 pairs give a NaN interval."""
    x, y = pairs(x, y)
    idx = np.random.default_rng(seed).integers(0, x.size, (n_boot, x.size)) if x.size >= 2 else None
    return _interval(x, y, None if idx is None else (idx, idx), relative_to, level)


def verdict(lo: float, hi: float, direction: str = "min", p: float | None = None, alpha: float = 0.05) -> str:
    """'better', 'worse', 'no measurable difference' (the interval contains zero) or 'undecided' (no interval, or
    an interval that excludes zero while the test's `p` is not below `alpha`) for an interval of searched minus
    reference, where direction 'min' means lower is better. Both must agree before a difference is called a win
    or a loss: with two seeds a side the percentile bootstrap's interval is the range of the differences, which
    excludes zero at Welch p = 0.06-0.11."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'min' or 'max', got {direction!r}")
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "undecided"
    if lo <= 0.0 <= hi:
        return "no measurable difference"
    if p is not None and not (p < alpha):  # NaN p: no test could be run
        return "undecided"
    lower = hi < 0.0
    return "better" if lower == (direction == "min") else "worse"


def _spread(v: np.ndarray) -> tuple[float, float]:
    """Mean and sample sd (NaN sd with fewer than 2 values)."""
    return (float(v.mean()) if v.size else math.nan), (float(v.std(ddof=1)) if v.size > 1 else math.nan)


def compare_groups(x: Any, y: Any, direction: str = "min", paired: bool = False, n_boot: int = 10_000,
                   seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """Everything a report says about x (e.g. a searched net's seeds) against y (resnet34d's): mean, sd, n and
    ref_mean, ref_sd, ref_n; diff, lo, hi, pct, pct_lo, pct_hi (percent of y's mean); the test ('welch' or
    'paired t'), t, df, p; level; and the verdict."""
    if paired:
        xs, ys = pairs(x, y)
        row: dict[str, Any] = paired_difference_interval(xs, ys, "y", n_boot, seed, level)
        row.update(paired_t(xs, ys), test="paired t")
    else:
        xs, ys = _values(x), _values(y)
        row = difference_interval(xs, ys, "y", n_boot, seed, level)
        row.update(welch(xs, ys), test="welch")
    (mean, sd), (ref_mean, ref_sd) = _spread(xs), _spread(ys)
    row.update(mean=mean, sd=sd, n=int(xs.size), ref_mean=ref_mean, ref_sd=ref_sd, ref_n=int(ys.size),
               level=level, verdict=verdict(row["lo"], row["hi"], direction, row.get("p")))
    return row
