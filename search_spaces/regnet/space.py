"""The RegNet design space (Radosavovic et al., "Designing Network Design Spaces", CVPR 2020) on timm's
`RegNet`, registered as `regnet`.

The prior follows pycls's sweep sampler (`regnet_sampler` with its default ranges, sweep/config.py): d uniform
on 12..28; w0 log-uniform on the multiples of 8 in [8, 256]; wa log-uniform on [8, 256] and wm log-uniform on
[2, 3], both on a 0.01 grid (pycls quantises wa to 0.1 and wm to 0.001; 0.01 holds timm's named configs);
g log-uniform on the multiples of 8 in [8, 128]; b = 1 (pycls's BOT_MUL [1, 1]: the paper's RegNet fixes
b = 1); se uniform on {0, 0.25} (RegNetX and RegNetY). As pycls's sweeps, draws whose widths do not form
exactly four stages (exponents 0..3) are rejected, and so are draws timm would round ambiguously (see
`generation`; about 0.04% of draws); draws outside the FLOP window are rejected by `iter_samples`, so the
accepted samples follow the prior restricted to the window (uniform in the prior's measure).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, ClassVar

import numpy as np

from search_spaces.base import Candidates, Complexity, SearchSpace
from search_spaces.budget import FlopWindow
from search_spaces.counters import Cx
from search_spaces.errors import ArchError, SearchSpaceError
from search_spaces.registry import register_space
from search_spaces.regnet import complexity as C
from search_spaces.regnet import generation as G
from search_spaces.regnet import prior, table
from search_spaces.regnet.arch import BOTTLE_RATIOS, SE_RATIOS, TEXT_HELP, Arch, hundredths, parse_arch
from search_spaces.regnet.baselines import BASELINES

KEY_COLUMNS = ("d", "w0", "wa", "wm", "g", "b", "se")
"""Columns of a candidate key: d, w0, wa x 100, wm x 100, g, 1 / b, se x 100 (see `Arch.key`)."""


@register_space("regnet")
@dataclass(frozen=True)
class RegNet(SearchSpace):
    """RegNetX/Y networks of timm drawn from pycls's prior, counted at `res` x `res` with an `outputs`-wide head."""

    name: ClassVar[str] = "regnet"
    arch_help: ClassVar[str] = TEXT_HELP
    column_names: ClassVar[tuple[str, ...]] = ("block", "depths", "widths")
    depth_range: tuple[int, int] = (12, 28)
    w0_range: tuple[int, int] = (8, 256)
    wa_range: tuple[float, float] = (8.0, 256.0)
    wm_range: tuple[float, float] = (2.0, 3.0)
    g_range: tuple[int, int] = (8, 128)
    b_values: tuple[float, ...] = (1.0,)
    se_values: tuple[float, ...] = (0.0, 0.25)
    res: int = 256
    outputs: int = 1000

    def __post_init__(self) -> None:
        for name in ("depth_range", "w0_range", "wa_range", "wm_range", "g_range", "b_values", "se_values"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # lists from a config stay hashable
        ranges = (self.depth_range, self.w0_range, self.wa_range, self.wm_range, self.g_range)
        if any(len(r) != 2 or r[0] > r[1] for r in ranges) or min(self.res, self.outputs) < 1:
            raise SearchSpaceError(f"search space bounds must be (low, high) pairs and res, outputs positive: {self}")
        if self.depth_range[0] < G.NUM_STAGES or self.wm_range[0] <= 1 or self.wa_range[0] <= 0:
            raise SearchSpaceError(f"RegNet needs d >= 4, wa > 0 and wm > 1: {self}")
        if any(v % G.QUANT for v in self.w0_range + self.g_range) or self.g_range[0] < G.QUANT:
            raise SearchSpaceError(f"w0 and g bounds must be positive multiples of {G.QUANT}: {self}")
        for v in self.wa_range + self.wm_range:
            hundredths(v, "a wa or wm bound")
        if not self.b_values or not set(self.b_values) <= set(BOTTLE_RATIOS) or not self.se_values \
                or not set(self.se_values) <= set(SE_RATIOS):
            raise SearchSpaceError(f"b values must come from {BOTTLE_RATIOS} and se values from {SE_RATIOS}: {self}")

    # ---- the prior ---------------------------------------------------------------------------------------
    @cached_property
    def grids(self) -> tuple[prior.Grid, ...]:
        """The prior of each key column (d, w0, wa, wm, g, 1 / b, se), in the columns' integer units."""
        wa, wm = (tuple(hundredths(v, "bound") for v in r) for r in (self.wa_range, self.wm_range))
        return (prior.uniform(np.arange(self.depth_range[0], self.depth_range[1] + 1)),
                prior.log_uniform(*self.w0_range, G.QUANT), prior.log_uniform(*wa, 1), prior.log_uniform(*wm, 1),
                prior.log_uniform(*self.g_range, G.QUANT), prior.uniform([round(1 / b) for b in self.b_values]),
                prior.uniform([hundredths(s, "se") for s in self.se_values]))

    @cached_property
    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (w0, wm x 100) of the prior, w0-major: the stage widths depend on these two only."""
        return _pairs(self.grids[1].values, self.grids[3].values)

    @cached_property
    def combos(self) -> np.ndarray:
        """Every (g, 1 / b, se x 100) of the prior, as integer rows."""
        return np.array(list(itertools.product(*(g.values for g in self.grids[4:]))), dtype=np.int64)

    # ---- values ----------------------------------------------------------------------------------------
    @property
    def baselines(self) -> dict[str, Arch]:
        return BASELINES

    def parse_text(self, text: str) -> Arch:
        return parse_arch(text)

    def contains_type(self, value: Any) -> bool:
        return isinstance(value, Arch)

    def contains(self, arch: Arch) -> bool:
        if not isinstance(arch, Arch):
            return False
        return all(_on_grid(grid, v) for grid, v in zip(self.grids, arch.key()))

    def to_json(self, arch: Arch) -> dict[str, Any]:
        return arch.to_json()

    def columns(self, arch: Arch) -> dict[str, Any]:
        st = arch.stages
        return {"block": arch.block, "depths": ".".join(map(str, st.depths)), "widths": ".".join(map(str, st.widths))}

    def design(self, arch: Arch) -> dict[str, float]:
        return {"d": arch.d, "w0": arch.w0, "wa": arch.wa, "wm": arch.wm, "g": arch.g, "b": arch.b, "se": arch.se}

    # ---- building and counting ---------------------------------------------------------------------------
    def build(self, arch: Arch, num_outputs: int, **kwargs: Any) -> Any:
        from search_spaces.regnet.model import build_model
        return build_model(arch, num_outputs, **kwargs)

    def complexity(self, arch: Arch, res: int | None = None, outputs: int | None = None) -> Complexity:
        res = self.res if res is None else res
        st = arch.stages
        cx = C.regnet(Cx(res, res), st.depths, st.widths, st.group_widths, st.bottlenecks, arch.se,
                      self.outputs if outputs is None else outputs)
        return Complexity(int(cx.flops), int(cx.params))

    def batch_complexity(self, keys: np.ndarray, res: int | None = None,
                         outputs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """FLOPs and params of many architectures at once, given as (n, 7) integer key rows (`Arch.key`)."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1, len(KEY_COLUMNS))
        s = _structure(keys)
        if not s.valid.all():
            bad = tuple(int(x) for x in keys[np.argmin(s.valid)])
            raise ArchError(f"{np.count_nonzero(~s.valid)} key rows are not RegNets timm builds, e.g. {bad}")
        return self._count(keys, s, self.res if res is None else res, self.outputs if outputs is None else outputs)

    @staticmethod
    def _count(keys: np.ndarray, s: G.Structure, res: int, outputs: int) -> tuple[np.ndarray, np.ndarray]:
        """FLOPs and params of valid key rows with their structure `s`."""
        widths, groups, bots = G.adjust(s.widths, keys[:, 4], 1 / keys[:, 5])
        cx = C.regnet(Cx(res, res), list(s.depths.T), list(widths.T), list(groups.T), list(bots.T),
                      keys[:, 6] / 100, outputs)
        n = len(keys)
        return np.broadcast_to(cx.flops, (n,)).astype(np.int64), np.broadcast_to(cx.params, (n,)).astype(np.int64)

    def flop_range(self) -> tuple[int, int]:
        return _flop_range(self)

    # ---- sampling ----------------------------------------------------------------------------------------
    def draw_prior(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, G.Structure]:
        """Key rows of the members among `n` prior draws, and their structure: draws whose widths do not form
        four clean stages are dropped (pycls's rejection), so fewer than `n` rows come back."""
        keys = np.stack([grid.draw(rng, n) for grid in self.grids], axis=1)
        s = _structure(keys)
        return keys[s.valid], G.Structure(*(x[s.valid] for x in s))

    def draw(self, rng: np.random.Generator, n: int) -> Candidates:
        keys, s = self.draw_prior(rng, n)
        return Candidates(keys, *self._count(keys, s, self.res, self.outputs))

    def from_key(self, key: tuple[int, ...]) -> Arch:
        return Arch.from_key(key)

    def parameterisation(self, window: FlopWindow) -> Any:
        return _parameterisation(self, window)

    # ---- whole-prior tables (see `table`) ------------------------------------------------------------------
    def layout_classes(self) -> table.Classes:
        """Every member's stage layout, as runs of wa values per (w0, wm)."""
        return _layout_classes(self.depth_range, self.w0_range, self.wa_range, self.wm_range)

    def coefficients(self) -> table.Coefficients:
        """FLOPs and params linear in the stage depths, per (w0, wm) pair and (g, b, se) combination."""
        return _coefficients(self)


def _on_grid(grid: prior.Grid, value: int) -> bool:
    """Whether `value` is one of the grid's values."""
    i = int(np.searchsorted(grid.values, value))
    return i < len(grid.values) and grid.values[i] == value


def _structure(keys: np.ndarray) -> G.Structure:
    """The stage layout of key rows."""
    return G.structure(keys[:, 0], keys[:, 1], keys[:, 2] / 100, keys[:, 3] / 100)


def _pairs(w0: np.ndarray, wm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (w0, wm) combinations, w0-major."""
    return np.repeat(w0, len(wm)), np.tile(wm, len(w0))


@lru_cache(maxsize=4)
def _layout_classes(depths: tuple[int, int], w0: tuple[int, int], wa: tuple[float, float],
                    wm: tuple[float, float]) -> table.Classes:
    """The layout classes of a prior's (d, w0, wa, wm) ranges (shared by spaces that differ in res, outputs, g,
    b or se)."""
    wa_, wm_ = (np.arange(hundredths(r[0], "bound"), hundredths(r[1], "bound") + 1) for r in (wa, wm))
    return table.layout_classes(*_pairs(np.arange(w0[0], w0[1] + 1, G.QUANT), wm_), wa_, depths)


@lru_cache(maxsize=4)
def _coefficients(space: RegNet) -> table.Coefficients:
    combos = space.combos.astype(np.float64)
    combos[:, 1], combos[:, 2] = 1 / combos[:, 1], combos[:, 2] / 100  # (g, b, se)
    return table.coefficients(space.pairs[0], space.pairs[1], combos, space.res, space.outputs)


@lru_cache(maxsize=4)
def _flop_range(space: RegNet) -> tuple[int, int]:
    return table.flop_extremes(space.layout_classes(), space.coefficients())


@lru_cache(maxsize=4)
def _parameterisation(space: RegNet, window: FlopWindow) -> Any:
    from search_spaces.regnet.feasible import FeasibleParameterisation
    return FeasibleParameterisation(space, window)
