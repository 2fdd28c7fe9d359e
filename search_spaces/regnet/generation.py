"""timm's RegNet width generation (`generate_regnet`, `adjust_widths_groups_comp`), vectorised in numpy.

timm turns (d, w0, wa, wm) into per-block widths in float32 torch arithmetic:

    u_i = w0 + i * wa                         block i = 0 .. d-1 (continuous widths)
    e_i = round(log(u_i / w0) / log(wm))      (the block's exponent; half to even)
    w_i = round(w0 * wm ** e_i / 8) * 8       (quantised to multiples of 8)

and a stage is a run of blocks of one width. Two places round:

* The exponent: timm's float32 log and division err by up to ~1.2e-6 (measured), so where the exact quotient
  log(u_i / w0) / log(wm) lies within `TIE_MARGIN` (1e-5) of a half-integer, the exponent timm computes
  depends on its float32 arithmetic (and could differ between machines). Such a block is *ambiguous*; a
  network with one is not a valid value (see `Arch`). Everywhere else `rint` of the float64 quotient is
  timm's exponent, whatever float32 log it runs.
* The stage width: `w0 * wm ** e / 8` is rounded in float32 exactly as timm does (float32 multiply and divide
  are exact IEEE operations; the power is the correctly rounded float32 of a float64 power). Exact ties are
  frequent on a 0.01 grid (w0 = 40, wm = 2.3: 11.5) and resolve half to even, as in timm; the test suite
  checks this against torch for every (w0, wm, exponent) of the prior.

Only networks whose exponents are exactly 0, 1, 2 and 3 with four distinct quantised widths (four stages, none
skipped: pycls's sweep constraint NUM_STAGES = [4, 4] with num_stages == max_stage) are valid; timm's `RegNet`
builds only four stages.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

QUANT = 8
"""Widths are multiples of 8 (timm's `generate_regnet(quant=8)`; w0 must be one too)."""

NUM_STAGES = 4
TIE_MARGIN = 1e-5
"""How close to a half-integer an exponent quotient may come before the block counts as ambiguous."""


class Structure(NamedTuple):
    """Per-network stage layout from (d, w0, wa, wm): arrays over n networks."""

    depths: np.ndarray  # (n, 4) blocks per stage (meaningful where `valid`)
    widths: np.ndarray  # (n, 4) stage widths before the group adjustment
    valid: np.ndarray  # (n,) exponents exactly 0..3, four distinct widths, no ambiguous block
    ambiguous: np.ndarray  # (n,) some block's exponent lies on a float32 rounding tie
    num_stages: np.ndarray  # (n,) distinct exponents among the blocks


def exponent_quotients(w0: np.ndarray, wa: np.ndarray, wm: np.ndarray, blocks: int) -> np.ndarray:
    """(n, blocks) exact-as-float64 quotients log(1 + i * wa / w0) / log(wm) of blocks i = 0 .. blocks-1."""
    i = np.arange(blocks, dtype=np.float64)
    w0, wa, wm = (np.asarray(x, dtype=np.float64)[:, None] for x in (w0, wa, wm))
    return np.log1p(i * wa / w0) / np.log(wm)


def is_tie(q: np.ndarray) -> np.ndarray:
    """Where a quotient lies within `TIE_MARGIN` of a half-integer (timm's rounding could go either way)."""
    return np.abs(q - np.floor(q) - 0.5) < TIE_MARGIN


def stage_widths(w0: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """(n, 4) widths round(w0 * wm ** k / 8) * 8 of exponents k = 0..3, in timm's float32 arithmetic."""
    base = np.asarray(wm, dtype=np.float64).astype(np.float32).astype(np.float64)[:, None]
    power = (base ** np.arange(NUM_STAGES, dtype=np.float64)).astype(np.float32)
    scaled = (np.asarray(w0).astype(np.float32)[:, None] * power) / np.float32(QUANT)
    return np.rint(scaled).astype(np.int64) * QUANT


def structure(d: np.ndarray, w0: np.ndarray, wa: np.ndarray, wm: np.ndarray) -> Structure:
    """The stage layout timm generates for each (d, w0, wa, wm) row (float arrays of equal length)."""
    d = np.asarray(d, dtype=np.int64)
    blocks = int(d.max()) if d.size else 1
    q = exponent_quotients(w0, wa, wm, blocks)
    present = np.arange(blocks) < d[:, None]
    exps = np.where(present, np.rint(q), -1)
    below = [np.count_nonzero(present & (exps < k), axis=1) for k in (1, 2, 3)]
    top = exps.max(axis=1)
    num_stages = _count_distinct(exps)
    ambiguous = np.any(present & is_tie(q), axis=1)
    depths = np.stack([below[0], below[1] - below[0], below[2] - below[1], d - below[2]], axis=1)
    widths = stage_widths(w0, wm)
    distinct = np.all(np.diff(widths, axis=1) > 0, axis=1)  # timm merges exponents of one quantised width
    valid = (top == NUM_STAGES - 1) & np.all(depths > 0, axis=1) & distinct & ~ambiguous
    return Structure(depths, widths, valid, ambiguous, num_stages)


def _count_distinct(exps: np.ndarray) -> np.ndarray:
    """Distinct non-negative values per row of a row-wise non-decreasing (padded with -1) array."""
    steps = np.diff(exps, axis=1) > 0
    return (exps[:, 0] >= 0).astype(np.int64) + np.count_nonzero(steps & (exps[:, 1:] >= 0), axis=1)


def adjust(widths: np.ndarray, g: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """timm's `adjust_widths_groups_comp` (group_min_ratio 0): stage widths, group widths and bottleneck widths
    after making each bottleneck width a multiple of its group width. `widths` is (n, 4); `g`, `b` are (n,)."""
    b = np.asarray(b, dtype=np.float64)[:, None]
    bottleneck = np.floor(widths * b).astype(np.int64)  # int(w * b); exact for b = 1, 1/2, 1/4
    groups = np.minimum(np.asarray(g, dtype=np.int64)[:, None], bottleneck)
    bottleneck = np.rint(bottleneck / groups).astype(np.int64) * groups  # Python's round: half to even
    out = np.floor(bottleneck / b).astype(np.int64)  # int(w_bot / b)
    return out, groups, bottleneck
