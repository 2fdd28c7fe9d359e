"""nas.stats against scipy (kendalltau, spearmanr, bootstrap) and against cases worked out by hand."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from nas.stats import bootstrap_interval, fidelity_row, icc, kendall, noise_ceiling, recommend, spearman

# Shrout & Fleiss (1979), Table 2: 6 targets (rows) rated by 4 judges (columns).
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
                         dtype=float)


def tied_scores(seed: int, n: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Correlated scores rounded so that both sides have ties (tau-b's correction matters)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return np.round(x, 1), np.round(x + rng.normal(size=n), 0)


@pytest.mark.parametrize("seed", range(3))
def test_kendall_and_spearman_are_scipys_tau_b_and_rho(seed):
    x, y = tied_scores(seed)
    assert kendall(x, y) == stats.kendalltau(x, y).statistic  # scipy's default variant is tau-b
    assert spearman(x, y) == stats.spearmanr(x, y).statistic


def test_perfect_and_reversed_rankings():
    x = [0.3, 1.0, 2.5, 7.0, 9.0]
    up, down = [10, 20, 30, 40, 50], [5, 4, 3, 2, 1]
    # tau-b divides by a square root and rho is Pearson's r of the ranks: +-1 up to a rounding error
    for fn in (kendall, spearman):
        assert fn(x, up) == pytest.approx(1.0, abs=1e-12) and fn(x, down) == pytest.approx(-1.0, abs=1e-12)


def test_nan_pairs_are_dropped_and_too_few_pairs_give_nan():
    x, y = tied_scores(7, n=12)
    x[2], y[5], x[9], y[9] = np.nan, np.nan, np.nan, np.nan
    keep = ~(np.isnan(x) | np.isnan(y))
    assert kendall(x, y) == stats.kendalltau(x[keep], y[keep]).statistic
    assert spearman(x, y) == stats.spearmanr(x[keep], y[keep]).statistic
    assert math.isnan(kendall([1.0, 2.0, np.nan], [1.0, 2.0, 3.0]))  # two pairs left
    assert math.isnan(spearman([1.0, 2.0], [2.0, 1.0]))
    assert math.isnan(kendall([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]))  # constant: no ranking at all
    with pytest.raises(ValueError, match="length"):
        kendall([1, 2, 3], [1, 2])


def test_infinite_scores_still_rank_last():
    # a failed trial's worst score (inf for a "min" proxy) is a rank, not a missing value
    assert kendall([1.0, 2.0, 3.0, math.inf], [1.0, 2.0, 3.0, 4.0]) == 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(-5, 5)), min_size=3, max_size=15))
def test_kendall_is_invariant_under_monotone_maps_and_flips_sign(pairs):
    x, y = (np.array(v, dtype=float) for v in zip(*pairs))
    tau = kendall(x, y)
    if math.isnan(tau):
        return
    assert kendall(np.exp(x), y ** 3) == pytest.approx(tau, abs=1e-12)
    assert kendall(-x, y) == pytest.approx(-tau, abs=1e-12)


@pytest.mark.parametrize("statistic", [kendall, spearman])
def test_bootstrap_matches_scipys_paired_percentile_bootstrap(statistic):
    rng = np.random.default_rng(3)
    x = rng.normal(size=20)
    y = x + rng.normal(size=20)  # continuous: no resample of 20 distinct pairs is all ties in practice
    ours = bootstrap_interval(x, y, statistic, n=500, level=0.9, seed=11)
    ref = stats.bootstrap((x, y), lambda a, b: statistic(a, b), paired=True, vectorized=False, n_resamples=500,
                          confidence_level=0.9, method="percentile", rng=np.random.default_rng(11))
    assert ours == pytest.approx(tuple(ref.confidence_interval), rel=1e-12, abs=1e-12)


def test_bootstrap_is_deterministic_from_its_seed():
    x, y = tied_scores(4, n=15)
    a = bootstrap_interval(x, y, kendall, n=300, seed=5)
    assert a == bootstrap_interval(x, y, kendall, n=300, seed=5)
    assert a != bootstrap_interval(x, y, kendall, n=300, seed=6)
    assert a[0] <= kendall(x, y) <= a[1]


def test_bootstrap_skips_degenerate_resamples():
    # 3 architectures: 3 of the 27 equally likely resamples are one architecture three times (tau NaN); those
    # are skipped rather than making the interval NaN
    x, y = [1.0, 2.0, 3.0], [1.0, 3.0, 2.0]
    lo, hi = bootstrap_interval(x, y, kendall, n=400, seed=0)
    assert -1.0 <= lo <= hi <= 1.0 and math.isfinite(lo) and math.isfinite(hi)
    assert all(map(math.isnan, bootstrap_interval([1.0] * 6, range(6), kendall, n=50)))  # every resample NaN
    assert all(map(math.isnan, bootstrap_interval([1.0, 2.0], [1.0, 2.0], kendall, n=50)))  # too few pairs


def test_icc_1_of_shrout_and_fleiss_example():
    # One-way ANOVA by hand. Target sums 24, 12, 26, 16, 30, 19 (grand sum 127, N = 24, k = 4, n = 6):
    #   between SS = (24^2 + 12^2 + 26^2 + 16^2 + 30^2 + 19^2) / 4 - 127^2 / 24 = 2913/4 - 16129/24 = 1349/24
    #   BMS = (1349/24) / (n - 1) = 1349/120 = 11.24  (Shrout & Fleiss print 11.24)
    #   within SS = 30 + 14 + 11 + 26 + 17 + 14.75 = 451/4  (squared deviations from each target's mean)
    #   WMS = (451/4) / (n (k - 1)) = 451/72 = 6.26  (they print 6.26)
    #   ICC(1) = (BMS - WMS) / (BMS + 3 WMS) = (4047 - 2255) / (4047 + 6765)  [in 360ths] = 1792/10812 = 448/2703
    assert icc(SHROUT_FLEISS) == pytest.approx(448 / 2703, rel=1e-12)  # 0.1657, their ICC(1,1) = .17


def test_icc_edge_cases():
    assert icc(np.tile([[1.0], [4.0], [2.0]], (1, 3))) == pytest.approx(1.0)  # raters agree exactly
    with_gap = np.vstack([SHROUT_FLEISS, [[3.0, np.nan, 1.0, 2.0]]])
    assert icc(with_gap) == icc(SHROUT_FLEISS)  # the target with a missing rater is dropped
    assert math.isnan(icc(SHROUT_FLEISS[:, :1])) and math.isnan(icc(SHROUT_FLEISS[:1]))
    assert math.isnan(icc(np.ones((4, 2))))
    with pytest.raises(ValueError, match="n_targets"):
        icc([1.0, 2.0])


def test_noise_ceiling_of_two_and_three_seeds():
    two = SHROUT_FLEISS[:, :2]
    ceiling = noise_ceiling(two)
    assert ceiling["kendall"] == stats.kendalltau(two[:, 0], two[:, 1]).statistic
    assert ceiling["icc"] == icc(two) and ceiling["n"] == 6
    three = SHROUT_FLEISS[:, :3]
    pairs = [stats.kendalltau(three[:, i], three[:, j]).statistic for i, j in ((0, 1), (0, 2), (1, 2))]
    assert noise_ceiling(three)["kendall"] == pytest.approx(np.mean(pairs), rel=1e-12)
    three[0, 2] = np.nan
    assert noise_ceiling(three)["n"] == 5


def test_noise_ceiling_interval_resamples_architectures():
    rng = np.random.default_rng(4)
    arch = rng.normal(size=12)
    two = arch[:, None] + rng.normal(scale=0.2, size=(12, 2))
    two[3, 1] = np.nan  # an architecture short of a seed leaves the interval's rows
    ceiling = noise_ceiling(two, n_boot=300, seed=7)
    full = two[~np.isnan(two).any(axis=1)]
    assert (ceiling["kendall_lo"], ceiling["kendall_hi"]) == bootstrap_interval(full[:, 0], full[:, 1], kendall,
                                                                                300, 0.95, 7)
    assert ceiling["kendall_lo"] > 0  # architectures differ far more than seeds: measurable agreement
    three = arch[:, None] + rng.normal(scale=0.5, size=(12, 3))
    draws = np.random.default_rng(9).integers(0, 12, (200, 12))  # the draws of scipy's paired bootstrap
    values = [np.mean([stats.kendalltau(three[d, i], three[d, j]).statistic for i, j in ((0, 1), (0, 2), (1, 2))])
              for d in draws]
    got = noise_ceiling(three, n_boot=200, level=0.9, seed=9)
    assert (got["kendall_lo"], got["kendall_hi"]) == pytest.approx(tuple(np.quantile(values, [0.05, 0.95])))
    noise = rng.normal(size=(12, 2))  # seeds alone: no architecture effect
    assert noise_ceiling(noise, n_boot=300)["kendall_lo"] < 0 < noise_ceiling(noise, n_boot=300)["kendall_hi"]
    assert math.isnan(noise_ceiling(two[:, :1])["kendall_lo"])  # one seed: no ceiling, no interval


FULL = np.array([[3.1, 3.0], [2.5, 2.7], [4.0, 4.2], [2.0, 2.1], [3.6, 3.3], [2.9, 3.2], [5.0, 4.6]])


def test_fidelity_sign_convention():
    # full scores are errors (lower is better); a "min" proxy equal to them and a "max" proxy equal to their
    # negation both rank exactly as full training does: tau = +1
    error = FULL.mean(axis=1)
    same = fidelity_row(np.c_[error, error], FULL, "min", n_boot=50)
    accuracy_like = fidelity_row(np.c_[-error, -error], FULL, "max", n_boot=50)
    misread = fidelity_row(np.c_[error, error], FULL, "max", n_boot=50)  # an error read as higher-is-better
    for row, sign in ((same, 1.0), (accuracy_like, 1.0), (misread, -1.0)):
        assert row["kendall"] == pytest.approx(sign, abs=1e-12) and row["spearman"] == pytest.approx(sign, abs=1e-12)
    with pytest.raises(ValueError, match="direction"):
        fidelity_row(error, FULL, "up")


def test_fidelity_row_against_its_parts():
    rng = np.random.default_rng(2)
    proxy = FULL.mean(axis=1)[:, None] * -1.0 + rng.normal(scale=0.4, size=(7, 3))  # a noisy "max" proxy
    proxy[1, 2] = np.nan  # one seed of one architecture failed: its mean is over the other two
    row = fidelity_row(proxy, FULL, "max", n_boot=200, seed=3)
    assert set(row) == {"kendall", "kendall_lo", "kendall_hi", "spearman", "spearman_lo", "spearman_hi",
                        "repeat_kendall", "n"}
    x = -np.nanmean(proxy, axis=1)
    y = FULL.mean(axis=1)
    assert row["kendall"] == stats.kendalltau(x, y).statistic
    assert row["spearman"] == stats.spearmanr(x, y).statistic
    assert (row["kendall_lo"], row["kendall_hi"]) == bootstrap_interval(x, y, kendall, 200, 0.95, 3)
    assert (row["spearman_lo"], row["spearman_hi"]) == bootstrap_interval(x, y, spearman, 200, 0.95, 3)
    assert row["repeat_kendall"] == stats.kendalltau(proxy[:, 0], proxy[:, 1]).statistic  # sign-free
    assert row["n"] == 7


def test_fidelity_row_drops_missing_architectures_and_single_seeds():
    proxy = FULL[:, 0].copy()
    proxy[4] = np.nan  # never scored: the architecture leaves the correlation
    row = fidelity_row(proxy, FULL, "min", n_boot=50)
    assert row["n"] == 6 and math.isnan(row["repeat_kendall"])  # one proxy seed: no repeatability
    assert row["kendall"] == stats.kendalltau(np.delete(FULL[:, 0], 4), np.delete(FULL.mean(1), 4)).statistic
    as_lists = [[None if i == 4 else v] for i, v in enumerate(FULL[:, 0])]  # a table's empty cells arrive as None
    again = fidelity_row(as_lists, FULL.tolist(), "min", n_boot=50)
    assert math.isnan(again.pop("repeat_kendall")) and again == {k: v for k, v in row.items() if k != "repeat_kendall"}


def test_recommend_picks_the_cheapest_within_the_margin():
    rows = {"final": {"kendall_lo": 0.62, "gpu_s_per_arch": 900.0},
            "tse": {"kendall_lo": 0.52, "gpu_s_per_arch": 300.0},  # 0.10 below the best: still within reach
            "synflow": {"kendall_lo": 0.40, "gpu_s_per_arch": 2.0},  # cheapest but too weak
            "naswot": {"kendall_lo": math.nan, "gpu_s_per_arch": 1.0}}  # no interval: not a candidate
    name, rule = recommend(rows)
    assert name == "tse" and "within 0.1 of the best" in rule and "final, tse" in rule
    assert recommend(rows, margin=0.05)[0] == "final"
    assert recommend(rows, margin=0.3)[0] == "synflow"
    assert recommend([{"name": k, **v} for k, v in rows.items()])[0] == "tse"
    assert recommend([{"proxy": k, **v} for k, v in rows.items()])[0] == "tse"  # a fidelity table's rows


def test_recommend_ties_missing_costs_and_nothing_to_recommend():
    rows = {"a": {"kendall_lo": 0.5, "cost": 10.0}, "b": {"kendall_lo": 0.55, "cost": 10.0},
            "c": {"kendall_lo": 0.6, "cost": None}}  # no cost: counts as dearest
    assert recommend(rows, cost_key="cost")[0] == "b"  # equal cost: the higher kendall_lo
    name, rule = recommend({"a": {"kendall_lo": None}, "b": {"kendall_lo": -math.inf}})
    assert name is None and "none recommended" in rule


def test_recommend_needs_a_proxy_above_chance_and_says_how_full_training_repeats_itself():
    rows = {"final_e8": {"kendall_lo": 0.05, "gpu_s_per_arch": 11.0},
            "synflow": {"kendall_lo": -0.02, "gpu_s_per_arch": 0.7}}  # within 0.1 of the best, but not above 0
    assert recommend(rows)[0] == "final_e8"
    name, rule = recommend({"a": {"kendall_lo": 0.0}, "b": {"kendall_lo": -0.3}})
    assert name is None and "no proxy's kendall_lo is above zero" in rule and "(the best kendall_lo: a, +0.000)" in rule
    flat = {"kendall": -0.02, "kendall_lo": -0.45, "kendall_hi": 0.42}
    # a proxy above chance against the seeds' mean shows that the mean ranks: a flat ceiling vetoes nothing
    assert recommend(rows, ceiling=flat)[0] == "final_e8"
    chance = {"a": {"kendall_lo": -0.1}}
    name, rule = recommend(chance, ceiling=flat)
    assert name is None and rule.endswith("; full training's seeds rank them with Kendall tau -0.02 (interval -0.45 "
                                          "to +0.42, which includes zero: no measurable agreement with each other)")
    opposed = recommend(chance, ceiling={"kendall": -0.7, "kendall_lo": -0.98, "kendall_hi": -0.17})[1]
    assert "which lies below zero: they rank the architectures measurably in opposite orders" in opposed
    assert "full training's seeds" not in recommend(chance, ceiling={"kendall": 0.7, "kendall_lo": 0.4,
                                                                     "kendall_hi": 0.9})[1]
    assert "full training's seeds" not in recommend(chance, ceiling={"kendall": math.nan, "kendall_lo": math.nan})[1]
