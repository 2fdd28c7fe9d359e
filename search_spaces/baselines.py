"""The ResNet-'d' baselines by name, and resolving a name or text form to an `Arch`."""
from __future__ import annotations

from search_spaces.arch import Arch, parse_arch
from search_spaces.errors import ArchError

# Exactly the `layers`/`channels`/`block` that timm's resnet{18,26,34,50}d entries pass to `ResNet`.
BASELINES: dict[str, Arch] = {
    "resnet18d": Arch((2, 2, 2, 2), (64, 128, 256, 512), "basic"),
    "resnet26d": Arch((2, 2, 2, 2), (64, 128, 256, 512), "bottleneck"),
    "resnet34d": Arch((3, 4, 6, 3), (64, 128, 256, 512), "basic"),
    "resnet50d": Arch((3, 4, 6, 3), (64, 128, 256, 512), "bottleneck"),
}

PAPER_SEARCHED = "d5.3.4.2_w64.160.272.512"
"""The JMLR paper's searched backbone (Fig. 2b), 5.125 GFLOPs at 256x256 with 6,100 outputs."""


def resolve_arch(spec: "str | Arch") -> Arch:
    """Turn a baseline name (`resnet34d`) or a canonical text form into an `Arch`."""
    if isinstance(spec, Arch):
        return spec
    name = spec.strip()
    if name.lower() in BASELINES:
        return BASELINES[name.lower()]
    try:
        return parse_arch(name)
    except ArchError:
        raise ArchError(f"unknown architecture {spec!r}: give a baseline ({', '.join(BASELINES)}) "
                        "or the form d5.3.4.2_w64.160.272.512") from None


def baseline_name(arch: Arch) -> str | None:
    """The baseline name of an architecture that is structurally one, else None."""
    for name, base in BASELINES.items():
        if base == arch:
            return name
    return None


def arch_label(arch: Arch) -> str:
    """Display name: the baseline name where there is one, else the canonical text form."""
    return baseline_name(arch) or str(arch)
