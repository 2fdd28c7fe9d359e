"""The ResNet-'d' architecture value type: four stage depths and widths of a timm ResNet-'d'."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from search_spaces.errors import ArchError

STEM_WIDTH = 32
"""Deep stem of three 3x3 convs (32, 32, 64 channels), as timm's 'd' variants."""

NUM_STAGES = 4
BLOCKS = ("basic", "bottleneck")
EXPANSION = {"basic": 1, "bottleneck": 4}

_TEXT = re.compile(r"^d(\d+(?:\.\d+)*)_w(\d+(?:\.\d+)*)(_bottleneck)?$")


@dataclass(frozen=True, order=True)
class Arch:
    """A four-stage ResNet-'d' backbone: per-stage block counts (depths) and planes (widths).

    `widths` are timm's `channels`: a stage outputs `width * expansion` channels
    (expansion 1 for BasicBlock, 4 for Bottleneck).
    """

    depths: tuple[int, ...]
    widths: tuple[int, ...]
    block: str = "basic"

    def __post_init__(self) -> None:
        object.__setattr__(self, "depths", tuple(int(d) for d in self.depths))
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if len(self.depths) != NUM_STAGES or len(self.widths) != NUM_STAGES:
            raise ArchError(f"an architecture has {NUM_STAGES} stage depths and {NUM_STAGES} widths, "
                            f"got d={list(self.depths)} w={list(self.widths)}")
        if min(self.depths) < 1 or min(self.widths) < 1:
            raise ArchError(f"depths and widths must be positive, got d={list(self.depths)} "
                            f"w={list(self.widths)}")
        if self.block not in BLOCKS:
            raise ArchError(f"unknown block {self.block!r}; expected one of {', '.join(BLOCKS)}")

    @property
    def expansion(self) -> int:
        """Output channels per plane of this block type."""
        return EXPANSION[self.block]

    def __str__(self) -> str:
        return format_arch(self)

    def to_json(self) -> dict[str, Any]:
        """The JSON form: `{"depths": [...], "widths": [...], "block": "basic"}`."""
        return {"depths": list(self.depths), "widths": list(self.widths), "block": self.block}

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | str) -> "Arch":
        """Read the JSON form (a mapping or its JSON text)."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ArchError(f"architecture JSON is not valid JSON: {exc}") from None
        if not isinstance(value, Mapping) or not {"depths", "widths"} <= set(value):
            raise ArchError(f"architecture JSON needs 'depths' and 'widths', got {value!r}")
        try:
            return cls(tuple(value["depths"]), tuple(value["widths"]), value.get("block", "basic"))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ArchError):
                raise
            raise ArchError(f"architecture JSON has non-integer depths or widths: {value!r}") from None


def format_arch(arch: Arch) -> str:
    """Canonical text form, e.g. `d5.3.4.2_w64.160.272.512` (`_bottleneck` appended for that block)."""
    text = "d" + ".".join(map(str, arch.depths)) + "_w" + ".".join(map(str, arch.widths))
    return text + ("_bottleneck" if arch.block == "bottleneck" else "")


def parse_arch(text: str) -> Arch:
    """Parse the canonical text form; the inverse of `format_arch`."""
    match = _TEXT.match(text.strip())
    if not match:
        raise ArchError(f"cannot parse architecture {text!r}: expected a baseline name or the form "
                        "d5.3.4.2_w64.160.272.512")
    depths = tuple(int(x) for x in match.group(1).split("."))
    widths = tuple(int(x) for x in match.group(2).split("."))
    arch = Arch(depths, widths, "bottleneck" if match.group(3) else "basic")
    if format_arch(arch) != text.strip():
        # leading zeros ("d05...") would not round-trip: one name per architecture
        raise ArchError(f"architecture {text!r} is not in canonical form; write {format_arch(arch)}")
    return arch


def arch_from_lists(depths: Sequence[int], widths: Sequence[int], block: str = "basic") -> Arch:
    """Build an `Arch` from plain sequences (e.g. sampler output)."""
    return Arch(tuple(depths), tuple(widths), block)
