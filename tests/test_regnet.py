"""The RegNet space: timm's width generation, the analytic count against fvcore and timm, values and text,
the pycls prior and its layout tables, budgeted sampling, the feasible cube, the registry and `nas-space`."""
import itertools
import json
import pickle

import numpy as np
import pytest
import timm
import torch
from hypothesis import assume, given, strategies as st
from scipy import stats
from timm.models.regnet import RegNet as TimmRegNet, model_cfgs

from nas.space_cli import main
from search_spaces import ArchError, EmptyWindowError, FlopWindow, SearchSpaceError, base, create_space, sample_archs
from search_spaces.flops import count_flops, count_params
from search_spaces.regnet import BASELINES, Arch, RegNet, parse_arch
from search_spaces.regnet import generation as G
from search_spaces.regnet.arch import BOTTLE_RATIOS, SE_RATIOS
from search_spaces.regnet.feasible import PARAMS, FeasibleParameterisation
from search_spaces.regnet.model import regnet_cfg

FACE = RegNet(res=256, outputs=6100)
NAMED_1_8 = ["regnetx_016", "regnetx_032", "regnetx_040", "regnetx_064", "regnetx_080",
             "regnety_016", "regnety_032", "regnety_040", "regnety_064", "regnety_080"]
# Exact (FLOPs, params) at 224x224 with 1,000 outputs, as timm's and pycls's model tests store them.
REFERENCE = {"regnetx_016": (1618759504, 9190136), "regnetx_032": (3199404208, 15296552),
             "regnetx_040": (3988966672, 22118248), "regnetx_064": (6493108328, 26209256),
             "regnetx_080": (8023343872, 39572648), "regnety_016": (1628186968, 11202430),
             "regnety_032": (3199056856, 19436338), "regnety_040": (3997890368, 20646656),
             "regnety_064": (6388049104, 30583252), "regnety_080": (7999060160, 39180068)}


def prior_archs(space: RegNet, n: int, seed: int) -> list[Arch]:
    """Members of the whole prior (any size), not only a budget window."""
    keys, _ = space.draw_prior(np.random.default_rng(seed), 4 * n)
    return [Arch.from_key(tuple(k)) for k in keys[:n]]


def timm_stages(arch: Arch) -> tuple:
    """(depths, widths, group widths) of timm's own stage arguments for the architecture."""
    stages, _ = TimmRegNet._get_stage_args(None, regnet_cfg(arch))
    return tuple(tuple(s[k] for s in stages) for k in ("depth", "out_chs", "group_size"))


RANDOM = prior_archs(FACE, 56, seed=1)
SMALLEST, LARGEST = Arch(12, 8, 8.0, 2.04, 8, 1.0, 0.0), Arch(28, 256, 256.0, 3.0, 128, 1.0, 0.25)  # of the prior
WINDOW = [s.arch for s in sample_archs(FACE, FlopWindow.below("5G"), 4, seed=3)]

# ---- timm's width generation ------------------------------------------------------------------------------


def test_named_configs_are_timms():
    for name, arch in BASELINES.items():
        assert regnet_cfg(arch) == model_cfgs[name], name


def test_stages_equal_timms_stage_arguments():
    """Our numpy generation against timm's `_get_stage_args` on prior draws, named models and the values next
    to the rounding ties the space excludes (the hardest cases)."""
    classes = FACE.layout_classes()
    near = []
    for c in np.flatnonzero(classes.lo == classes.hi)[::25]:
        w0, wm = (int(x[classes.pair[c]]) for x in FACE.pairs)
        for wa in (int(FACE.grids[2].values[classes.lo[c]]) + s for s in (-1, 1)):
            for d in (int(classes.dlo[c]), int(classes.dhi[c])):
                try:
                    near.append(Arch(d, w0, wa / 100, wm / 100, 8 * (1 + d % 16), 1.0, 0.0))
                except ArchError:
                    pass
    assert len(near) > 300
    for arch in prior_archs(FACE, 1500, seed=11) + list(BASELINES.values()) + near:
        st_ = arch.stages
        assert (st_.depths, st_.widths, st_.group_widths) == timm_stages(arch), str(arch)


def test_stage_width_rounding_equals_torch_on_every_prior_pair():
    """timm's `round(w0 * wm ** e / 8) * 8` in float32 torch, at vectorised and tail positions, for every
    (w0, wm) of the prior and e = 0..3: exact ties (w0 = 40, wm = 2.3: 11.5) included."""
    w0, wm = FACE.pairs
    ours = G.stage_widths(w0, wm / 100)
    exps = torch.arange(4, dtype=torch.float32).repeat(10)  # 40 entries: SIMD body and scalar tail
    for i in range(len(w0)):
        theirs = (torch.round((int(w0[i]) * torch.pow(float(wm[i]) / 100, exps)) / 8) * 8).int().view(10, 4)
        assert (theirs == torch.from_numpy(ours[i]).int()).all(), (w0[i], wm[i])


def test_ambiguous_and_non_four_stage_values_are_refused():
    with pytest.raises(ArchError, match="tie"):
        Arch(13, 48, 24.0, 2.25, 8)  # block 1: log(1.5) / log(2.25) = 0.5 exactly
    with pytest.raises(ArchError, match="four stages"):
        Arch(40, 8, 8.0, 2.0, 8)  # exponents reach 5
    with pytest.raises(ArchError, match="four stages"):
        Arch(5, 256, 8.0, 3.0, 8)  # exponents stop at 0
    with pytest.raises(ArchError, match="four stages"):
        Arch(5, 8, 0.3, 1.05, 8)  # exponents 0..3, but every width rounds to 8: timm sees one stage

# ---- the analytic count against fvcore and timm -------------------------------------------------------------


@pytest.mark.parametrize("name", NAMED_1_8)
def test_named_reference_values(name):
    assert tuple(FACE.complexity(BASELINES[name], 224, 1000)) == REFERENCE[name]
    assert abs(REFERENCE[name][0] / 1e8 - int(name[-3:])) < 1  # regnetx_032: 3.2 GF


@pytest.mark.parametrize("res,outputs", [(224, 1000), (256, 6100), (97, 10)])
@pytest.mark.parametrize("name", NAMED_1_8)
def test_analytic_equals_fvcore_named(name, res, outputs):
    arch = FACE.parse(name)
    assert FACE.complexity(arch, res, outputs).flops == count_flops(FACE, arch, res, outputs)


# Whole-prior draws are often 20-130 GFLOPs at 256x256; small inputs keep fvcore's trace fast while exercising
# every stage (at 32x32 the last stage runs at 1x1).
@pytest.mark.parametrize("i", range(len(RANDOM)))
def test_analytic_equals_fvcore_random(i):
    arch = RANDOM[i]
    res, outputs = [(32, 6100), (48, 10), (64, 1000), (45, 3)][i % 4]
    assert FACE.complexity(arch, res, outputs).flops == count_flops(FACE, arch, res, outputs)


@pytest.mark.parametrize("arch", WINDOW + [SMALLEST], ids=str)
def test_analytic_equals_fvcore_at_256(arch):
    assert FACE.flops(arch) == count_flops(FACE, arch)


def test_analytic_equals_fvcore_largest():
    assert FACE.complexity(LARGEST, 64, 6100).flops == count_flops(FACE, LARGEST, 64, 6100)


BOTTLENECKS = [Arch(16, 64, 40.5, 2.5, 24, 0.25, 0.25), Arch(30, 96, 40.0, 2.7, 48, 0.5, 0.0),
               Arch(14, 32, 24.5, 2.4, 40, 0.5, 0.25)]  # b below 1: outside the default prior


@pytest.mark.parametrize("arch", RANDOM[:6] + [LARGEST] + BOTTLENECKS
                         + [BASELINES[n] for n in ("regnetx_032", "regnety_016", "regnety_2560")], ids=str)
def test_analytic_params_equal_model(arch):
    for outputs in (6100, 3):
        model = FACE.build(arch, outputs, device="meta")
        assert FACE.complexity(arch, 32, outputs).params == count_params(model)
    if arch in BOTTLENECKS:  # not among the random draws: check their FLOPs too
        assert FACE.complexity(arch, 40, 5).flops == count_flops(FACE, arch, 40, 5)


def test_batch_count_equals_scalar_count():
    keys, _ = RegNet(b_values=(0.25, 0.5, 1.0)).draw_prior(np.random.default_rng(7), 3000)
    flops, params = FACE.batch_complexity(keys, res=192, outputs=99)
    for i in range(0, len(keys), 13):
        assert (flops[i], params[i]) == tuple(FACE.complexity(Arch.from_key(tuple(keys[i])), 192, 99))
    with pytest.raises(ArchError, match="not RegNets"):
        FACE.batch_complexity(np.array([[40, 8, 800, 200, 8, 1, 0]]))


def test_linear_tables_equal_the_count():
    """FLOPs and params from the layout classes and linear-in-depth coefficients equal the batch count."""
    classes, coef = FACE.layout_classes(), FACE.coefficients()
    keys, _ = FACE.draw_prior(np.random.default_rng(8), 20000)
    flops, params = FACE.batch_complexity(keys)
    n_wa = len(FACE.grids[2].values)
    pair = np.searchsorted(FACE.grids[1].values, keys[:, 1]) * len(FACE.grids[3].values) \
        + np.searchsorted(FACE.grids[3].values, keys[:, 3])
    at = np.searchsorted(FACE.grids[2].values, keys[:, 2])
    c = np.searchsorted(classes.pair * n_wa + classes.lo, pair * n_wa + at, side="right") - 1
    combo = np.array([np.flatnonzero((FACE.combos == k[4:]).all(axis=1))[0] for k in keys])
    depths = np.diff(np.column_stack([np.zeros(len(c), int), classes.below[c], keys[:, 0]]), axis=1)
    table_f = coef.base_flops[pair, combo] + ((depths - 1) * coef.rest_flops[pair, combo]).sum(axis=1)
    table_p = coef.base_params[pair, combo] + ((depths - 1) * coef.rest_params[pair, combo]).sum(axis=1)
    assert (table_f == flops).all() and (table_p == params).all()

# ---- values, text and building -----------------------------------------------------------------------------


@st.composite
def arches(draw):
    """Valid values over ranges wider than the prior (depth picked among those that make four stages)."""
    w0, wm = 8 * draw(st.integers(1, 80)), draw(st.integers(101, 400)) / 100
    wa = draw(st.integers(w0, w0 * 150)) / 100  # wa / w0 in [0.01, 1.5]: where four stages can form
    depths = np.arange(4, 41)
    s = G.structure(depths, np.full(len(depths), w0), np.full(len(depths), wa), np.full(len(depths), wm))
    assume(s.valid.any())
    d = int(draw(st.sampled_from(depths[s.valid])))
    return Arch(d, w0, wa, wm, draw(st.integers(1, 600)), draw(st.sampled_from(BOTTLE_RATIOS)),
                draw(st.sampled_from(SE_RATIOS)))


@given(arches())
def test_stages_equal_timms_over_the_value_type(arch):
    st_ = arch.stages
    assert (st_.depths, st_.widths, st_.group_widths) == timm_stages(arch)


@given(arches())
def test_text_form_round_trips(arch):
    assert parse_arch(str(arch)) == arch and FACE.parse(str(arch)) == arch
    assert Arch.from_key(arch.key()) == arch


def test_text_form_example():
    arch = FACE.parse("regnetx_032")
    assert str(arch) == "regnetx_d25_w0-88_wa26.31_wm2.25_g48_b1" and FACE.label(arch) == "regnetx_032"
    assert FACE.to_json(arch) == {"depths": [2, 6, 15, 2], "widths": [96, 192, 432, 1008], "block": "regnetx"}
    assert FACE.columns(arch) == {"block": "regnetx", "depths": "2.6.15.2", "widths": "96.192.432.1008"}
    assert set(FACE.columns(arch)) == set(FACE.column_names)
    assert FACE.design(arch) == {"d": 25, "w0": 88, "wa": 26.31, "wm": 2.25, "g": 48, "b": 1.0, "se": 0.0}
    assert str(Arch(22, 48, 27.9, 2.1, 8, 0.25, 0.25)) == "regnety_d22_w0-48_wa27.9_wm2.1_g8_b0.25"


@pytest.mark.parametrize("bad", [
    "", "regnetx_999", "regnetx_d25_w0-88_wa26.30_wm2.25_g48_b1", "regnetx_d025_w0-88_wa26.31_wm2.25_g48_b1",
    "regnetx_d25_w0-88_wa26.31_wm2.25_g48_b1.0", "regnetz_d25_w0-88_wa26.31_wm2.25_g48_b1",
    "regnetx_d25_w0-88_wa26.31_wm2.25_g48", "REGNETX_D25_W0-88_WA26.31_WM2.25_G48_B1",
    "regnetx_d25_w0-89_wa26.31_wm2.25_g48_b1", "regnetx_d25_w0-88_wa26.315_wm2.25_g48_b1",
    "regnetx_d25_w0-88_wa26.31_wm2.25_g48_b0.3", "regnetx_d25_w0-88_wa26.31_wm1_g48_b1",
    "regnetx_d25_w0-88_wa26.31_wm2.25_g0_b1", "regnetx_d13_w0-48_wa24_wm2.25_g8_b1",
    "regnetx_d40_w0-8_wa8_wm2_g8_b1", "d5.3.4.2_w64.160.272.512",
])
def test_bad_text_raises(bad):
    with pytest.raises(ArchError):
        FACE.parse(bad)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_builds_exactly_timms_model(name):
    ours = FACE.build(FACE.parse(name), 10, device="meta")
    ref = timm.create_model(name, pretrained=False, num_classes=10, device="meta")
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    assert repr(ours) == repr(ref) and FACE.parse(name.upper()) == BASELINES[name]


def test_built_network_runs():
    model = FACE.build(FACE.parse("regnety_002"), num_outputs=7).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 7)

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
