"""The RegNet space's pycls prior and its layout tables, budgeted sampling inside a FLOP window, the feasible cube
that TPE and NSGA-II search, the registry and `nas-space` (the space's values and counts: test_regnet.py)."""
import itertools
import json
import pickle

import numpy as np
import pytest
from scipy import stats

from nas.space_cli import main
from search_spaces import EmptyWindowError, FlopWindow, SearchSpaceError, base, create_space, sample_archs
from search_spaces.regnet import BASELINES, Arch, RegNet
from search_spaces.regnet import generation as G
from search_spaces.regnet.feasible import PARAMS, FeasibleParameterisation
from test_regnet import FACE, LARGEST, NAMED_1_8, SMALLEST  # the values and counts' module


# ---- the prior and its whole-prior tables ----------------------------------------------------------------
# A tiny prior whose members can all be enumerated: 2 d x 2 w0 x 11 wa x 11 wm x 2 g x 2 se, 1,264 members.
TINY = RegNet(depth_range=(15, 16), w0_range=(16, 24), wa_range=(8.0, 8.1), wm_range=(2.0, 2.1), g_range=(8, 16),
              res=64, outputs=10)


def tiny_members() -> dict[tuple, tuple[float, int]]:
    """Every member of TINY's prior: its prior probability (unnormalised over members) and FLOPs."""
    keys = np.array(list(itertools.product(*(g.values for g in TINY.grids))))
    mass = np.prod([g.probs[np.searchsorted(g.values, keys[:, j])] for j, g in enumerate(TINY.grids)], axis=0)
    valid = G.structure(keys[:, 0], keys[:, 1], keys[:, 2] / 100, keys[:, 3] / 100).valid
    flops, _ = TINY.batch_complexity(keys[valid])
    return {tuple(int(x) for x in k): (m, int(f)) for k, m, f in zip(keys[valid], mass[valid], flops)}


def class_lookup(space: RegNet, d, w0, wa, wm) -> tuple[np.ndarray, np.ndarray]:
    """Membership and stage depths of (d, w0, wa, wm) rows (key units) by the space's layout classes."""
    classes, n_wa, n_wm = space.layout_classes(), len(space.grids[2].values), len(space.grids[3].values)
    pair = np.searchsorted(space.grids[1].values, w0) * n_wm + np.searchsorted(space.grids[3].values, wm)
    at = np.searchsorted(space.grids[2].values, wa)
    c = np.searchsorted(classes.pair * n_wa + classes.lo, pair * n_wa + at, side="right") - 1
    found = (c >= 0) & (classes.pair[c] == pair) & (classes.hi[c] >= at) & (classes.dlo[c] <= d) & (d <= classes.dhi[c])
    depths = np.diff(np.column_stack([np.zeros(len(c), int), classes.below[c], d]), axis=1)
    return found, depths


def test_prior_draws_follow_the_prior():
    members = tiny_members()
    assert 1000 < len(members) <= 1936
    keys, _ = TINY.draw_prior(np.random.default_rng(0), 600_000)
    rows, counts = np.unique(keys, axis=0, return_counts=True)
    assert {tuple(int(x) for x in r) for r in rows} == set(members)
    mass = np.array([members[tuple(int(x) for x in r)][0] for r in rows])
    assert stats.chisquare(counts, mass / mass.sum() * counts.sum()).pvalue > 1e-3


def test_layout_classes_equal_brute_force():
    """On all of TINY, on random draws of the default prior, and next to every ambiguous point it excludes."""
    grid = np.array(list(itertools.product(*(g.values for g in TINY.grids[:4]))))
    cases = [(TINY, grid)]
    rng = np.random.default_rng(4)
    cases.append((FACE, np.column_stack([g.values[rng.integers(0, len(g.values), 300_000)] for g in FACE.grids[:4]])))
    classes = FACE.layout_classes()
    one = np.flatnonzero(classes.lo == classes.hi)
    w0, wm = (x[classes.pair[one]] for x in FACE.pairs)
    wa = FACE.grids[2].values[np.clip(classes.lo[one][:, None] + np.arange(-2, 3), 0, len(FACE.grids[2].values) - 1)]
    near = [(d, w0[i], a, wm[i]) for i in range(len(one)) for a in wa[i] for d in range(12, 29)]
    cases.append((FACE, np.array(near)))
    for space, rows in cases:
        d, w0_, wa_, wm_ = rows.T
        s = G.structure(d, w0_, wa_ / 100, wm_ / 100)
        found, depths = class_lookup(space, d, w0_, wa_, wm_)
        assert (found == s.valid).all() and (depths[s.valid] == s.depths[s.valid]).all()
    assert len(near) > 100_000


def test_flop_range_is_exact_and_brackets_draws():
    flops = [f for _, f in tiny_members().values()]
    assert TINY.flop_range() == (min(flops), max(flops))
    lo, hi = FACE.flop_range()
    draws = FACE.draw(np.random.default_rng(3), 200_000).flops
    assert lo <= draws.min() and draws.max() <= hi and (lo, hi) == (FACE.flops(SMALLEST), FACE.flops(LARGEST))

# ---- budgeted sampling ----------------------------------------------------------------------------------
WINDOW4 = FlopWindow.below("4G")


@pytest.fixture(scope="module")
def samples():
    return sample_archs(FACE, WINDOW4, 300, seed=0)


def test_samples_obey_every_constraint(samples):
    assert len(samples) == 300 and len({s.arch for s in samples}) == 300
    for s in samples:
        assert FACE.contains(s.arch) and s.flops in WINDOW4
        assert (s.flops, s.params) == tuple(FACE.complexity(s.arch))


def test_seed_reproduces_and_prefixes(samples):
    assert [s.arch for s in sample_archs(FACE, WINDOW4, 300, seed=0)] == [s.arch for s in samples]
    assert [s.arch for s in sample_archs(FACE, WINDOW4, 17, seed=0)] == [s.arch for s in samples[:17]]
    assert [s.arch for s in sample_archs(FACE, WINDOW4, 20, seed=1)] != [s.arch for s in samples[:20]]


def test_samples_spread_over_the_space(samples):
    for name, least in (("d", 15), ("w0", 12), ("wm", 60), ("g", 14), ("se", 2)):
        assert len({getattr(s.arch, name) for s in samples}) >= least, name
    assert len({s.arch.wa for s in samples}) >= 250


def test_window_samples_follow_the_prior_inside_the_window(monkeypatch):
    monkeypatch.setattr(base, "BATCH", 4096)  # a few hundred seeds: small batches keep this fast
    members = tiny_members()
    values, counts = np.unique([f for _, f in members.values()], return_counts=True)
    i = next(i for i in range(len(values) - 1) if 12 <= counts[i] + counts[i + 1] <= 20)  # two FLOP values
    window = FlopWindow(int(values[i]), int(values[i + 1]))
    inside = sorted(k for k, (_, f) in members.items() if f in window)
    # the first sample of many seeds: each is one draw from the prior restricted to the window
    firsts = [sample_archs(TINY, window, 1, seed=s)[0].arch.key() for s in range(20 * len(inside))]
    counts = np.array([firsts.count(k) for k in inside])  # every member drawn, in proportion to its prior mass
    mass = np.array([members[k][0] for k in inside])
    assert counts.sum() == len(firsts)
    assert stats.chisquare(counts, mass / mass.sum() * len(firsts)).pvalue > 1e-3


def test_window_is_exhausted_exactly_then_errors():
    members = tiny_members()
    window = FlopWindow(int(np.percentile([f for _, f in members.values()], 97)), 10**12)
    inside = {k for k, (_, f) in members.items() if f in window}
    got = sample_archs(TINY, window, len(inside), seed=5)
    assert {s.arch.key() for s in got} == inside
    with pytest.raises(EmptyWindowError, match=f"no new architecture after {len(inside)}"):
        sample_archs(TINY, window, len(inside) + 1, seed=5, max_draws=300_000)


@pytest.mark.parametrize("budget", ["30M", "200G"])
def test_impossible_window_fails_before_sampling(budget, monkeypatch):
    monkeypatch.setattr(RegNet, "draw", lambda *a, **k: pytest.fail("sampled outside the space's range"))
    with pytest.raises(EmptyWindowError, match="spans"):
        sample_archs(FACE, FlopWindow.below(budget), 1)

# ---- the feasible cube -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def p5g():
    return FACE.parameterisation(FlopWindow.below("5G"))


def random_points(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [dict(zip(PARAMS, rng.random(len(PARAMS)))) for _ in range(n)]


@pytest.mark.parametrize("budget,tol", [("5G", 0.05), ("600M", 0.05), ("2G", 0.01), ("80G", 0.05)])
def test_every_point_resolves_inside_the_window(budget, tol):
    param = FACE.parameterisation(FlopWindow.below(budget, tol))
    for u in random_points(80, 0) + [{k: 0.0 for k in PARAMS}, {k: 1.0 for k in PARAMS}, {}]:
        arch = param.resolve(u)
        assert FACE.contains(arch) and FACE.flops(arch) in param.window


def test_resolution_is_deterministic_and_varied(p5g):
    first = [p5g.resolve(u) for u in random_points(100, 1)]
    assert first == [p5g.resolve(u) for u in random_points(100, 1)] and len(set(first)) == 100
    assert len({a.d for a in first}) >= 12 and len({a.se for a in first}) == 2


def test_encode_inverts_resolve(p5g):
    for s in sample_archs(FACE, p5g.window, 40, seed=4):
        u = p5g.encode(s.arch)
        assert set(u) == set(PARAMS) and all(0 < v < 1 for v in u.values()) and p5g.resolve(u) == s.arch
    space = RegNet(res=224, outputs=1000)
    for name in NAMED_1_8:
        flops = space.flops(BASELINES[name])
        param = space.parameterisation(FlopWindow(flops - 10**7, flops + 10**7))
        assert param.resolve(param.encode(BASELINES[name])) == BASELINES[name]


def test_encode_rejects_outsiders(p5g):
    with pytest.raises(SearchSpaceError):
        p5g.encode(BASELINES["regnetx_080"])  # above the window
    with pytest.raises(SearchSpaceError):
        p5g.encode(BASELINES["regnetx_320"])  # w0 = 320 is outside the prior


def test_cube_covers_exactly_the_window_members():
    """On TINY the table's cells are exactly the prior members inside the window, and each resolves to itself."""
    members = tiny_members()
    window = FlopWindow(*(int(x) for x in np.percentile([f for _, f in members.values()], [20, 60])))
    param = FeasibleParameterisation(TINY, window)
    r, grids = param._rows, TINY.grids
    cells = {(d, int(grids[1].values[r.u_w0[i]]), int(grids[2].values[a]), int(grids[3].values[r.u_wm[i]]),
              int(grids[4].values[r.u_g[i]]), int(grids[5].values[r.u_b[i]]), int(grids[6].values[r.u_se[i]]))
             for i in range(param.size) for d in range(r.dlo[i], r.dhi[i] + 1) for a in range(r.alo[i], r.ahi[i] + 1)}
    assert cells == {k for k, (_, f) in members.items() if f in window}
    for key in sorted(cells)[::7]:
        assert param.resolve(param.encode(Arch.from_key(key))).key() == key


def test_parameterisation_pickles_without_its_table(p5g):
    again = pickle.loads(pickle.dumps(p5g))
    assert "_rows" not in again.__dict__ and again.resolve({}) == p5g.resolve({})

# ---- registry and nas-space ------------------------------------------------------------------------------


def test_registry_and_default_baselines():
    space = create_space("regnet", res=256, outputs=6100)
    assert space == FACE and space.name == "regnet"
    names = space.default_baselines(FlopWindow.below("5G"))
    flops = [space.flops(BASELINES[n]) for n in names]
    assert len(names) == 3 and flops == sorted(flops)
    others = [space.flops(a) for n, a in BASELINES.items() if n not in names]
    assert max(abs(f - 5e9) for f in flops) <= min(abs(f - 5e9) for f in others)
    with pytest.raises(SearchSpaceError):
        create_space("regnet", wm_range=(1.0, 3.0))


def test_cli_prints_the_same_keys_as_resnet_d(capsys):
    rows = {}
    for space in ("regnet", "resnet_d"):
        assert main(["sample", "--space", space, "--budget", "4G", "-n", "5", "--json"]) == 0
        rows[space] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows["regnet"]) == 5 and {tuple(r) for r in rows["regnet"]} == {tuple(rows["resnet_d"][0])}
    flops = {}
    for space, arch in (("regnet", rows["regnet"][0]["arch"]), ("resnet_d", "resnet18d")):
        assert main(["flops", "--space", space, arch, "--json"]) == 0
        flops[space] = json.loads(capsys.readouterr().out)
    assert list(flops["regnet"]) == list(flops["resnet_d"]) and flops["regnet"]["arch"] == rows["regnet"][0]["arch"]
    assert flops["regnet"]["gflops"] == flops["regnet"]["gflops_analytic"] == rows["regnet"][0]["gflops"]
