"""The ResNet-'d' space of the JMLR paper (section 3.3), registered as `resnet_d` (BasicBlock) and
`resnet_d_bottleneck`.

Each stage i draws a depth d_i uniformly from 1..max_depth and a width w_i from the multiples of
`width_step` up to `max_width`, with widths non-decreasing across stages; draws outside the FLOP window are
rejected (RegNet-style), so accepted samples are uniform over the constrained set.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from search_spaces.base import Candidates, Complexity, SearchSpace
from search_spaces.budget import FlopWindow
from search_spaces.counters import Cx
from search_spaces.errors import SearchSpaceError
from search_spaces.registry import register_space
from search_spaces.resnet_d import complexity as C
from search_spaces.resnet_d.arch import BLOCKS, NUM_STAGES, Arch, parse_arch
from search_spaces.resnet_d.baselines import BASELINES


@register_space("resnet_d_bottleneck", block="bottleneck")
@register_space("resnet_d")
@dataclass(frozen=True)
class ResNetD(SearchSpace):
    """Stage-wise depths and widths of a timm ResNet-'d', counted at `res` x `res` with an `outputs`-wide head."""

    arch_help: ClassVar[str] = "the text form d5.3.4.2_w64.160.272.512 (append _bottleneck for Bottleneck blocks)"
    column_names: ClassVar[tuple[str, ...]] = ("depths", "widths")
    max_depth: int = 24
    max_width: int = 512
    width_step: int = 8
    block: str = "basic"
    res: int = 256
    outputs: int = 1000

    def __post_init__(self) -> None:
        if self.block not in BLOCKS:
            raise SearchSpaceError(f"unknown block {self.block!r}; expected one of {', '.join(BLOCKS)}")
        if min(self.max_depth, self.width_step, self.res, self.outputs) < 1 or self.max_width < self.width_step:
            raise SearchSpaceError(f"search space bounds must be positive: {self}")

    @property
    def name(self) -> str:  # type: ignore[override]
        """The registered name of this variant."""
        return "resnet_d" if self.block == "basic" else "resnet_d_bottleneck"

    @property
    def n_widths(self) -> int:
        """How many width values one stage can take."""
        return self.max_width // self.width_step

    # ---- values ----------------------------------------------------------------------------------------
    @property
    def baselines(self) -> dict[str, Arch]:
        return BASELINES

    def parse_text(self, text: str) -> Arch:
        return parse_arch(text)

    def contains_type(self, value: Any) -> bool:
        return isinstance(value, Arch)

    def contains(self, arch: Arch) -> bool:
        return (arch.block == self.block
                and all(1 <= d <= self.max_depth for d in arch.depths)
                and all(w % self.width_step == 0 and self.width_step <= w <= self.max_width for w in arch.widths)
                and all(a <= b for a, b in zip(arch.widths, arch.widths[1:])))

    def to_json(self, arch: Arch) -> dict[str, Any]:
        return arch.to_json()

    def columns(self, arch: Arch) -> dict[str, Any]:
        return {"depths": ".".join(map(str, arch.depths)), "widths": ".".join(map(str, arch.widths))}

    def design(self, arch: Arch) -> dict[str, float]:
        return {**{f"d{i + 1}": d for i, d in enumerate(arch.depths)},
                **{f"w{i + 1}": w for i, w in enumerate(arch.widths)}}

    def default_baselines(self, window: FlopWindow, k: int = 3) -> list[str]:
        """The paper's Table 1 networks: ResNet-18d, -34d and -50d."""
        return ["resnet18d", "resnet34d", "resnet50d"][:k]

    # ---- building and counting ---------------------------------------------------------------------------
    def build(self, arch: Arch, num_outputs: int, **kwargs: Any) -> Any:
        from search_spaces.resnet_d.model import build_model
        return build_model(arch, num_outputs, **kwargs)

    def complexity(self, arch: Arch, res: int | None = None, outputs: int | None = None) -> Complexity:
        res = self.res if res is None else res
        cx = C.resnet(Cx(res, res), arch.block, arch.depths, arch.widths, self.outputs if outputs is None else outputs)
        return Complexity(int(cx.flops), int(cx.params))

    def batch_complexity(self, depths: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """FLOPs and params of many architectures at once: `depths`, `widths` are (n, stages) ints."""
        depths = np.asarray(depths, dtype=np.int64)
        widths = np.asarray(widths, dtype=np.int64)
        cx = C.resnet(Cx(self.res, self.res), self.block, list(depths.T), list(widths.T), self.outputs)
        n = len(depths)
        return np.broadcast_to(cx.flops, (n,)).copy(), np.broadcast_to(cx.params, (n,)).copy()

    def smallest(self) -> Arch:
        """The cheapest member: FLOPs grow with every depth and (from the minimum) every width."""
        return Arch((1,) * NUM_STAGES, (self.width_step,) * NUM_STAGES, self.block)

    def largest(self) -> Arch:
        """The most expensive member."""
        top = self.n_widths * self.width_step
        return Arch((self.max_depth,) * NUM_STAGES, (top,) * NUM_STAGES, self.block)

    def flop_range(self) -> tuple[int, int]:
        return self.flops(self.smallest()), self.flops(self.largest())

    # ---- sampling ----------------------------------------------------------------------------------------
    def draw_prior(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """`n` candidates from the prior, as (n, 4) depth and width arrays.

        Widths are uniform over non-decreasing sequences: a non-decreasing sequence of k values from m
        levels is a k-subset of m + k - 1 slots (stars and bars), and a sorted uniform random subset is
        uniform over subsets. Subsets are drawn by sorting k integers and rejecting repeats, so the output
        can hold fewer than `n` rows.
        """
        k, m = NUM_STAGES, self.n_widths
        depths = rng.integers(1, self.max_depth + 1, size=(n, k))
        slots = np.sort(rng.integers(0, m + k - 1, size=(n, k)), axis=1)
        distinct = np.all(np.diff(slots, axis=1) > 0, axis=1)
        levels = slots[distinct] - np.arange(k)  # non-decreasing, in 0..m-1
        return depths[distinct], (levels + 1) * self.width_step

    def draw(self, rng: np.random.Generator, n: int) -> Candidates:
        depths, widths = self.draw_prior(rng, n)
        flops, params = self.batch_complexity(depths, widths)
        return Candidates(np.concatenate([depths, widths], axis=1), flops, params)

    def from_key(self, key: tuple[int, ...]) -> Arch:
        return Arch(key[:NUM_STAGES], key[NUM_STAGES:], self.block)

    def parameterisation(self, window: FlopWindow) -> Any:
        return _parameterisation(self, window)


@lru_cache(maxsize=4)
def _parameterisation(space: ResNetD, window: FlopWindow) -> Any:
    from search_spaces.resnet_d.feasible import FeasibleParameterisation
    return FeasibleParameterisation(space, window)
