"""Proxy fidelity statistics: how well a cheap proxy ranks architectures as full training does.

Pure numpy/scipy (no torch, no Ray), so a report or `nas-fidelity` can import it anywhere. Scores arrive as
(n_architectures, k_seeds) arrays, one row per architecture and one column per seed; NaN marks a missing
score (infinities are kept: a failed trial's worst score still ranks, last). Full-training scores are
lower-is-better (a WCPA error in mm); `fidelity_row` turns a higher-is-better proxy around so that a positive
tau always means "ranks as full training does".

The second half compares two groups of scores (a searched net's seeds against resnet34d's, searched picks
against random controls) in numpy and `math` alone: one-sided Mann-Whitney and permutation p-values, Welch's
and the paired t-test, bootstrap intervals of a mean difference, and the one `verdict` rule (an interval that
contains zero is never a win or a loss). NaN scores (a failed training) are dropped from a group.
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


def _pairs(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of two equally long score vectors where neither is NaN."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired scores differ in length: {x.size} and {y.size}")
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def _correlate(scipy_fn: Callable[..., Any], x: Any, y: Any) -> float:
    """A scipy rank correlation of the non-NaN pairs; NaN with fewer than MIN_PAIRS or a constant side."""
    x, y = _pairs(x, y)
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
    x, y = _pairs(x, y)
    if x.size < MIN_PAIRS:
        return math.nan, math.nan
    rows = np.random.default_rng(seed).integers(0, x.size, (n, x.size))
    values = np.array([statistic(x[i], y[i]) for i in rows], dtype=float)
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


def noise_ceiling(full_seed_scores: Any) -> dict[str, float | int]:
    """How repeatable full training itself is: `kendall` between its seeds (the first two, or the mean over
    every pair of seeds where there are more), the `icc` over seeds, and `n`, the architectures with every
    seed scored."""
    a = _by_seed(full_seed_scores)
    taus = [kendall(a[:, i], a[:, j]) for i, j in itertools.combinations(range(a.shape[1]), 2)]
    finite = [t for t in taus if not math.isnan(t)]
    tau = float(np.mean(finite)) if finite else math.nan
    return {"kendall": tau, "icc": icc(a), "n": int((~np.isnan(a).any(axis=1)).sum())}


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
    x, y = _pairs(sign * _seed_mean(proxy), _seed_mean(full))
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


def recommend(rows: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]],
              cost_key: str = "gpu_s_per_arch", margin: float = 0.1) -> tuple[str | None, str]:
    """The proxy to use and the rule that picked it: among proxies with a finite `kendall_lo`, the cheapest
    (by `cost_key`; a missing cost counts as dearest) whose `kendall_lo` is within `margin` of the best.

    Ties in cost go to the higher `kendall_lo`, then to the name. `rows`: name -> row, or rows that carry their
    name as `proxy` or `name`.
    """
    named = _named_rows(rows)
    lo = {k: float(r["kendall_lo"]) for k, r in named.items() if _finite(r.get("kendall_lo"))}
    rule = (f"among proxies with a finite lower bound on Kendall tau (kendall_lo), the cheapest by {cost_key} "
            f"whose kendall_lo is within {margin:g} of the best")
    if not lo:
        return None, rule + ": no proxy has a finite kendall_lo, none recommended"
    best = max(lo, key=lo.__getitem__)
    eligible = sorted(k for k in lo if lo[k] >= lo[best] - margin - 1e-12)  # "within" is inclusive

    def cost(k: str) -> float:
        return float(named[k][cost_key]) if _finite(named[k].get(cost_key)) else math.inf
    chosen = min(eligible, key=lambda k: (cost(k), -lo[k], k))
    return chosen, (f"{rule}: best kendall_lo {lo[best]:.3f} ({best}); within reach: {', '.join(eligible)}; "
                    f"{chosen} costs {cost(chosen):g} ({cost_key}) with kendall_lo {lo[chosen]:.3f}")


# --- comparing two groups of scores: numpy and math only (tests check each function against scipy.stats) ---

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
    x, y = _pairs(x, y)
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
    x, y = _pairs(x, y)
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
        xs, ys = _pairs(x, y)
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
