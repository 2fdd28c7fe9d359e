"""The unit-cube parameterisation for Optuna: every point is a network inside the FLOP window."""
import numpy as np
import pytest

from _spaces import SPACE, analytic_batch, analytic_flops, face_space, parse_arch
from search_spaces import FlopWindow, SearchSpaceError, sample_archs
from search_spaces.resnet_d.feasible import PARAMS, FeasibleParameterisation


@pytest.fixture(scope="module")
def p5g():
    return FeasibleParameterisation(SPACE, FlopWindow.below("5G"))


@pytest.mark.parametrize("budget,tol", [("5G", 0.05), ("520M", 0.05), ("2G", 0.01), ("600G", 0.05)])
def test_every_point_resolves_inside_the_window(budget, tol):
    param = FeasibleParameterisation(SPACE, FlopWindow.below(budget, tol))
    rng = np.random.default_rng(0)
    points = [dict(zip(PARAMS, rng.random(len(PARAMS)))) for _ in range(60)]
    points += [{k: 0.0 for k in PARAMS}, {k: 1.0 for k in PARAMS}, {}]
    for u in points:
        arch = param.resolve(u)
        assert SPACE.contains(arch)
        assert analytic_flops(arch) in param.window


def test_resolution_is_deterministic_and_varied(p5g):
    rng = np.random.default_rng(1)
    points = [dict(zip(PARAMS, rng.random(len(PARAMS)))) for _ in range(100)]
    first = [p5g.resolve(u) for u in points]
    assert first == [p5g.resolve(u) for u in points]
    assert len(set(first)) == 100
    for i in range(4):
        assert len({a.depths[i] for a in first}) >= 12


def test_encode_inverts_resolve(p5g):
    for s in sample_archs(SPACE, p5g.window, 40, seed=4):
        u = p5g.encode(s.arch)
        assert set(u) == set(PARAMS) and all(0 < v < 1 for v in u.values())
        assert p5g.resolve(u) == s.arch


def test_encode_rejects_outsiders(p5g):
    with pytest.raises(SearchSpaceError):
        p5g.encode(parse_arch("d3.4.6.3_w64.128.256.512"))  # resnet34d: 5.11G, above the window
    with pytest.raises(SearchSpaceError):
        p5g.encode(parse_arch("d2.2.2.2_w64.128.256.512_bottleneck"))


def test_last_depth_check_matches_brute_force():
    """On a smaller space (3,876 width sequences), against a direct count of every architecture."""
    small = face_space(max_width=128, res=128)
    param = FeasibleParameterisation(small, FlopWindow.below("135M", 0.02))
    widths, _, _ = param._table
    rng = np.random.default_rng(2)
    sizes = []
    for _ in range(25):
        prefix = tuple(int(x) for x in rng.integers(1, 25, size=3))
        expected = []
        for d4 in range(1, 25):
            flops, _ = analytic_batch(np.tile(prefix + (d4,), (len(widths), 1)), widths, res=128)
            if np.any((flops >= param.window.low) & (flops <= param.window.high)):
                expected.append(d4)
        assert list(param._admissible_depths(prefix)) == expected
        sizes.append(len(expected))
    assert 0 in sizes and max(sizes) > 3  # both dead ends and choices were exercised
