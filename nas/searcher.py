"""Ray Tune's `OptunaSearch`, made to keep an honest study, and the callback that exports it.

Differences from the stock searcher, each for a pitfall users of Ray Tune and Optuna report:
- a trial stopped early by ASHA is told PRUNED (the stock searcher tells it COMPLETE with its last,
  partial score), a trial that failed is told FAIL with its reason as a user attribute;
- a trial that errored in Ray is told FAIL only once the callback has its error message, so the
  reason is kept too;
- the proposed architecture, its FLOPs and parameters are stored with each trial;
- the study, its sampler and storage are never pickled into Tune's experiment state: resume reloads the
  study from its storage, so the sampler continues from everything it learnt.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import optuna
from optuna.trial import TrialState
from ray import tune
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from nas.deadline import Deadline
from nas.schema import Schema
from nas.study import RERUN, describe
from search_spaces import Parameterisation


class StudySearch(OptunaSearch):
    """OptunaSearch over the feasible cube, recording architectures, outcomes and reasons."""

    def __init__(self, param: Parameterisation, sampler: optuna.samplers.BaseSampler,
                 storage: optuna.storages.BaseStorage, study_name: str, max_epochs: int, seed: int,
                 schema: Schema, mode: str = "min", share: float = 1.0, deadline: Deadline | None = None) -> None:
        self._param = param
        self._deadline = deadline or Deadline()
        self.held = False  # whether the deadline stopped proposals
        self._share = share  # the GPU share of a trial: an out-of-memory trial on a shared GPU is run again
        param.resolve({})  # builds the space's tables now, not inside the first suggestion
        self._max_epochs = max_epochs
        self._attrs = schema.reported()
        self._pending_errors: set[str] = set()
        super().__init__(space=self._define, metric="proxy", mode=mode, sampler=sampler,
                         study_name=study_name, storage=storage, seed=seed)

    def _define(self, trial: optuna.Trial) -> dict[str, Any]:
        for name in self._param.params:
            trial.suggest_float(name, 0.0, 1.0)
        arch = self._param.resolve(trial.params)
        for key, value in describe(arch, self._param.space).items():
            trial.set_user_attr(key, value)
        return {"arch": str(arch)}

    def suggest(self, trial_id: str) -> dict | str | None:
        if not self._deadline.allows("stage1"):  # a trial started now would not end before the time limit
            self.held = True
            return Searcher.FINISHED
        return super().suggest(trial_id)

    @property
    def study(self) -> optuna.Study:
        """The live study (loaded from its storage)."""
        return self._ot_study

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if not result.get("failed") and math.isfinite(result.get("proxy", math.nan)):
            super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials:
            return
        if error:
            self._pending_errors.add(trial_id)  # told by `fail` once the callback has the message
            return
        ot_trial = self._ot_trials[trial_id]
        result = result or {}
        if not result.get("failed"):
            self._deadline.learn("stage1", result.get("wall_s"))
        for key in self._attrs:
            if result.get(key) is not None:
                ot_trial.set_user_attr(key, result[key])
        if result.get("epoch") is not None:
            ot_trial.set_user_attr("epochs", result["epoch"])
        if result.get("failed") and result.get("oom") and self._share < 1:
            ot_trial.set_user_attr("rerun", True)  # not the architecture's fault: it runs again on a whole GPU
            self._tell(trial_id, TrialState.FAIL, None, f"{RERUN} ({result.get('failure')})")
        elif result.get("failed"):
            self._tell(trial_id, TrialState.FAIL, None, result.get("failure") or "failed")
        elif not result:
            self._tell(trial_id, TrialState.FAIL, None, "the trial ended without reporting a result")
        elif not result.get("done_training") and int(result.get("epoch", 0)) < self._max_epochs:
            ot_trial.set_user_attr("proxy_score", result.get("proxy"))
            self._tell(trial_id, TrialState.PRUNED, None, None)
        else:
            self._tell(trial_id, TrialState.COMPLETE, float(result["proxy"]), None)

    def fail(self, trial_id: str, reason: str) -> None:
        """Tell a trial that errored in Ray as FAIL, with the error message as its reason."""
        if trial_id in self._pending_errors and trial_id not in self._completed_trials:
            self._pending_errors.discard(trial_id)
            self._tell(trial_id, TrialState.FAIL, None, reason)

    def _tell(self, trial_id: str, state: TrialState, value: float | None, reason: str | None) -> None:
        ot_trial = self._ot_trials[trial_id]
        if reason:
            ot_trial.set_user_attr("failure", reason)
        self._ot_study.tell(ot_trial, value, state=state)
        self._completed_trials.add(trial_id)

    # Resume goes through the study's storage, not through a pickle of this object.
    def save(self, checkpoint_path: str) -> None:
        pass

    def __getstate__(self) -> dict[str, Any]:
        # Tuner() pickles its search algorithm into the run folder for Tuner.restore, which this toolkit never
        # uses. The live study, sampler and storage stay out: Optuna 5's GA samplers (nsga2) hold a thread lock.
        return {**self.__dict__, "_ot_study": None, "_sampler": None, "_storage": None, "_ot_trials": {}}

    def restore(self, checkpoint_path: str) -> None:
        pass


def error_reason(trial: Any) -> str:
    """The first line of a Ray trial's error, or a generic reason."""
    message = getattr(trial, "error_message", None) or ""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return f"ray: {lines[-1][:300]}" if lines else "ray: the trial's worker raised or died"


class StudyRecorder(tune.Callback):
    """After each stage-1 trial ends, writes its failure reason (if any) and re-exports trials.csv."""

    def __init__(self, searcher: StudySearch, export: Callable[[optuna.Study], None]) -> None:
        self._searcher, self._export = searcher, export

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._export(self._searcher.study)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._searcher.fail(trial.trial_id, error_reason(trial))
        self._export(self._searcher.study)
