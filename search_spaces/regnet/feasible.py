"""A fixed unit-cube parameterisation of the RegNet space that always resolves inside a FLOP window.

Optuna's samplers (TPE, NSGA-II) see seven floats in [0, 1): `u_se, u_b, u_g, u_d, u_w0, u_wm, u_wa`.
`resolve` fixes the parameters in that order, each coordinate picking a quantile among the values that still
admit a member of the prior inside the window given the values already fixed; so every point of the cube is a
prior member inside the window, with no approximation of FLOPs and no dead ends.

The admissible values come from one table per window, built once with exact integer arithmetic: a row per
(layout class, g, b, se) that has some depth inside the window, holding the class's (w0, wm), its run of wa
values and the run of depths d in the window (see `table`: FLOPs are linear in d within a class). Each step
filters the rows still consistent with the choices so far. `encode` maps an architecture back to the centre of
its cell at every step, so that architectures drawn elsewhere (the uniform sampler, baselines) can be told
to the same study; `resolve(encode(a)) == a`.
"""
from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Callable, Mapping, NamedTuple

import numpy as np

from search_spaces.base import check_window, pick as _pick, cell_centre as _centre
from search_spaces.budget import FlopWindow
from search_spaces.errors import EmptyWindowError, SearchSpaceError
from search_spaces.regnet import table
from search_spaces.regnet.arch import Arch

if TYPE_CHECKING:
    from search_spaces.regnet.space import RegNet

PARAMS = ("u_se", "u_b", "u_g", "u_d", "u_w0", "u_wm", "u_wa")
_RANGES = {"u_d": ("dlo", "dhi"), "u_wa": ("alo", "ahi")}  # the rest are one grid index per row


class Rows(NamedTuple):
    """The window's table: per row the grid indices of se, b, g, w0 and wm, and runs of d and of wa indices."""

    u_se: np.ndarray
    u_b: np.ndarray
    u_g: np.ndarray
    dlo: np.ndarray
    dhi: np.ndarray
    u_w0: np.ndarray
    u_wm: np.ndarray
    alo: np.ndarray
    ahi: np.ndarray


def _covered(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The sorted integers covered by the runs [lo, hi]."""
    size = int(hi.max()) + 2
    edges = np.bincount(lo, minlength=size) - np.bincount(hi + 1, minlength=size)
    return np.flatnonzero(np.cumsum(edges) > 0)


class FeasibleParameterisation:
    """Maps `[0, 1)^7` onto the members of `space`'s prior inside `window`."""

    params = PARAMS

    def __init__(self, space: "RegNet", window: FlopWindow) -> None:
        check_window(space, window)
        self.space, self.window = space, window

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_rows"}  # rebuilt on demand

    @cached_property
    def _rows(self) -> Rows:
        """Every (layout class, g, b, se) with depths inside the window."""
        sp, (low, high) = self.space, (self.window.low, self.window.high)
        classes, coef = sp.layout_classes(), sp.coefficients()
        found = []
        for combo in range(len(sp.combos)):
            dlo, dhi = table.depths_in_window(classes, coef, combo, low, high)
            keep = np.flatnonzero(dlo <= dhi)
            found.append((keep, np.full(len(keep), combo), dlo[keep], dhi[keep]))
        cls, combo, dlo, dhi = (np.concatenate(x) for x in zip(*found))
        if not len(cls):
            raise EmptyWindowError(f"no architecture of the {sp.name} space lies in the window {self.window}")
        n_wm = len(sp.grids[3].values)
        g, b, se = np.unravel_index(combo, tuple(len(grid.values) for grid in sp.grids[4:]))
        pair = classes.pair[cls]
        small = lambda x: np.asarray(x, dtype=np.int32)  # noqa: E731  (a few hundred thousand rows)
        return Rows(small(se), small(b), small(g), small(dlo), small(dhi), small(pair // n_wm),
                    small(pair % n_wm), small(classes.lo[cls]), small(classes.hi[cls]))

    @property
    def size(self) -> int:
        """Rows of the window's table."""
        return len(self._rows.u_se)

    def _walk(self, choose: Callable[[str, np.ndarray], int]) -> dict[str, int]:
        """Fix the parameters in order; `choose` gets each one's admissible values (sorted) and returns one."""
        rows, at, chosen = self._rows, np.arange(self.size), {}
        for name in PARAMS:
            if name in _RANGES:
                lo, hi = (getattr(rows, f)[at] for f in _RANGES[name])
                value = chosen[name] = choose(name, _covered(lo, hi))
                at = at[(lo <= value) & (value <= hi)]
            else:
                column = getattr(rows, name)[at]
                value = chosen[name] = choose(name, np.flatnonzero(np.bincount(column)))
                at = at[column == value]
        return chosen

    def _arch(self, chosen: Mapping[str, int]) -> Arch:
        """The architecture of chosen grid indices (d as itself)."""
        grids = self.space.grids
        pick = lambda i, name: int(grids[i].values[chosen[name]])  # noqa: E731
        return Arch.from_key((chosen["u_d"], pick(1, "u_w0"), pick(2, "u_wa"), pick(3, "u_wm"), pick(4, "u_g"),
                              pick(5, "u_b"), pick(6, "u_se")))

    def resolve(self, params: Mapping[str, float]) -> Arch:
        """The architecture for one point of the cube (missing coordinates default to 0.5)."""
        u = {name: min(max(float(params.get(name, 0.5)), 0.0), 1.0) for name in PARAMS}
        return self._arch(self._walk(lambda name, values: _pick(values, u[name])))

    def encode(self, arch: Arch) -> dict[str, float]:
        """Cube coordinates that `resolve` maps back to `arch` (which must lie in the window)."""
        sp = self.space
        if not sp.contains(arch) or sp.flops(arch) not in self.window:
            raise SearchSpaceError(f"{arch} is not an architecture of the space inside {self.window}")
        key = arch.key()
        target = {"u_d": key[0], **{name: sp.grids[i].index(key[i]) for i, name in
                                    ((1, "u_w0"), (2, "u_wa"), (3, "u_wm"), (4, "u_g"), (5, "u_b"), (6, "u_se"))}}
        u: dict[str, float] = {}

        def choose(name: str, values: np.ndarray) -> int:
            u[name] = _centre(values, target[name])
            return target[name]

        self._walk(choose)
        return u
