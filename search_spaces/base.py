"""The search-space protocol: what every registered family of backbones provides, and the generic budgeted
sampler built on it.

A space holds the input size and head width its FLOPs are counted at (`res`, `outputs`; the task decides
them, e.g. 256 and the face head's 6,100). Architectures are values of the space's own type whose `str` is the
canonical text form; generic code passes that text around and asks the space to parse it.

Sampling follows RegNet's "Designing Network Design Spaces" (and pycls's sweeps): draw candidates from the
space's prior in numpy batches, count them with the exact analytic complexity, keep those inside the FLOP
window; accepted samples are uniform over the constrained set.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Mapping, NamedTuple, Protocol

import numpy as np

from search_spaces.budget import FlopWindow, format_flops
from search_spaces.errors import ArchError, EmptyWindowError, SearchSpaceError

MAX_BUILD_PARAMS = 2_000_000_000  # parameters of the largest network built (fvcore's count, a training): 8 GB

BATCH = 65_536
"""Candidates drawn per numpy batch. Fixed, so that a seed gives the same sequence for any n."""


class Complexity(NamedTuple):
    """FLOPs (as fvcore counts them: one multiply-add is one FLOP) and trainable parameters."""

    flops: int
    params: int


@dataclass(frozen=True)
class Candidates:
    """A batch of prior draws: one integer key row per candidate (the architecture, exactly), its FLOPs and
    parameters (arrays of the same length)."""

    keys: np.ndarray
    flops: np.ndarray
    params: np.ndarray


@dataclass(frozen=True)
class Sample:
    """An accepted architecture with its exact FLOPs and parameter count."""

    arch: Any
    flops: int
    params: int


class Parameterisation(Protocol):
    """A fixed unit cube that TPE / NSGA-II search, every point of which is an architecture inside the window."""

    params: tuple[str, ...]
    space: "SearchSpace"
    window: FlopWindow

    def resolve(self, point: Mapping[str, float]) -> Any:
        """The architecture of a point (missing coordinates default to 0.5)."""

    def encode(self, arch: Any) -> dict[str, float]:
        """A point that `resolve` maps back to `arch` (which must lie in the window)."""


class SearchSpace(ABC):
    """A family of backbones with an exact analytic FLOP count, a prior to sample and a feasible cube.

    Concrete spaces are frozen dataclasses with at least the fields `res` and `outputs`, registered with
    `search_spaces.register_space`.
    """

    name: ClassVar[str]
    arch_help: ClassVar[str]  # how to write an architecture, for --help and error messages
    column_names: ClassVar[tuple[str, ...]]  # the keys of `columns(arch)`
    res: int
    outputs: int

    # ---- values --------------------------------------------------------------------------------------
    @property
    @abstractmethod
    def baselines(self) -> dict[str, Any]:
        """Named architectures of the space (e.g. timm's), by name."""

    @abstractmethod
    def parse_text(self, text: str) -> Any:
        """Parse the canonical text form (not a baseline name); ArchError if it is not one."""

    def parse(self, spec: Any) -> Any:
        """A baseline name, the canonical text form, or an architecture value of this space."""
        if not isinstance(spec, str):
            if self.contains_type(spec):
                return spec
            raise ArchError(f"{spec!r} is not an architecture of the {self.name} space")
        name = spec.strip()
        if name.lower() in self.baselines:
            return self.baselines[name.lower()]
        try:
            arch = self.parse_text(name)
        except ArchError as exc:
            names = ", ".join(self.baselines)
            raise ArchError(f"unknown {self.name} architecture {spec!r}: give a baseline ({names}) or "
                            f"{self.arch_help} ({exc})") from None
        return arch

    def check_buildable(self, arch: Any, text: str) -> None:
        """ArchError where building `arch` would allocate more than MAX_BUILD_PARAMS weights (a typo'd width)."""
        params = self.complexity(arch).params
        if params > MAX_BUILD_PARAMS:
            raise ArchError(f"{text}: {params / 1e9:.1f} G parameters is too large to build (at most "
                            f"{MAX_BUILD_PARAMS / 1e9:.0f} G, {MAX_BUILD_PARAMS * 4 / 1e9:.0f} GB of weights)")

    def format(self, arch: Any) -> str:
        """The canonical text form."""
        return str(arch)

    @abstractmethod
    def contains_type(self, value: Any) -> bool:
        """Whether `value` is an architecture value of this space's type."""

    def label(self, arch: Any) -> str:
        """Display name: the baseline name where there is one, else the canonical text form."""
        for name, base in self.baselines.items():
            if base == arch:
                return name
        return self.format(arch)

    @abstractmethod
    def contains(self, arch: Any) -> bool:
        """Whether `arch` is a member of this space's prior (ignoring any FLOP window)."""

    @abstractmethod
    def to_json(self, arch: Any) -> dict[str, Any]:
        """JSON fields of an architecture, the same keys in every space: `depths` and `widths` of its stages and
        its `block` type."""

    @abstractmethod
    def columns(self, arch: Any) -> dict[str, Any]:
        """Columns this space adds to a trial row (short text, e.g. `depths`, `widths`)."""

    @abstractmethod
    def design(self, arch: Any) -> dict[str, float]:
        """Numeric design variables of an architecture, for design-trend figures (e.g. d1..d4, w1..w4)."""

    # ---- building and counting ---------------------------------------------------------------------------
    @abstractmethod
    def build(self, arch: Any, num_outputs: int, **kwargs: Any) -> Any:
        """The timm network of `arch` with a linear head of `num_outputs` after global average pooling."""

    @abstractmethod
    def complexity(self, arch: Any, res: int | None = None, outputs: int | None = None) -> Complexity:
        """Exact FLOPs (as fvcore counts them) and parameters, without building the network."""

    def flops(self, arch: Any) -> int:
        """Exact FLOPs at this space's resolution and head."""
        return self.complexity(arch).flops

    def params(self, arch: Any) -> int:
        """Trainable parameters with this space's head."""
        return self.complexity(arch).params

    @abstractmethod
    def flop_range(self) -> tuple[int, int]:
        """The fewest and the most FLOPs of any member of the prior."""

    # ---- sampling ----------------------------------------------------------------------------------------
    @abstractmethod
    def draw(self, rng: np.random.Generator, n: int) -> Candidates:
        """Up to `n` candidates from the prior, counted (repeats of a key are allowed)."""

    @abstractmethod
    def from_key(self, key: tuple[int, ...]) -> Any:
        """The architecture of one candidate key row."""

    @abstractmethod
    def parameterisation(self, window: FlopWindow) -> Parameterisation:
        """The feasible cube of this space inside `window` (what TPE and NSGA-II search)."""

    def default_baselines(self, window: FlopWindow, k: int = 3) -> list[str]:
        """The `k` baselines nearest to the window's budget (by FLOPs)."""
        ranked = sorted(self.baselines, key=lambda b: abs(self.flops(self.baselines[b]) - window.high))
        return sorted(ranked[:k], key=lambda b: self.flops(self.baselines[b]))


def pick(values: np.ndarray, u: float) -> int:
    """The value at quantile `u` of sorted `values` (a coordinate of a feasible cube choosing among them)."""
    return int(values[min(int(u * len(values)), len(values) - 1)])


def cell_centre(values: np.ndarray, value: int) -> float:
    """The centre of `value`'s cell in `pick`'s quantile map (what `encode` gives, so that `pick` returns it)."""
    index = int(np.searchsorted(values, value))
    if index >= len(values) or values[index] != value:
        raise SearchSpaceError(f"value {value} is not admissible here")
    return (index + 0.5) / len(values)


def check_window(space: SearchSpace, window: FlopWindow) -> None:
    """Fail at once where the window lies wholly outside the FLOP range of the space."""
    lo, hi = space.flop_range()
    if window.high < lo or window.low > hi:
        raise EmptyWindowError(
            f"no architecture of the {space.name} space lies in the window {window}: the space spans "
            f"{format_flops(lo)} to {format_flops(hi)} FLOPs at {space.res}x{space.res} "
            f"with {space.outputs} outputs")


def iter_samples(space: SearchSpace, window: FlopWindow, seed: int = 0,
                 max_draws: int = 20_000_000) -> Iterator[Sample]:
    """Distinct architectures uniform over the space inside `window`, reproducible from `seed`.

    Raises `EmptyWindowError` at once for a window outside the space's range, and after `max_draws`
    candidates in a row without a new architecture (a window too narrow to hit, or one that holds no more
    distinct members).
    """
    check_window(space, window)
    rng = np.random.default_rng(seed)
    seen: set[tuple] = set()
    draws_since_new = 0
    while True:
        batch = space.draw(rng, BATCH)
        hits = np.flatnonzero((batch.flops >= window.low) & (batch.flops <= window.high))
        found_new = False
        for i in hits:
            key = tuple(int(x) for x in batch.keys[i])
            if key in seen:
                continue
            seen.add(key)
            found_new = True
            yield Sample(space.from_key(key), int(batch.flops[i]), int(batch.params[i]))
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


def acceptance_rate(space: SearchSpace, window: FlopWindow, seed: int = 0, draws: int = 1_000_000) -> float:
    """Fraction of prior draws that land in the window."""
    rng = np.random.default_rng(seed)
    hits = total = 0
    while total < draws:
        batch = space.draw(rng, BATCH)
        hits += int(np.count_nonzero((batch.flops >= window.low) & (batch.flops <= window.high)))
        total += BATCH  # rejected repeats count as draws, as before
    return hits / total
