"""A fixed unit-cube parameterisation of the space that always resolves inside a FLOP window.

Optuna's samplers (TPE, NSGA-II) see eight floats in [0, 1): `u_d1..u_d4` and `u_w1..u_w4`.
`resolve` turns them into an architecture, one stage variable at a time, each coordinate picking a
quantile among the values that still admit an architecture inside the window:

1. depths d1..d4 in turn. A depth is admissible when the window can still be reached: the cheapest
   completion (later depths 1, narrowest widths) is at most the budget and the dearest (later depths
   max_depth, widest widths) at least the window's floor. For d4 the check is exact: some width
   sequence puts the whole architecture inside the window. Should an earlier choice leave no admissible value (a
   discreteness corner the bounds cannot see), the next-nearest value is tried instead.
2. widths w1..w4 in turn, among the non-decreasing width sequences whose architecture (with the
   chosen depths) lies inside the window, enumerated exactly.

So every point of the cube is a feasible network and no trial is spent on an infeasible one; nearby
points give nearby architectures, which is what TPE's density model needs. `encode` maps an
architecture back to the centre of its cell, so that architectures proposed elsewhere (the RegNet
sampler, baselines) can be told to the same study.

FLOPs are linear in depths for fixed widths: flops = base(w) + sum_i (d_i - 1) * rest_i(w), with base
the all-depth-1 network and rest_i the cost of one more block in stage i. One table of all width
sequences (766,480 for 64 widths and 4 stages) and those five columns makes every check a vectorised
multiply-add.
"""
from __future__ import annotations

import itertools
from functools import cached_property
from typing import TYPE_CHECKING, Mapping

import numpy as np


from search_spaces.base import check_window, pick as _pick, cell_centre as _centre
from search_spaces.budget import FlopWindow
from search_spaces.errors import EmptyWindowError, SearchSpaceError
from search_spaces.resnet_d.arch import NUM_STAGES, Arch

if TYPE_CHECKING:
    from search_spaces.resnet_d.space import ResNetD

DEPTH_PARAMS = tuple(f"u_d{i + 1}" for i in range(NUM_STAGES))
WIDTH_PARAMS = tuple(f"u_w{i + 1}" for i in range(NUM_STAGES))
PARAMS = DEPTH_PARAMS + WIDTH_PARAMS


class FeasibleParameterisation:
    """Maps `[0, 1)^8` onto the architectures of `space` inside `window`."""

    params = PARAMS

    def __init__(self, space: "ResNetD", window: FlopWindow) -> None:
        check_window(space, window)
        self.space, self.window = space, window

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_table"}  # 37 MB, rebuilt on demand

    @cached_property
    def _table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All width sequences, their all-depth-1 FLOPs and the per-stage cost of one more block."""
        sp, k = self.space, NUM_STAGES
        slots = np.array(list(itertools.combinations(range(sp.n_widths + k - 1), k)), dtype=np.int64)
        widths = (slots - np.arange(k) + 1) * sp.width_step
        ones = np.ones_like(widths)
        base, _ = sp.batch_complexity(ones, widths)
        rest = np.empty((len(widths), k), dtype=np.int64)
        for i in range(k):
            depths = ones.copy()
            depths[:, i] = 2
            rest[:, i] = sp.batch_complexity(depths, widths)[0] - base
        return widths, base, rest

    def _flops(self, depths: tuple[int, ...]) -> np.ndarray:
        """FLOPs of every width sequence with these four depths."""
        _, base, rest = self._table
        return base + rest @ (np.asarray(depths, dtype=np.int64) - 1)

    def _admissible_depths(self, prefix: tuple[int, ...]) -> np.ndarray:
        """Depths for the next stage after `prefix` from which the window can still be reached."""
        widths, base, rest = self._table
        low, high, top = self.window.low, self.window.high, self.space.max_depth
        chosen = base + rest[:, :len(prefix)] @ (np.asarray(prefix, dtype=np.int64) - 1)
        stage = rest[:, len(prefix)]
        if len(prefix) == NUM_STAGES - 1:
            # exact: row r is inside the window for (d - 1) in [ceil((low - c) / s), floor((high - c) / s)]
            lo = np.maximum(-((chosen - low) // stage), 0)
            hi = np.minimum((high - chosen) // stage, top - 1)
            ok = lo <= hi
            hits = np.zeros(top + 1, dtype=np.int64)
            np.add.at(hits, lo[ok], 1)
            np.add.at(hits, hi[ok] + 1, -1)
            return np.flatnonzero(np.cumsum(hits)[:top] > 0) + 1
        # bounds: FLOPs grow with every width, so the all-narrowest row (first) is the cheapest
        # completion and the all-widest (last) the dearest; later stages at depth 1 or the maximum
        candidates = np.arange(1, top + 1)
        later = rest[:, len(prefix) + 1:].sum(axis=1)
        cheapest = chosen[0] + (candidates - 1) * stage[0]
        dearest = chosen[-1] + (candidates - 1) * stage[-1] + (top - 1) * later[-1]
        return candidates[(cheapest <= high) & (dearest >= low)]

    def _depths(self, u: list[float], prefix: tuple[int, ...] = ()) -> tuple[int, ...] | None:
        """Choose the remaining depths by quantile, trying nearer values where one dead-ends."""
        if len(prefix) == NUM_STAGES:
            return prefix
        admissible = self._admissible_depths(prefix)
        if not len(admissible):
            return None
        first = _pick(admissible, u[len(prefix)])
        for d in sorted(admissible, key=lambda d: (abs(d - first), d)):
            found = self._depths(u, prefix + (int(d),))
            if found is not None:
                return found
        return None

    def resolve(self, params: Mapping[str, float]) -> Arch:
        """The architecture for one point of the cube (missing coordinates default to 0.5)."""
        u = [min(max(float(params.get(name, 0.5)), 0.0), 1.0) for name in PARAMS]
        depths = self._depths(u[:NUM_STAGES])
        if depths is None:
            raise EmptyWindowError(f"no architecture of the space lies in the window {self.window}")
        widths = self._table[0]
        flops = self._flops(depths)
        rows = widths[(flops >= self.window.low) & (flops <= self.window.high)]
        chosen = []
        for i in range(NUM_STAGES):
            w = _pick(np.unique(rows[:, i]), u[NUM_STAGES + i])
            rows = rows[rows[:, i] == w]
            chosen.append(w)
        return Arch(depths, tuple(chosen), self.space.block)

    def encode(self, arch: Arch) -> dict[str, float]:
        """Cube coordinates that `resolve` maps back to `arch` (which must lie in the window)."""
        if not self.space.contains(arch) or self.space.flops(arch) not in self.window:
            raise SearchSpaceError(f"{arch} is not an architecture of the space inside {self.window}")
        u: dict[str, float] = {}
        for i, name in enumerate(DEPTH_PARAMS):
            u[name] = _centre(self._admissible_depths(arch.depths[:i]), arch.depths[i])
        rows = self._table[0]
        flops = self._flops(arch.depths)
        rows = rows[(flops >= self.window.low) & (flops <= self.window.high)]
        for i, name in enumerate(WIDTH_PARAMS):
            u[name] = _centre(np.unique(rows[:, i]), arch.widths[i])
            rows = rows[rows[:, i] == arch.widths[i]]
        return u
