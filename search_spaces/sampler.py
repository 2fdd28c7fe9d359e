"""The RegNet-style search space and its budgeted sampler.

Each stage i draws a depth d_i uniformly from 1..max_depth and a width w_i from the multiples of
`width_step` up to `max_width`, with widths non-decreasing across stages. Architectures whose FLOPs
fall outside the window are rejected, so accepted samples are uniform over the constrained set, as
in RegNet's "Designing Network Design Spaces". Candidates are drawn and counted in numpy batches
with the analytic FLOP count, which is what makes ~99% rejection affordable.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from search_spaces.arch import BLOCKS, NUM_STAGES, Arch
from search_spaces.budget import FlopWindow, format_flops
from search_spaces.errors import EmptyWindowError, SearchSpaceError
from search_spaces.flops import DEFAULT_RES, analytic_batch, analytic_complexity
from search_spaces.model import JMLR_OUTPUTS

BATCH = 65_536
"""Candidates drawn per numpy batch. Fixed, so that a seed gives the same sequence for any n."""


@dataclass(frozen=True)
class SearchSpace:
    """Stage-wise depths and widths of a ResNet-'d', counted at one input size and head width."""

    max_depth: int = 24
    max_width: int = 512
    width_step: int = 8
    block: str = "basic"
    res: int = DEFAULT_RES
    outputs: int = JMLR_OUTPUTS

    def __post_init__(self) -> None:
        if self.block not in BLOCKS:
            raise SearchSpaceError(f"unknown block {self.block!r}; expected one of {', '.join(BLOCKS)}")
        if min(self.max_depth, self.width_step, self.res, self.outputs) < 1 \
                or self.max_width < self.width_step:
            raise SearchSpaceError(f"search space bounds must be positive: {self}")

    @property
    def n_widths(self) -> int:
        """How many width values one stage can take."""
        return self.max_width // self.width_step

    def contains(self, arch: Arch) -> bool:
        """Whether `arch` is a member of this space (ignoring any FLOP window)."""
        return (arch.block == self.block
                and all(1 <= d <= self.max_depth for d in arch.depths)
                and all(w % self.width_step == 0 and self.width_step <= w <= self.max_width
                        for w in arch.widths)
                and all(a <= b for a, b in zip(arch.widths, arch.widths[1:])))

    def flops(self, arch: Arch) -> int:
        """Exact (fvcore-equal) FLOPs of `arch` at this space's resolution and head."""
        return int(analytic_complexity(arch, self.res, self.outputs).flops)

    def params(self, arch: Arch) -> int:
        """Trainable parameters of `arch` with this space's head."""
        return int(analytic_complexity(arch, self.res, self.outputs).params)

    def smallest(self) -> Arch:
        """The cheapest member: FLOPs grow with every depth and (from the minimum) every width."""
        return Arch((1,) * NUM_STAGES, (self.width_step,) * NUM_STAGES, self.block)

    def largest(self) -> Arch:
        """The most expensive member."""
        top = self.n_widths * self.width_step
        return Arch((self.max_depth,) * NUM_STAGES, (top,) * NUM_STAGES, self.block)

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """`n` candidates from the prior, as (n, 4) depth and width arrays.

        Widths are uniform over non-decreasing sequences: a non-decreasing sequence of k values
        from m levels is a k-subset of m + k - 1 slots (stars and bars), and a sorted uniform
        random subset is uniform over subsets. Subsets are drawn by sorting k integers and
        rejecting repeats, so the output can hold fewer than `n` rows.
        """
        k, m = NUM_STAGES, self.n_widths
        depths = rng.integers(1, self.max_depth + 1, size=(n, k))
        slots = np.sort(rng.integers(0, m + k - 1, size=(n, k)), axis=1)
        distinct = np.all(np.diff(slots, axis=1) > 0, axis=1)
        levels = slots[distinct] - np.arange(k)  # non-decreasing, in 0..m-1
        return depths[distinct], (levels + 1) * self.width_step


@dataclass(frozen=True)
class Sample:
    """An accepted architecture with its exact FLOPs and parameter count."""

    arch: Arch
    flops: int
    params: int

    def to_json(self) -> dict:
        """One JSON line of `nas-space sample --json`."""
        return {"arch": str(self.arch), "depths": list(self.arch.depths),
                "widths": list(self.arch.widths), "gflops": self.flops / 1e9,
                "params_m": self.params / 1e6}


def check_window(space: SearchSpace, window: FlopWindow) -> None:
    """Fail at once where the window lies wholly outside the FLOP range of the space."""
    lo, hi = space.flops(space.smallest()), space.flops(space.largest())
    if window.high < lo or window.low > hi:
        raise EmptyWindowError(
            f"no architecture of the space lies in the window {window}: the space spans "
            f"{format_flops(lo)} to {format_flops(hi)} FLOPs at {space.res}x{space.res} "
            f"with {space.outputs} outputs")


def iter_samples(space: SearchSpace, window: FlopWindow, seed: int = 0,
                 max_draws: int = 20_000_000) -> Iterator[Sample]:
    """Distinct architectures uniform over the space inside `window`, reproducible from `seed`.

    Raises `EmptyWindowError` at once for a window outside the space's range, and after
    `max_draws` candidates in a row without a new architecture (a window too narrow to hit,
    or one that holds no more distinct members).
    """
    check_window(space, window)
    rng = np.random.default_rng(seed)
    seen: set[tuple] = set()
    draws_since_new = 0
    while True:
        depths, widths = space.draw(rng, BATCH)
        flops, params = analytic_batch(depths, widths, space.block, space.res, space.outputs)
        hits = np.flatnonzero((flops >= window.low) & (flops <= window.high))
        found_new = False
        for i in hits:
            key = (tuple(depths[i]), tuple(widths[i]))
            if key in seen:
                continue
            seen.add(key)
            found_new = True
            yield Sample(Arch(key[0], key[1], space.block), int(flops[i]), int(params[i]))
        draws_since_new = 0 if found_new else draws_since_new + BATCH
        if draws_since_new >= max_draws:
            what = "no architecture" if not seen else f"no new architecture after {len(seen)}"
            raise EmptyWindowError(
                f"{what} found in {max_draws:,} draws inside the window {window}: "
                "widen it (a larger tolerance) or ask for fewer samples")


def sample_archs(space: SearchSpace, window: FlopWindow, n: int, seed: int = 0,
                 max_draws: int = 20_000_000) -> list[Sample]:
    """The first `n` samples of `iter_samples` (a prefix of the same sequence for any n)."""
    if n < 0:
        raise SearchSpaceError(f"number of samples must be non-negative, got {n}")
    out: list[Sample] = []
    if n == 0:
        return out
    for sample in iter_samples(space, window, seed, max_draws):
        out.append(sample)
        if len(out) == n:
            break
    return out


def acceptance_rate(space: SearchSpace, window: FlopWindow, seed: int = 0,
                    draws: int = 1_000_000) -> float:
    """Fraction of prior draws (monotone widths included) that land in the window."""
    rng = np.random.default_rng(seed)
    hits = total = 0
    while total < draws:
        depths, widths = space.draw(rng, BATCH)
        flops, _ = analytic_batch(depths, widths, space.block, space.res, space.outputs)
        hits += int(np.count_nonzero((flops >= window.low) & (flops <= window.high)))
        total += BATCH
    return hits / total

