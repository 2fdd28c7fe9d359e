"""The RegNet space: timm's width generation, the analytic count against fvcore and timm, values and text, the
registry and `nas-space` (the prior, sampling and the feasible cube: test_regnet_sampling.py)."""
import numpy as np
import pytest
import timm
import torch
from hypothesis import assume, given, strategies as st
from timm.models.regnet import RegNet as TimmRegNet, model_cfgs

from search_spaces import ArchError, FlopWindow, sample_archs
from search_spaces.flops import count_flops, count_params
from search_spaces.regnet import BASELINES, Arch, RegNet, parse_arch
from search_spaces.regnet import generation as G
from search_spaces.regnet.arch import BOTTLE_RATIOS, SE_RATIOS
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
