"""Whole-prior tables: every member's stage layout in closed form, and FLOPs as a linear function of depth.

Layout classes. For one (w0, wm), block i's exponent reaches k exactly when wa >= w0 (wm^(k - 1/2) - 1) / i
(a *breakpoint*), so between consecutive breakpoints every block keeps its exponent: the stage layout is one
and the same over a run of wa grid points. Per (w0, wm) there are at most 4 (D - 1) breakpoints (D: the
largest depth), so the ~24,801 wa values of a pair fall into a few dozen runs. A run's layout is read at
one of its points; its ends are checked for ambiguous blocks (float32 rounding ties, see `generation`) and
moved off while they are, which clears the whole run because each block's exponent quotient is monotone in
wa. Points moved off (and grid points exactly on a breakpoint) become one-point classes, valid only for
depths below their first ambiguous block. A class admits the depths d with T3 < d <= T4 (T_k: blocks with
exponent below k), its stage depths being (T1, T2 - T1, T3 - T2, d - T3).

Linear FLOPs. With widths, groups, b and se fixed, each extra block of stage k adds the same cost, so
flops = base + sum_k (d_k - 1) rest_k with `base` the network of depths (1, 1, 1, 1); the coefficients are
counted once per (w0, wm, g, b, se) with the analytic count, and the depths d that put a class inside a
window follow by integer division.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from search_spaces.counters import Cx
from search_spaces.regnet import complexity as C
from search_spaces.regnet import generation as G


class Classes(NamedTuple):
    """Runs of wa grid points with one stage layout, over every (w0, wm) pair of a prior."""

    pair: np.ndarray  # (m,) index of the (w0, wm) pair
    lo: np.ndarray  # (m,) first wa grid index of the run
    hi: np.ndarray  # (m,) last wa grid index (inclusive)
    below: np.ndarray  # (m, 3) T1, T2, T3: blocks with exponent below 1, 2, 3
    dlo: np.ndarray  # (m,) the fewest blocks d of a member
    dhi: np.ndarray  # (m,) the most


class Coefficients(NamedTuple):
    """FLOPs and parameters of depths (1, 1, 1, 1) and of one more block per stage, by (pair, combo)."""

    base_flops: np.ndarray  # (pairs, combos)
    rest_flops: np.ndarray  # (pairs, combos, 4)
    base_params: np.ndarray
    rest_params: np.ndarray


def _counts(w0: np.ndarray, wa: np.ndarray, wm: np.ndarray, blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Blocks before the first ambiguous one (J) and T1..T4 among them, for points (w0, wa, wm)."""
    q = G.exponent_quotients(w0, wa, wm, blocks)
    tie = G.is_tie(q) & (q < G.NUM_STAGES)  # a tie at 4.5 or above only occurs in networks too deep anyway
    first = np.where(tie.any(axis=1), tie.argmax(axis=1), blocks)
    present = np.arange(blocks) < first[:, None]
    below = np.stack([np.count_nonzero(present & (q < k - 0.5), axis=1) for k in range(1, 5)], axis=1)
    return first, below


def _runs(w0: np.ndarray, wm: np.ndarray, wa0: int, n_wa: int, blocks: int) -> tuple[np.ndarray, ...]:
    """Per pair, the runs of wa grid indices strictly between breakpoints, and the grid points exactly on one.

    Grid index j is wa = (wa0 + j) / 100; `w0`, `wm` are floats.
    """
    half = np.arange(1, G.NUM_STAGES + 1) - 0.5
    reach = w0[:, None] * (wm[:, None] ** half - 1) * 100  # wa in hundredths times i, where block i ties
    cuts = np.sort((reach[:, :, None] / np.arange(1, blocks)).reshape(len(w0), -1), axis=1) - wa0
    last = n_wa - 1
    lo = np.concatenate([np.zeros((len(w0), 1)), np.floor(cuts) + 1], axis=1)  # first index above a cut
    hi = np.concatenate([np.ceil(cuts) - 1, np.full((len(w0), 1), last)], axis=1)  # last below the next
    lo, hi = np.maximum(lo, 0).astype(np.int64), np.minimum(hi, last).astype(np.int64)
    pairs = np.broadcast_to(np.arange(len(w0))[:, None], lo.shape)
    keep = lo <= hi
    on = (cuts >= 0) & (cuts <= last) & (cuts == np.floor(cuts))
    exact = (pairs[:, 1:][on], cuts[on].astype(np.int64))
    return pairs[keep], lo[keep], hi[keep], exact


def layout_classes(w0: np.ndarray, wm: np.ndarray, wa: np.ndarray, depths: tuple[int, int]) -> Classes:
    """The layout classes of every pair (w0[p], wm[p] hundredths) over the wa grid `wa` (consecutive
    hundredths), for networks of depths[0] to depths[1] blocks."""
    blocks = depths[1]
    w0, wm, wa = np.asarray(w0, dtype=np.float64), np.asarray(wm) / 100, np.asarray(wa)
    pair, lo, hi, single = _runs(w0, wm, int(wa[0]), len(wa), blocks)
    singles = [single]
    todo = np.arange(len(pair))
    while len(todo):  # move ambiguous ends off their runs until every run's ends are clear
        at_lo = _counts(w0[pair[todo]], wa[lo[todo]] / 100, wm[pair[todo]], blocks)[0] < blocks
        at_hi = _counts(w0[pair[todo]], wa[hi[todo]] / 100, wm[pair[todo]], blocks)[0] < blocks
        singles += [(pair[todo][at_lo], lo[todo][at_lo]), (pair[todo][at_hi], hi[todo][at_hi])]
        lo[todo] += at_lo
        hi[todo] -= at_hi
        todo = todo[(at_lo | at_hi) & (lo[todo] <= hi[todo])]
    keep = lo <= hi
    one_pair, one_at = _unique_points(np.concatenate([p for p, _ in singles]),
                                      np.concatenate([a for _, a in singles]), len(wa))
    pair, lo, hi = (np.concatenate(x) for x in ((pair[keep], one_pair), (lo[keep], one_at), (hi[keep], one_at)))
    _, below = _counts(w0[pair], wa[lo] / 100, wm[pair], blocks)
    dlo = np.maximum(depths[0], below[:, 2] + 1)
    dhi = np.minimum(depths[1], below[:, 3])
    distinct = np.all(np.diff(G.stage_widths(w0, wm), axis=1) > 0, axis=1)[pair]  # always so where wm >= 2
    ok = (below[:, 0] < below[:, 1]) & (below[:, 1] < below[:, 2]) & (dlo <= dhi) & distinct
    order = np.lexsort((lo[ok], pair[ok]))
    return Classes(*(x[ok][order] for x in (pair, lo, hi, below[:, :3], dlo, dhi)))


def _unique_points(pair: np.ndarray, at: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (pair, grid index) points."""
    flat = np.unique(pair * size + at)
    return flat // size, flat % size


def coefficients(w0: np.ndarray, wm: np.ndarray, combos: np.ndarray, res: int, outputs: int) -> Coefficients:
    """Linear-in-depth FLOP and parameter coefficients of every (pair, combo); `combos` rows are (g, b, se)."""
    n_pairs, n_combos = len(w0), len(combos)
    widths = np.repeat(G.stage_widths(np.asarray(w0), np.asarray(wm, dtype=np.float64) / 100), n_combos, axis=0)
    g, b, se = (np.tile(combos[:, j], n_pairs) for j in range(3))
    out, groups, bots = G.adjust(widths, g, b)

    def count(extra: int | None) -> tuple[np.ndarray, np.ndarray]:
        depths = [np.ones(len(g), dtype=np.int64) + (k == extra) for k in range(G.NUM_STAGES)]
        cx = C.regnet(Cx(res, res), depths, list(out.T), list(groups.T), list(bots.T), se, outputs)
        return (np.broadcast_to(cx.flops, (len(g),)).astype(np.int64),
                np.broadcast_to(cx.params, (len(g),)).astype(np.int64))

    base_f, base_p = count(None)
    rest = [count(k) for k in range(G.NUM_STAGES)]
    rest_f = np.stack([f - base_f for f, _ in rest], axis=1)
    rest_p = np.stack([p - base_p for _, p in rest], axis=1)
    shape = (n_pairs, n_combos)
    return Coefficients(base_f.reshape(shape), rest_f.reshape(shape + (4,)), base_p.reshape(shape),
                        rest_p.reshape(shape + (4,)))


def first_flops(classes: Classes, coef: Coefficients, combo: int) -> tuple[np.ndarray, np.ndarray]:
    """FLOPs of each class at d = T3 + 1 (stage 4 of one block) with `combo`, and the cost of each more block."""
    rest = coef.rest_flops[classes.pair, combo]
    t1, t2, t3 = classes.below.T
    flops = coef.base_flops[classes.pair, combo] + (t1 - 1) * rest[:, 0] + (t2 - t1 - 1) * rest[:, 1] \
        + (t3 - t2 - 1) * rest[:, 2]
    return flops, rest[:, 3]


def depths_in_window(classes: Classes, coef: Coefficients, combo: int, low: int, high: int):
    """Per class, the depths d in [dlo, dhi] whose FLOPs lie in [low, high] with `combo` (empty: lo > hi)."""
    flops, step = first_flops(classes, coef, combo)
    start = classes.below[:, 2] + 1
    lo = np.maximum(classes.dlo, start - ((flops - low) // step))  # ceil((low - flops) / step)
    hi = np.minimum(classes.dhi, start + (high - flops) // step)
    return lo, hi


def flop_extremes(classes: Classes, coef: Coefficients) -> tuple[int, int]:
    """The fewest and the most FLOPs of any member (FLOPs grow with d)."""
    low, high = None, None
    for combo in range(coef.base_flops.shape[1]):
        flops, step = first_flops(classes, coef, combo)
        start = classes.below[:, 2] + 1
        at_lo, at_hi = flops + (classes.dlo - start) * step, flops + (classes.dhi - start) * step
        low = int(at_lo.min()) if low is None else min(low, int(at_lo.min()))
        high = int(at_hi.max()) if high is None else max(high, int(at_hi.max()))
    return low, high
