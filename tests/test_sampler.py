"""The RegNet-style budgeted sampler: constraints, uniformity, determinism, empty windows."""
import itertools
import math

import numpy as np
import pytest
from scipy import stats

from _spaces import SPACE, Arch, analytic_flops, face_space
from search_spaces import EmptyWindowError, FlopWindow, SearchSpaceError, iter_samples, sample_archs
WINDOW = FlopWindow.below("5G", tol=0.05)


@pytest.fixture(scope="module")
def samples():
    return sample_archs(SPACE, WINDOW, 300, seed=0)


def test_samples_obey_every_constraint(samples):
    assert len(samples) == 300
    for s in samples:
        d, w = s.arch.depths, s.arch.widths
        assert len(d) == len(w) == 4 and s.arch.block == "basic"
        assert all(1 <= x <= 24 for x in d)
        assert all(x % 8 == 0 and 8 <= x <= 512 for x in w)
        assert list(w) == sorted(w)
        assert s.flops == analytic_flops(s.arch)  # the scalar path, recomputed
        assert 4_750_000_000 <= s.flops <= 5_000_000_000
        assert SPACE.contains(s.arch)


def test_samples_are_distinct(samples):
    assert len({s.arch for s in samples}) == len(samples)


def test_seed_reproduces_and_prefixes(samples):
    again = sample_archs(SPACE, WINDOW, 300, seed=0)
    assert [s.arch for s in again] == [s.arch for s in samples]
    assert [s.arch for s in sample_archs(SPACE, WINDOW, 17, seed=0)] == [s.arch for s in samples[:17]]
    other = sample_archs(SPACE, WINDOW, 20, seed=1)
    assert [s.arch for s in other] != [s.arch for s in samples[:20]]


def test_samples_spread_over_the_space(samples):
    """Uniform over a large set: every stage uses many depths and widths, not a few favourites."""
    for i, min_widths in enumerate((8, 20, 20, 20)):  # a wide first stage (64x64 maps) rarely fits 5G
        assert len({s.arch.depths[i] for s in samples}) >= 20
        assert len({s.arch.widths[i] for s in samples}) >= min_widths


# A tiny space whose members can all be enumerated.
TINY = face_space(max_depth=3, max_width=24, width_step=8, res=64, outputs=10)


def tiny_members() -> dict[Arch, int]:
    widths = [w for w in itertools.product((8, 16, 24), repeat=4) if list(w) == sorted(w)]
    return {Arch(d, w): analytic_flops(Arch(d, w), 64, 10)
            for d in itertools.product((1, 2, 3), repeat=4) for w in widths}


def test_prior_draws_are_uniform_over_the_space():
    members = tiny_members()
    assert len(members) == 3 ** 4 * math.comb(3 + 4 - 1, 4)  # 81 depth tuples x 15 width sequences
    depths, widths = TINY.draw_prior(np.random.default_rng(0), 400_000)
    keys = [tuple(d) + tuple(w) for d, w in zip(depths, widths)]
    _, counts = np.unique(np.array(keys), axis=0, return_counts=True)
    assert len(counts) == len(members)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_window_samples_are_uniform_over_the_window():
    members = tiny_members()
    lo, hi = np.percentile(list(members.values()), [40, 43])
    window = FlopWindow(int(lo), int(hi))
    inside = sorted(a for a, f in members.items() if f in window)
    assert 10 <= len(inside) <= 60
    # the first sample of many seeds: each is one uniform draw from the window's members
    firsts = [sample_archs(TINY, window, 1, seed=s)[0].arch for s in range(40 * len(inside))]
    counts = [firsts.count(a) for a in inside]
    assert sum(counts) == len(firsts)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_window_is_exhausted_exactly_then_errors():
    members = tiny_members()
    window = FlopWindow(int(np.percentile(list(members.values()), 50)), 10**12)
    inside = {a for a, f in members.items() if f in window}
    got = sample_archs(TINY, window, len(inside), seed=5)
    assert {s.arch for s in got} == inside
    with pytest.raises(EmptyWindowError, match=f"no new architecture after {len(inside)}"):
        sample_archs(TINY, window, len(inside) + 1, seed=5, max_draws=500_000)


def test_smallest_and_largest_bracket_the_space():
    lo, hi = SPACE.flops(SPACE.smallest()), SPACE.flops(SPACE.largest())
    depths, widths = SPACE.draw_prior(np.random.default_rng(3), 200_000)
    flops, _ = SPACE.batch_complexity(depths, widths)
    assert lo <= flops.min() and flops.max() <= hi


@pytest.mark.parametrize("budget", ["10M", "400M", "700G", "1000T"])
def test_impossible_window_fails_before_sampling(budget, monkeypatch):
    def no_draws(*args, **kwargs):
        raise AssertionError("sampled although the window is outside the space")
    monkeypatch.setattr(type(SPACE), "draw", no_draws)
    with pytest.raises(EmptyWindowError, match="spans"):
        sample_archs(SPACE, FlopWindow.below(budget), 1)


def test_unhittable_window_fails_after_bounded_draws():
    with pytest.raises(EmptyWindowError, match="no architecture found"):
        sample_archs(SPACE, FlopWindow.below("5G", tol=1e-9), 1, max_draws=1_000_000)


def test_counts_and_bounds():
    assert sample_archs(SPACE, WINDOW, 0) == []
    with pytest.raises(SearchSpaceError):
        sample_archs(SPACE, WINDOW, -1)
    with pytest.raises(SearchSpaceError):
        face_space(block="wide")
    stream = iter_samples(SPACE, WINDOW, seed=0)
    assert next(stream).arch == sample_archs(SPACE, WINDOW, 1, seed=0)[0].arch


def test_bottleneck_space_samples():
    space = face_space(block="bottleneck")
    got = sample_archs(space, WINDOW, 20, seed=0)
    assert all(s.arch.block == "bottleneck" and s.flops in WINDOW for s in got)
    assert all(s.flops == analytic_flops(s.arch) for s in got)
