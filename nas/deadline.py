"""`--time-limit MINUTES`: a driver that must stop by a given time starts no training that would not end before
it, lets the running ones finish, and pauses; `--resume` continues where it stopped.

Made for machines lent in slices (a device call of ten minutes, a preemptible node, a batch scheduler's wall
time), where a training killed half-way is lost work. A training's expected duration is the median wall time of
the slowest finished training of the same kind (this run's tables keep them across pauses), else the probe's measurement
(`nas.packing`) scaled by the trainings sharing the GPU, else unknown; one of unknown duration starts only while
the limit is still more than `UNKNOWN_SHARE` away, and not where what is known of it (its images at its measured
speed, a `floor`) already would not end in time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from ray.tune.search import Searcher

class Paused(Exception):
    """The driver stopped at its time limit with work left; the message says what is left."""


@dataclass(frozen=True)
class Held:
    """The jobs a driver left unstarted for its time limit (false when none), and why: what the nearest to fitting
    of them needed against what was left."""

    count: int = 0
    why: str = ""

    def __bool__(self) -> bool:
        return self.count > 0

    def of(self, total: int, what: str) -> str:
        """'N of TOTAL WHAT left at the time limit; why'."""
        return f"{self.count} of {total} {what} left at the time limit" + (f"; {self.why}" if self.why else "")


PAUSED_EXIT = 75  # sysexits' EX_TEMPFAIL: stopped at its time limit, to be resumed
MARGIN = 1.15  # trainings sharing a GPU vary in speed; start one only with this much time to spare
SLACK_S = 10.0  # a trial's start-up and its report, outside the wall time it measures itself
UNKNOWN_SHARE = 0.5  # a training of unknown duration starts only within the first half of the limit


@dataclass
class Deadline:
    """The time by which a driver stops (None: no limit), and what it has learnt of trainings' durations."""

    at: float | None = None
    started: float = field(default_factory=time.time)
    walls: dict[str, list[float]] = field(default_factory=dict)
    guesses: dict[str, float] = field(default_factory=dict)
    floors: dict[str, float] = field(default_factory=dict)
    fixed_s: float = 0.0  # a training's time besides its epochs (start-up, loading, the test): a resumed one pays it

    @classmethod
    def after(cls, minutes: float | None) -> "Deadline":
        """A deadline `minutes` from now (None: none)."""
        now = time.time()
        return cls(None if minutes is None else now + 60.0 * minutes, now)

    def learn(self, kind: str, wall_s: Any) -> None:
        """Record a finished training's wall time."""
        try:
            value = float(wall_s)
        except (TypeError, ValueError):
            return
        if value > 0:
            self.walls.setdefault(kind, []).append(value)

    def learn_rows(self, rows: Iterable[Mapping[str, Any]], kind: Callable[[Mapping[str, Any]], str]) -> None:
        """Record the wall times a run's table holds (trainings finished before a pause)."""
        for r in rows:
            self.learn(kind(r), r.get("wall_s"))

    def guess(self, kind: str, seconds: float) -> None:
        """A duration estimated before any training of `kind` finished (e.g. from the packing probe)."""
        self.guesses[kind] = seconds

    def floor(self, kind: str, seconds: float) -> None:
        """The least a training of `kind` can take (e.g. its images at its measured speed), where nothing tells
        how long it will take: it keeps one that cannot end in time from starting in the first half of the limit."""
        self.floors[kind] = seconds

    def expected(self, kind: str) -> float | None:
        """How long a training of `kind` is expected to take, or None when nothing tells."""
        if self.walls.get(kind):  # the slowest so far: a training cut off at the limit is lost work
            return max(self.walls[kind])
        return self.guesses.get(kind)

    def remaining(self, kind: str, left: float = 1.0) -> float | None:
        """How long a training of `kind` with the share `left` of its epochs still to run (resumed from a
        checkpoint) is expected to take: its fixed cost in full, its epochs in proportion; None when nothing tells."""
        expected = self.expected(kind)
        if expected is None or left >= 1.0:
            return expected
        fixed = min(self.fixed_s, expected)
        return fixed + max(left, 0.0) * (expected - fixed)

    def allows(self, kind: str, left: float = 1.0) -> bool:
        """Whether a training of `kind` started now, with the share `left` of its epochs still to run, should end
        before the deadline."""
        if self.at is None:
            return True
        now, expected = time.time(), self.remaining(kind, left)
        if expected is None:
            if self._floor_too_long(kind, left, now):
                return False
            return now < self.started + UNKNOWN_SHARE * (self.at - self.started)
        return now + MARGIN * expected + SLACK_S <= self.at

    def _floor(self, kind: str, left: float) -> float | None:
        """The least the share `left` of a training of `kind` takes, where only that is known."""
        floor = self.floors.get(kind)
        return None if floor is None else floor * min(max(left, 0.0), 1.0)

    def _floor_too_long(self, kind: str, left: float, now: float) -> bool:
        floor = self._floor(kind, left)
        return floor is not None and self.at is not None and now + MARGIN * floor + SLACK_S > self.at

    def describe(self) -> str:
        """What the limit means, for the log at a driver's start ('' without one)."""
        if self.at is None:
            return ""
        return (f"time limit {(self.at - self.started) / 60:.2f} min: a training starts only if {MARGIN:g} x its "
                f"expected seconds + {SLACK_S:.0f} s fit before {time.strftime('%H:%M:%S', time.localtime(self.at))}")

    def shortfall(self, kind: str, left: float = 1.0, name: str | None = None) -> str:
        """Why a training of `kind` (called `name`) may not start now: what it needs against what is left."""
        name, now = name or kind, time.time()
        spare = f"{max(self.at - now, 0.0):.0f} s were left" if self.at is not None else "no limit"
        expected = self.remaining(kind, left)
        if expected is not None:
            return (f"{name} needs {MARGIN * expected + SLACK_S:.0f} s = {MARGIN:g} x {expected:.0f} s expected + "
                    f"{SLACK_S:.0f} s, {spare}")
        if self._floor_too_long(kind, left, now):
            return f"{name} takes at least {self._floor(kind, left):.0f} s, {spare}"
        return f"{name} has no expected duration and the first {UNKNOWN_SHARE:.0%} of the limit had passed"


def probe_guess(measure: Mapping[str, Any], epochs: int, validations: int, per_gpu: int) -> float | None:
    """A training's wall time from the packing probe's measurement, stretched by the trainings sharing its GPU."""
    try:
        alone = float(measure["setup_s"]) + epochs * float(measure["epoch_s"]) + validations * float(measure["val_s"])
    except (KeyError, TypeError, ValueError):
        return None
    return alone * max(per_gpu, 1)


class JobQueue(Searcher):
    """Ray Tune searcher that hands out a fixed list of jobs in order (stage 2, `nas-fidelity`), passing over one
    that would not end before the deadline for the next that would (a short training fills the time a long one
    cannot use); when none would, Tune lets the running trials finish and stops. `left(job)` is the share of its
    epochs a job has still to run (one resumed from a checkpoint: less than 1)."""

    def __init__(self, jobs: list[dict[str, Any]], deadline: Deadline, kind: Callable[[Mapping[str, Any]], str],
                 left: Callable[[Mapping[str, Any]], float] = lambda job: 1.0) -> None:
        super().__init__()
        self._jobs, self._deadline, self._kind, self._left = list(jobs), deadline, kind, left
        self._running: dict[str, dict[str, Any]] = {}
        self.held = 0  # jobs left unstarted because of the deadline
        self.why = ""  # then: what the nearest to fitting of them needed against what was left

    def first_fit(self) -> int | None:
        """The index of the first job that would end before the deadline; None (and `held`, `why` set) if none."""
        fits = next((i for i, job in enumerate(self._jobs)
                     if self._deadline.allows(self._kind(job), self._left(job))), None)
        if fits is None and self._jobs:
            self.held = len(self._jobs)
            nearest = min(self._jobs, key=self._need)
            self.why = self._deadline.shortfall(self._kind(nearest), self._left(nearest),
                                                nearest.get("dir") or nearest.get("label"))
        return fits

    def _need(self, job: Mapping[str, Any]) -> tuple[bool, float]:
        """Sort key: jobs of known duration, shortest first, then those of unknown duration."""
        expected = self._deadline.remaining(self._kind(job), self._left(job))
        return expected is None, expected or 0.0

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        fits = self.first_fit()
        if fits is None:
            return Searcher.FINISHED
        job = self._jobs.pop(fits)
        self._running[trial_id] = job
        return {"job": job}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        job = self._running.pop(trial_id, None)
        if job is not None and result and not error and not result.get("failed"):
            # a resumed training's wall_s counts its checkpoint's time too: a whole training's, as learnt
            self._deadline.learn(self._kind(job), result.get("wall_s"))

    # Resume rebuilds the queue from the run's tables, not from a pickle of this object.
    def save(self, checkpoint_path: str) -> None:
        pass

    def restore(self, checkpoint_path: str) -> None:
        pass
