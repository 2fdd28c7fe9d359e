"""The prior over each RegNet parameter: a fixed grid of values and their probabilities.

Following pycls's `regnet_sampler` (pycls/sweep/samplers.py, random.py): d is uniform over integers; w0, wa,
wm and g are log-uniform, quantised up to their grid step as pycls's `log_uniform(low, high, q)` does (value v
takes the log-measure of (v - q, v], the lowest value that of (low - min(q, low / 2), low]); b and se are
uniform over their few values. Values are integers in the grid's unit (wa and wm in hundredths, b as 1 / b,
se in hundredths), the columns of a candidate key.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from search_spaces.errors import SearchSpaceError


class Grid(NamedTuple):
    """One parameter's admissible values (sorted integers) and prior probabilities."""

    values: np.ndarray
    probs: np.ndarray

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`n` values drawn from the prior (one uniform number each, by the inverse CDF)."""
        cdf = np.cumsum(self.probs)
        index = np.searchsorted(cdf / cdf[-1], rng.random(n), side="right")
        return self.values[np.minimum(index, len(self.values) - 1)]

    def index(self, value: int) -> int:
        """Position of `value` in the grid; SearchSpaceError if absent."""
        i = int(np.searchsorted(self.values, value))
        if i >= len(self.values) or self.values[i] != value:
            raise SearchSpaceError(f"{value} is not on the grid")
        return i


def uniform(values: "list[int] | np.ndarray") -> Grid:
    """Equal probability on each of `values`."""
    values = np.unique(np.asarray(values, dtype=np.int64))
    return Grid(values, np.full(len(values), 1 / len(values)))


def log_uniform(low: int, high: int, step: int) -> Grid:
    """pycls's quantised log-uniform on the multiples of `step` in [low, high] (integers in the grid's unit)."""
    if not (0 < low <= high and low % step == 0 and high % step == 0):
        raise SearchSpaceError(f"a log-uniform grid needs 0 < low <= high, multiples of {step}: got {low}..{high}")
    values = np.arange(low, high + 1, step, dtype=np.int64)
    edges = np.concatenate([[low - min(step, low / 2)], values]).astype(np.float64)
    mass = np.diff(np.log(edges))
    return Grid(values, mass / mass.sum())
