"""nas.compare's two-group comparisons (Mann-Whitney, permutation, Welch, paired t, bootstrap intervals of a mean
difference, the verdict rule) against scipy.stats and against cases enumerated by hand."""
import itertools
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from nas.compare import (_u_counts, compare_groups, difference_interval, mann_whitney_greater, paired_difference_interval,
                       paired_t, permutation_greater, smallest_p, verdict, welch)


def mean_diff(a, b, axis=-1):
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def pct_of_y(a, b, axis=-1):
    return 100 * (np.mean(a, axis=axis) - np.mean(b, axis=axis)) / np.mean(b, axis=axis)


def groups(seed, n1, n2, ties=False, shift=0.5):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(shift, 1, n1), rng.normal(0, 1, n2)
    return (np.round(x), np.round(y)) if ties else (x, y)


# --- Mann-Whitney ---

CASES = [(s, n1, n2, ties) for s, (n1, n2), ties in itertools.product(
    range(3), [(1, 1), (1, 5), (2, 2), (3, 4), (5, 8), (8, 30), (9, 9), (12, 20)], (False, True))]


@pytest.mark.parametrize("seed,n1,n2,ties", CASES)
def test_mann_whitney_is_scipys_one_sided_auto(seed, n1, n2, ties):
    x, y = groups(seed, n1, n2, ties)
    ref = stats.mannwhitneyu(x, y, alternative="greater").pvalue  # 'auto': exact for small tie-free groups
    assert mann_whitney_greater(x, y) == pytest.approx(ref, rel=1e-9, abs=1e-15)


def test_mann_whitney_exact_cases_by_hand():
    assert mann_whitney_greater([3, 4], [1, 2]) == pytest.approx(1 / 6)  # U = 4: 1 of the 6 orderings
    assert mann_whitney_greater([2, 3], [1, 4]) == pytest.approx(4 / 6)  # U = 2: P(U >= 2), counts 1,1,2,1,1
    assert mann_whitney_greater([1], [2]) == 1.0 and mann_whitney_greater([2], [1]) == 0.5
    assert _u_counts(2, 2) == [1, 1, 2, 1, 1]
    assert _u_counts(3, 3) == [1, 1, 2, 3, 3, 3, 3, 2, 1, 1] and sum(_u_counts(3, 5)) == math.comb(8, 3)
    assert mann_whitney_greater([4, 5, 6], [1, 2, 3]) == pytest.approx(smallest_p(3, 3)) == pytest.approx(0.05)


def test_mann_whitney_ties_use_the_tie_corrected_normal():
    # x = [2, 2], y = [1, 1]: ranks 3.5, 3.5 | 1.5, 1.5, U = 7 - 3 = 4, mean 2; two ties of 2:
    # var = 2*2/12 * (5 - 2*(8 - 2)/(4*3)) = 4/3; z = (4 - 2 - 0.5) / sqrt(4/3) (continuity-corrected)
    z = 1.5 / math.sqrt(4 / 3)
    p = mann_whitney_greater([2, 2], [1, 1])
    assert p == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)), rel=1e-12)
    assert p == pytest.approx(stats.mannwhitneyu([2, 2], [1, 1], alternative="greater").pvalue, rel=1e-12)
    assert mann_whitney_greater([3, 3, 3], [3, 3]) == 1.0  # all equal: no evidence (scipy: 1.0 too)


def test_mann_whitney_drops_nans_and_needs_both_groups():
    assert mann_whitney_greater([3, np.nan, 4], [1, 2, np.nan]) == pytest.approx(1 / 6)
    assert math.isnan(mann_whitney_greater([], [1.0])) and math.isnan(mann_whitney_greater([np.nan], [1.0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-50, 50), min_size=2, max_size=9, unique=True), st.data())
def test_mann_whitney_exact_equals_brute_force_enumeration(values, data):
    n1 = data.draw(st.integers(1, len(values) - 1))
    x, y = np.array(values[:n1], float), np.array(values[n1:], float)

    def u(a, b):
        return sum(float(ai > bi) for ai in a for bi in b)
    splits = [list(c) for c in itertools.combinations(values, n1)]
    at_least = sum(u(s, [v for v in values if v not in s]) >= u(x, y) for s in splits)
    assert mann_whitney_greater(x, y) == pytest.approx(at_least / len(splits), rel=1e-12)


def test_smallest_p():
    assert smallest_p(3, 3) == pytest.approx(0.05) and smallest_p(3, 4) == pytest.approx(1 / 35)
    assert math.isnan(smallest_p(0, 4))


# --- permutation ---

@pytest.mark.parametrize("seed,n1,n2,ties", [(0, 2, 3, False), (1, 4, 4, True), (2, 5, 6, False), (3, 2, 6, True)])
def test_exact_permutation_is_scipys(seed, n1, n2, ties):
    x, y = groups(seed, n1, n2, ties)
    ref = stats.permutation_test((x, y), mean_diff, alternative="greater", n_resamples=10_000).pvalue
    assert math.comb(n1 + n2, n1) <= 10_000  # both enumerate every split
    assert permutation_greater(x, y) == pytest.approx(ref, rel=1e-12)


def test_exact_permutation_cases_by_hand():
    assert permutation_greater([3, 4], [1, 2]) == pytest.approx(1 / 6)  # only the observed split has diff >= 2
    assert permutation_greater([2], [1, 2]) == pytest.approx(2 / 3)  # x = 2 twice (diff 0.5), x = 1 once (-1)
    assert permutation_greater([1, 1], [1, 1]) == 1.0  # every split ties the observed 0
    # 0.3 + 0.5 and 0.1 + 0.7 differ by one rounding error; the tie still counts: 4 of the 6 splits have diff >= 0
    assert permutation_greater([0.3, 0.5], [0.1, 0.7]) == pytest.approx(4 / 6)
    assert math.isnan(permutation_greater([], [1, 2]))


def test_random_permutation_convention_and_agreement_with_scipy():
    x, y = groups(4, 12, 12, shift=0.8)  # C(24, 12) = 2.7 M splits: random
    ours = permutation_greater(x, y, n=20_000, seed=1)
    ref = stats.permutation_test((x, y), mean_diff, alternative="greater", n_resamples=20_000,
                                 rng=np.random.default_rng(1)).pvalue
    assert ours == pytest.approx(ref, abs=0.01)  # different draws: Monte Carlo sd about 0.002 here
    assert ours == permutation_greater(x, y, n=20_000, seed=1) != permutation_greater(x, y, n=20_000, seed=2)
    far = permutation_greater(np.arange(10) + 100.0, np.arange(10), n=999)  # no random split reaches it
    assert far == pytest.approx(1 / 1000)  # (0 + 1) / (999 + 1)


# --- t-tests ---

@pytest.mark.parametrize("seed,n1,n2", [(0, 2, 2), (1, 2, 5), (2, 3, 3), (3, 10, 4), (4, 40, 35)])
def test_welch_is_scipys(seed, n1, n2):
    x, y = groups(seed, n1, n2)
    ref = stats.ttest_ind(x, y, equal_var=False)
    ours = welch(x, y)
    assert ours["t"] == pytest.approx(ref.statistic, rel=1e-12)
    assert ours["df"] == pytest.approx(ref.df, rel=1e-12)
    assert ours["p"] == pytest.approx(ref.pvalue, rel=1e-9)


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy's, on the flat group
def test_welch_by_hand_and_degenerate_groups():
    # x = [1, 2, 3]: mean 2, var 1; y = [4, 5, 6, 7]: mean 5.5, var 5/3. se^2 = 1/3 + 5/12 = 3/4
    # df = (3/4)^2 / ((1/3)^2 / 2 + (5/12)^2 / 3) = 0.5625 / (1/18 + 25/432) = 243/49
    ours = welch([1, 2, 3], [4, 5, 6, 7])
    assert ours["t"] == pytest.approx(-3.5 / math.sqrt(0.75)) and ours["df"] == pytest.approx(243 / 49)
    for x, y in (([1.0], [2.0, 3.0]), ([2.0, 2.0], [3.0, 3.0]), ([0.1] * 3, [0.2] * 3), ([], [1, 2])):
        # n < 2, no spread (even where the mean of 0.1s rounds), empty
        assert all(math.isnan(v) for v in welch(x, y).values())
    one_flat = welch([2.0, 2.0, 2.0], [1.0, 3.0, 4.0])  # one group without spread is still a Welch test
    assert one_flat["p"] == pytest.approx(stats.ttest_ind([2, 2, 2], [1, 3, 4], equal_var=False).pvalue, rel=1e-9)


def test_paired_t_is_scipys():
    x, y = groups(5, 6, 6)
    ref = stats.ttest_rel(x, y)
    ours = paired_t(x, y)
    assert (ours["t"], ours["df"]) == (pytest.approx(ref.statistic, rel=1e-12), 5.0)
    assert ours["p"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert math.isnan(paired_t([1.0, 2.0], [0.0, 1.0])["p"])  # equal differences: no spread
    assert math.isnan(paired_t([1.0, np.nan], [0.0, 1.0])["p"])  # one pair left


# --- bootstrap intervals of a difference ---

@pytest.mark.parametrize("n1,n2", [(2, 2), (2, 5), (5, 4), (12, 9)])
def test_difference_interval_is_scipys_independent_percentile_bootstrap(n1, n2):
    x, y = groups(n1 * n2, n1, n2)
    y = y + 20.0  # a positive reference mean, as scores are
    ours = difference_interval(x, y, relative_to="y", n_boot=3000, seed=7, level=0.9)
    for stat, keys in ((mean_diff, ("lo", "hi")), (pct_of_y, ("pct_lo", "pct_hi"))):
        ref = stats.bootstrap((x, y), stat, n_resamples=3000, confidence_level=0.9, method="percentile",
                              rng=np.random.default_rng(7)).confidence_interval
        assert (ours[keys[0]], ours[keys[1]]) == pytest.approx(tuple(ref), rel=1e-12, abs=1e-12)
    assert ours["diff"] == pytest.approx(x.mean() - y.mean()) and ours["pct"] == pytest.approx(pct_of_y(x, y))


def test_difference_interval_by_hand_and_edge_cases():
    # two values a side: each resampled mean is the min, the midpoint or the max; the extremes each have
    # probability 1/16 > 2.5 %, so the 95 % interval is [min x - max y, max x - min y]
    row = difference_interval([1.0, 3.0], [10.0, 14.0], relative_to="x", n_boot=4000)
    assert (row["diff"], row["lo"], row["hi"]) == (-10.0, -13.0, -7.0)
    assert row["pct"] == pytest.approx(-500.0)
    assert set(difference_interval([1, 2], [3, 4])) == {"diff", "lo", "hi"}
    same = difference_interval([5.0, 5.0], [5.0, 5.0])
    assert (same["lo"], same["hi"]) == (0.0, 0.0) and verdict(same["lo"], same["hi"]) == "no measurable difference"
    single = difference_interval([1.0], [2.0, 3.0], relative_to="y")  # one value: no spread, no interval
    assert single["diff"] == -1.5 and single["pct"] == pytest.approx(-60.0)
    assert all(math.isnan(single[k]) for k in ("lo", "hi", "pct_lo", "pct_hi"))
    assert all(math.isnan(v) for v in difference_interval([], [1.0, 2.0], relative_to="y").values())
    assert difference_interval([1.0, np.nan, 3.0], [2.0, 4.0], n_boot=50) == difference_interval([1, 3], [2, 4],
                                                                                                n_boot=50)
    with pytest.raises(ValueError, match="relative_to"):
        difference_interval([1, 2], [3, 4], relative_to="ref")


def test_paired_difference_interval_is_scipys_paired_bootstrap():
    x, y = groups(8, 7, 7)
    y = y + 20.0
    ours = paired_difference_interval(x, y, relative_to="y", n_boot=2000, seed=3)
    for stat, keys in ((mean_diff, ("lo", "hi")), (pct_of_y, ("pct_lo", "pct_hi"))):
        ref = stats.bootstrap((x, y), stat, paired=True, n_resamples=2000, method="percentile",
                              rng=np.random.default_rng(3)).confidence_interval
        assert (ours[keys[0]], ours[keys[1]]) == pytest.approx(tuple(ref), rel=1e-12, abs=1e-12)
    # seed-to-seed noise shared by the pair cancels: a steady 1.0 difference is a point interval
    shared = np.array([10.0, 13.0, 9.0])
    steady = paired_difference_interval(shared - 1.0, shared, n_boot=500)
    assert steady["diff"] == pytest.approx(-1.0) and steady["lo"] == pytest.approx(-1.0)
    assert steady["hi"] == pytest.approx(-1.0)
    assert math.isnan(paired_difference_interval([1.0, np.nan], [2.0, 3.0])["lo"])  # one pair left
    with pytest.raises(ValueError, match="length"):
        paired_difference_interval([1, 2, 3], [1, 2])


# --- the verdict rule ---

@pytest.mark.parametrize("lo,hi,direction,expected", [
    (-3.0, -1.0, "min", "better"), (1.0, 3.0, "min", "worse"),
    (-3.0, -1.0, "max", "worse"), (1.0, 3.0, "max", "better"),
    (-3.0, 2.0, "min", "no measurable difference"), (-3.0, 0.0, "min", "no measurable difference"),
    (0.0, 2.0, "max", "no measurable difference"), (0.0, 0.0, "min", "no measurable difference"),
    (math.nan, math.nan, "min", "undecided"), (-3.0, math.nan, "max", "undecided"), (None, None, "min", "undecided")])
def test_verdict(lo, hi, direction, expected):
    assert verdict(lo, hi, direction) == expected


def test_verdict_rejects_an_unknown_direction():
    with pytest.raises(ValueError, match="direction"):
        verdict(-1.0, 1.0, "lower")


def test_compare_groups_puts_the_parts_together():
    x, y = [12.2, 12.4, 12.1], [12.9, 12.85, 12.95]
    row = compare_groups(x, y, n_boot=500, seed=2)
    assert row["test"] == "welch" and row["p"] == welch(x, y)["p"]
    assert {k: row[k] for k in ("diff", "lo", "hi", "pct", "pct_lo", "pct_hi")} == \
        difference_interval(x, y, "y", 500, 2)
    assert (row["n"], row["ref_n"], row["mean"]) == (3, 3, pytest.approx(np.mean(x)))
    assert row["sd"] == pytest.approx(np.std(x, ddof=1)) and row["verdict"] == "better"
    assert compare_groups(x, y, direction="max", n_boot=500)["verdict"] == "worse"
    paired = compare_groups(x, y, paired=True, n_boot=500, seed=2)
    assert paired["test"] == "paired t" and paired["p"] == paired_t(x, y)["p"]
    assert paired["lo"] == paired_difference_interval(x, y, n_boot=500, seed=2)["lo"]
    single = compare_groups([12.2], [12.9])
    assert single["verdict"] == "undecided" and math.isnan(single["sd"]) and math.isnan(single["p"])


def test_the_statistics_need_no_torch():
    code = ("import sys, nas.compare, reports.wording; "
            "bad = [m for m in ('torch', 'ray', 'timm') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_win_needs_the_interval_and_the_test_to_agree():
    from nas.compare import verdict
    assert verdict(-3.0, -1.0, "min", p=0.01) == "better" and verdict(1.0, 3.0, "min", p=0.01) == "worse"
    assert verdict(-3.0, -1.0, "min", p=0.09) == "undecided"  # two seeds: the interval alone is too generous
    assert verdict(-3.0, -1.0, "min", p=float("nan")) == "undecided"
    assert verdict(-3.0, 1.0, "min", p=0.001) == "no measurable difference"
