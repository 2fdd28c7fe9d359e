"""Architecture value type: text and JSON forms, baselines, building through timm."""
import json

import pytest
import timm
import torch
from hypothesis import given, strategies as st

from _spaces import BASELINES, PAPER_SEARCHED, Arch, arch_label, build_model, format_arch, parse_arch, resolve_arch
from search_spaces import ArchError

arches = st.builds(
    Arch,
    st.lists(st.integers(1, 99), min_size=4, max_size=4).map(tuple),
    st.lists(st.integers(1, 4096), min_size=4, max_size=4).map(tuple),
    st.sampled_from(["basic", "bottleneck"]),
)


@given(arches)
def test_text_form_round_trips(arch):
    assert parse_arch(format_arch(arch)) == arch
    assert resolve_arch(str(arch)) == arch


@given(arches)
def test_json_form_round_trips(arch):
    assert Arch.from_json(arch.to_json()) == arch
    assert Arch.from_json(json.dumps(arch.to_json())) == arch


def test_paper_text_form():
    arch = parse_arch(PAPER_SEARCHED)
    assert arch.depths == (5, 3, 4, 2) and arch.widths == (64, 160, 272, 512)
    assert arch.block == "basic" and str(arch) == "d5.3.4.2_w64.160.272.512"
    assert arch.to_json() == {"depths": [5, 3, 4, 2], "widths": [64, 160, 272, 512], "block": "basic"}


@pytest.mark.parametrize("bad", [
    "", "resnet99", "d5.3.4_w64.160.272", "d5.3.4.2", "w64.160.272.512", "d5.3.4.2_w64.160.272.512_x",
    "d0.3.4.2_w64.160.272.512", "d5.3.4.2_w0.160.272.512", "d05.3.4.2_w64.160.272.512",
    "d5.3.4.2_w64.160.272.512_bottleneckk", "D5.3.4.2_W64.160.272.512", "d5,3,4,2_w64,160,272,512",
    "d5.3.4.2.1_w64.160.272.512.512", "d5.3.4.2_w64.160.272",
])
def test_bad_text_raises(bad):
    with pytest.raises(ArchError):
        resolve_arch(bad)


@pytest.mark.parametrize("bad", ['{"depths": [1, 2]}', "[1, 2]", "{not json", '{"depths": ["a"], "widths": [8]}',
                                 '{"depths": [1, 1, 1, 1], "widths": [8, 8, 8]}',
                                 '{"depths": [1, 1, 1, 1], "widths": [8, 8, 8, 8], "block": "x"}'])
def test_bad_json_raises(bad):
    with pytest.raises(ArchError):
        Arch.from_json(bad)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_builds_exactly_timms_model(name):
    """Our builder and timm's registered variant give the same modules and parameter shapes."""
    ours = build_model(resolve_arch(name), num_outputs=10)
    ref = timm.create_model(name, pretrained=False, num_classes=10)
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in ref.state_dict().items()}
    assert repr(ours) == repr(ref)
    assert arch_label(resolve_arch(name)) == name
    assert resolve_arch(name.upper()) == resolve_arch(name)


@pytest.mark.parametrize("spec,outputs", [("resnet18d", 6100), ("d1.2.1.1_w8.16.16.24", 7),
                                          ("d1.1.1.2_w8.8.16.16_bottleneck", 33)])
def test_built_network_runs_with_configured_outputs(spec, outputs):
    model = build_model(resolve_arch(spec), num_outputs=outputs).eval()
    with torch.no_grad():
        y = model(torch.zeros(2, 3, 64, 64))
    assert y.shape == (2, outputs)
