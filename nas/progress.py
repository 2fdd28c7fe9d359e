"""Search progress a person can read: one live line per stage (trials done of total, running, pruned, failed,
the best so far with its architecture, elapsed time and an estimate of what is left) in place of Ray Tune's
per-trial tables, which `--verbose` brings back. In a log (not a terminal) the same line is printed as each
trial ends."""
from __future__ import annotations

import math
import sys
import time
from typing import Any

from ray import tune


class StageProgress(tune.Callback):
    """A Ray Tune callback that shows one line of progress for a stage of `total` trials."""

    def __init__(self, stage: str, total: int, mode: str = "min", metric: str = "proxy",
                 max_epochs: int | None = None) -> None:
        self.stage, self.total, self.mode, self.metric = stage, max(total, 1), mode, metric
        self.max_epochs = max_epochs  # stage 1: a trial that reported fewer epochs was stopped early (ASHA)
        self.start = time.time()
        self.done = self.pruned = self.failed = self.running = 0
        self.best: tuple[float, str] | None = None
        self._console = None

    def line(self) -> str:
        """The progress line as it stands."""
        elapsed = time.time() - self.start
        left = elapsed / self.done * (self.total - self.done) if self.done else math.nan
        best = f"; best {self.best[0]:.4g} ({self.best[1]})" if self.best else ""
        eta = f", about {left / 60:.0f} min left" if math.isfinite(left) else ""
        return (f"{self.stage}: {self.done}/{self.total} done, {self.running} running, {self.pruned} stopped early, "
                f"{self.failed} failed{best}; {elapsed / 60:.1f} min{eta}")

    def _show(self, final: bool = False) -> None:
        if sys.stderr.isatty():
            end = "\n" if final else "\r"
            print("\x1b[2K" + self.line(), end=end, file=sys.stderr, flush=True)
        elif final or self.done:
            print(self.line(), file=sys.stderr, flush=True)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running += 1
        if sys.stderr.isatty():
            self._show()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._count_running(trials, trial)
        self._end(trial.last_result or {}, trial.config, failed=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._count_running(trials, trial)
        self._end({}, trial.config, failed=True)

    def _count_running(self, trials: list, ending: Any) -> None:
        """Running trials as Tune lists them (a reused actor's trial does not always pass through on_trial_start)."""
        self.running = 1 + sum(1 for t in trials if t is not ending and getattr(t, "status", None) == "RUNNING")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._show(final=True)

    def _end(self, result: dict, config: dict, failed: bool) -> None:
        self.running = max(0, self.running - 1)
        self.done += 1
        if failed or result.get("failed"):
            self.failed += 1
        elif self.max_epochs and not result.get("done_training") and int(result.get("epoch", 0)) < self.max_epochs:
            self.pruned += 1
        value = result.get(self.metric) if self.metric else None
        if isinstance(value, (int, float)) and math.isfinite(value) and not result.get("failed"):
            arch = config.get("job", config).get("arch", "?")
            if self.best is None or (value < self.best[0] if self.mode == "min" else value > self.best[0]):
                self.best = (float(value), str(arch))
        self._show()
