"""Learning-rate schedule of JMLR: linear warm-up, then polynomial decay (power 2) to zero."""
from __future__ import annotations

from dataclasses import dataclass

REFERENCE_BATCH = 512
"""The paper's lr 0.1 is for a batch of 64 x 8 = 512; other batches scale it linearly."""


def scaled_lr(base_lr: float, batch: int) -> float:
    """The linear scaling rule: `base_lr * batch / 512`."""
    return base_lr * batch / REFERENCE_BATCH


def warmup_for(total_steps: int, warmup_steps: int = 1000, max_fraction: float = 0.1) -> int:
    """Warm-up length: `warmup_steps`, but at most `max_fraction` of a short run (and at least 1 step)."""
    return max(1, min(warmup_steps, int(max_fraction * total_steps)))


@dataclass(frozen=True)
class PolySchedule:
    """lr at step s (0-based): `peak*(s+1)/warmup` while warming up, then `peak*(1 - t)^power`.

    `t` runs from 0 at the end of warm-up to 1 at `total` steps, so the last update is small but
    non-zero and the first one is `peak/warmup`, not zero.
    """

    peak: float
    total: int
    warmup: int
    power: float = 2.0

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return self.peak * (step + 1) / self.warmup
        span = max(1, self.total - self.warmup)
        frac = min(1.0, (step - self.warmup) / span)
        return self.peak * (1.0 - frac) ** self.power


def jmlr_schedule(base_lr: float, batch: int, total_steps: int, warmup_steps: int = 1000) -> PolySchedule:
    """The paper's schedule for a run of `total_steps` at `batch`."""
    return PolySchedule(scaled_lr(base_lr, batch), total_steps, warmup_for(total_steps, warmup_steps))
