"""The RegNet architecture value type: the six parameters of the RegNet design space and the SE ratio.

Grids (so that the value set is finite on any bounded range and the text form round-trips exactly):
d, w0 (a multiple of 8) and g are integers; wa and wm are multiples of 0.01 (timm's named configs use two
decimals); b is timm's `bottle_ratio` (bottleneck width = b x stage width; the paper's b is 1 / this), one of
1, 0.5, 0.25; se is 0 (RegNetX) or 0.25 (RegNetY).

A value is always a network timm builds and this package counts exactly: its width generation gives four
stages with exponents 0..3 and no block on a float32 rounding tie (see `generation`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from search_spaces.errors import ArchError
from search_spaces.regnet import generation as G

BOTTLE_RATIOS = (0.25, 0.5, 1.0)
SE_RATIOS = (0.0, 0.25)
BLOCKS = {0.0: "regnetx", 0.25: "regnety"}
_NUM = r"(0|[1-9]\d*)(?:\.(\d{1,2}))?"
_TEXT = re.compile(rf"^regnet([xy])_d(\d+)_w0-(\d+)_wa{_NUM}_wm{_NUM}_g(\d+)_b{_NUM}$")
TEXT_HELP = "the text form regnetx_d25_w0-88_wa26.31_wm2.25_g48_b1 (regnety_... for squeeze-excitation)"


class Stages(NamedTuple):
    """The four stages timm builds: blocks, output widths, group widths and bottleneck widths per stage."""

    depths: tuple[int, ...]
    widths: tuple[int, ...]
    group_widths: tuple[int, ...]
    bottlenecks: tuple[int, ...]


def hundredths(value: float, name: str) -> int:
    """`value` in hundredths; ArchError unless it is a multiple of 0.01."""
    scaled = float(value) * 100
    if not np.isfinite(scaled) or abs(scaled - round(scaled)) > 1e-6:
        raise ArchError(f"{name} must be a multiple of 0.01, got {value!r}")
    return int(round(scaled))


def decimal(hundredths_: int) -> str:
    """Shortest decimal text of a multiple of 0.01 given in hundredths: 2631 -> 26.31, 2790 -> 27.9, 800 -> 8."""
    whole, frac = divmod(hundredths_, 100)
    return str(whole) if frac == 0 else f"{whole}.{frac:02d}".rstrip("0")


@dataclass(frozen=True, order=True)
class Arch:
    """A RegNet: depth d, initial width w0, slope wa, width multiplier wm, group width g, bottleneck ratio b
    (timm's `bottle_ratio`) and squeeze-excitation ratio se (0: RegNetX, 0.25: RegNetY)."""

    d: int
    w0: int
    wa: float
    wm: float
    g: int
    b: float = 1.0
    se: float = 0.0

    def __post_init__(self) -> None:
        try:
            self._normalise()
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ArchError):
                raise
            raise ArchError(f"RegNet parameters must be numbers: {exc}") from None
        self._check_structure()

    def _normalise(self) -> None:
        """Check each parameter against its grid and store it in its canonical type."""
        for name in ("d", "w0", "g"):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or int(value) != value or int(value) < 1:
                raise ArchError(f"{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.w0 % G.QUANT:
            raise ArchError(f"w0 must be a multiple of {G.QUANT}, got {self.w0}")
        object.__setattr__(self, "wa", hundredths(self.wa, "wa") / 100)
        object.__setattr__(self, "wm", hundredths(self.wm, "wm") / 100)
        if self.wa <= 0 or self.wm <= 1:
            raise ArchError(f"wa must be positive and wm above 1, got wa={self.wa} wm={self.wm}")
        if float(self.b) not in BOTTLE_RATIOS or float(self.se) not in SE_RATIOS:
            raise ArchError(f"b must be one of {BOTTLE_RATIOS} and se one of {SE_RATIOS}, got b={self.b} "
                            f"se={self.se}")
        object.__setattr__(self, "b", float(self.b))
        object.__setattr__(self, "se", float(self.se))

    def _check_structure(self) -> None:
        """ArchError unless timm generates four clean stages from these parameters."""
        s = G.structure(np.array([self.d]), np.array([self.w0]), np.array([self.wa]), np.array([self.wm]))
        if s.valid[0]:
            return
        name = format_arch(self)
        if s.ambiguous[0]:
            raise ArchError(f"{name}: a block's width exponent lies on a float32 rounding tie of timm's width "
                            "generation, so its stages are not reproducible; move wa or wm by 0.01")
        raise ArchError(f"{name} does not generate four stages of distinct widths with width exponents 0..3 "
                        f"(it has {int(s.num_stages[0])} exponents); timm's RegNet builds four stages")

    @property
    def block(self) -> str:
        """`regnetx` (no squeeze-excitation) or `regnety`."""
        return BLOCKS[self.se]

    @cached_property
    def stages(self) -> Stages:
        """Per-stage depths and widths after timm's width generation and group adjustment."""
        s = G.structure(np.array([self.d]), np.array([self.w0]), np.array([self.wa]), np.array([self.wm]))
        widths, groups, bots = G.adjust(s.widths, np.array([self.g]), np.array([self.b]))
        return Stages(*(tuple(int(x) for x in a[0]) for a in (s.depths, widths, groups, bots)))

    def __str__(self) -> str:
        return format_arch(self)

    def to_json(self) -> dict[str, Any]:
        """The JSON form shared by every space: stage `depths` and `widths` and the `block` type."""
        return {"depths": list(self.stages.depths), "widths": list(self.stages.widths), "block": self.block}

    def key(self) -> tuple[int, ...]:
        """The integer key of a candidate row: (d, w0, wa x 100, wm x 100, g, 1 / b, se x 100)."""
        return (self.d, self.w0, hundredths(self.wa, "wa"), hundredths(self.wm, "wm"), self.g,
                int(round(1 / self.b)), hundredths(self.se, "se"))

    @classmethod
    def from_key(cls, key: tuple[int, ...]) -> "Arch":
        """The inverse of `key`."""
        d, w0, wa, wm, g, inv_b, se = (int(x) for x in key)
        return cls(d, w0, wa / 100, wm / 100, g, 1 / inv_b, se / 100)


def format_arch(arch: Arch) -> str:
    """Canonical text form, e.g. `regnetx_d25_w0-88_wa26.31_wm2.25_g48_b1` (`regnety_` with SE)."""
    parts = [f"regnet{'y' if arch.se else 'x'}", f"d{arch.d}", f"w0-{arch.w0}",
             "wa" + decimal(hundredths(arch.wa, "wa")), "wm" + decimal(hundredths(arch.wm, "wm")), f"g{arch.g}",
             "b" + decimal(hundredths(arch.b, "b"))]
    return "_".join(parts)


def parse_arch(text: str) -> Arch:
    """Parse the canonical text form; the inverse of `format_arch`."""
    text = text.strip()
    match = _TEXT.match(text)
    if not match:
        raise ArchError(f"cannot parse RegNet architecture {text!r}: expected {TEXT_HELP}")
    kind, d, w0, wa_i, wa_f, wm_i, wm_f, g, b_i, b_f = match.groups()
    number = lambda whole, frac: float(f"{whole}.{frac or 0}")  # noqa: E731
    arch = Arch(int(d), int(w0), number(wa_i, wa_f), number(wm_i, wm_f), int(g), number(b_i, b_f),
                0.25 if kind == "y" else 0.0)
    if format_arch(arch) != text:
        # "wa26.30", "d025" or "b1.0" would not round-trip: one name per architecture
        raise ArchError(f"RegNet architecture {text!r} is not in canonical form; write {format_arch(arch)}")
    return arch
