"""The Optuna study of stage 1: storage, samplers, resume reconciliation and the trials table.

Every sampler works on the same unit-cube parameters of the space's feasible parameterisation, which resolve
to an architecture inside the FLOP window, so TPE and NSGA-II never propose an infeasible network. The uniform
sampler draws architectures uniformly from the window (RegNet-style rejection, the paper's sampler) and tells
Optuna the cube coordinates of each, so all three leave the same kind of study behind. Only the driver
process opens the study: trials report to Ray Tune, never to the database.
"""
from __future__ import annotations

import errno
import math
import os
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Iterator

import optuna
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from kit.errors import ToolkitError
from nas.schema import TRIALS, Schema, Status
from search_spaces import Parameterisation, SearchSpace, iter_samples

INTERRUPTED = "interrupted: the driver stopped before the trial finished"
RERUN = "out of memory on a shared GPU: run again on a whole GPU"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
STATUS = {TrialState.COMPLETE: Status.COMPLETE, TrialState.PRUNED: Status.PRUNED, TrialState.FAIL: Status.FAILED,
          TrialState.RUNNING: Status.RUNNING, TrialState.WAITING: Status.PENDING}


class StorageError(ToolkitError):
    """An Optuna storage URL that is malformed or whose database cannot be reached."""


def cube(param: Parameterisation) -> dict[str, BaseDistribution]:
    """The parameters every sampler proposes."""
    return {name: FloatDistribution(0.0, 1.0) for name in param.params}


class UniformSampler(optuna.samplers.BaseSampler):
    """Uniform draws from the window (RegNet-style rejection), told as cube coordinates (`--sampler regnet`).

    Skips architectures the study already holds, so a resumed search continues the same seeded sequence and
    an interrupted trial's architecture is drawn again.
    """

    def __init__(self, param: Parameterisation, seed: int = 0) -> None:
        self._param, self._seed = param, seed
        self._stream: Iterator | None = None
        self._fallback = optuna.samplers.RandomSampler(seed=seed)

    def __getstate__(self) -> dict[str, Any]:
        # the stream restarts from the seed after unpickling and skips what the study holds
        return {**self.__dict__, "_stream": None}

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return cube(self._param)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        taken = {t.user_attrs.get("arch") for t in study.get_trials(deepcopy=False)
                 if t.number != trial.number and not is_interrupted(t)}
        if self._stream is None:
            self._stream = iter_samples(self._param.space, self._param.window, self._seed)
        for sample in self._stream:
            if str(sample.arch) not in taken:
                return self._param.encode(sample.arch)
        return {}  # unreachable: the stream raises EmptyWindowError when it runs dry

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)


def make_sampler(name: str, param: Parameterisation, seed: int, trials: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler behind `--sampler regnet|tpe|nsga2`."""
    if name == "regnet":
        return UniformSampler(param, seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True,
                                          n_startup_trials=max(3, min(10, trials // 4)))
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(4, min(50, trials // 3)))
    raise ValueError(f"unknown sampler {name!r}")


SQLITE_FULL = 13  # sqlite3's result code of "database or disk is full"


def storage_path(url: str) -> str:
    """The database file of an SQLite storage URL; any other URL as it is."""
    prefix = "sqlite:///"
    return url[len(prefix):] if url.startswith(prefix) and len(url) > len(prefix) else url


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps: SQLAlchemy's `.orig`, Optuna's and Ray's causes and contexts."""
    todo, seen = [exc], set()
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen or not isinstance(e, BaseException):
            continue
        seen.add(id(e))
        yield e
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]


def disk_full(exc: BaseException, url: str) -> OSError | None:
    """OSError(ENOSPC) naming the study's file where `exc` is, or wraps, SQLite's "database or disk is full"."""
    for e in _chain(exc):
        if getattr(e, "sqlite_errorcode", None) == SQLITE_FULL or "database or disk is full" in str(e).lower():
            return OSError(errno.ENOSPC, "No space left on device", storage_path(url))
    return None


@contextmanager
def storage_guard(url: str) -> Iterator[None]:
    """A full disk under the study (raw or wrapped by SQLAlchemy, Optuna or Ray Tune) leaves the block as an
    OSError(ENOSPC) naming the study's file, which the command's edge reports in one line."""
    try:
        yield
    except Exception as exc:
        full = disk_full(exc, url)
        if full is None:
            raise
        raise full from None


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna RDB storage, with a clear error where the URL is wrong or the server unreachable."""
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True}
                                          if not url.startswith("sqlite") else None)
    except Exception as exc:  # SQLAlchemy raises many types (ArgumentError, OperationalError, ...)
        full = disk_full(exc, url)
        if full is not None:
            raise full from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot open the Optuna storage {url!r}: {first}") from None


def load_study(url: str, name: str, sampler: optuna.samplers.BaseSampler | None = None,
               mode: str = "min") -> optuna.Study:
    """Create or load the search's study (minimising or maximising the proxy score, as the proxy ranks)."""
    return optuna.create_study(storage=open_storage(url), study_name=name, sampler=sampler,
                               direction="minimize" if mode == "min" else "maximize", load_if_exists=True)


def is_interrupted(trial: FrozenTrial) -> bool:
    """A trial whose driver died while it ran (reconciled to FAIL on resume); it is run again."""
    return trial.user_attrs.get("failure") == INTERRUPTED


def is_superseded(trial: FrozenTrial) -> bool:
    """A trial that does not count: interrupted, or out of memory on a shared GPU (both are run again)."""
    return is_interrupted(trial) or bool(trial.user_attrs.get("rerun"))


def enqueue_reruns(study: optuna.Study) -> int:
    """Queue again, with the same parameters, every out-of-memory trial not queued yet; returns how many."""
    queued = {t.user_attrs.get("rerun_of") for t in study.get_trials(deepcopy=False) if not is_interrupted(t)}
    count = 0
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("rerun") and t.number not in queued:
            study.enqueue_trial(t.params, user_attrs={"rerun_of": t.number})
            count += 1
    return count


def reconcile(study: optuna.Study) -> int:
    """Mark trials left RUNNING by a killed driver as failed-interrupted; returns how many."""
    count = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):  # WAITING: queued, still to run
        optuna.Trial(study, t._trial_id).set_user_attr("failure", INTERRUPTED)
        study.tell(t.number, state=TrialState.FAIL)
        count += 1
    return count


def finished_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Trials that ran to an end (complete, pruned or failed), not counting interrupted ones."""
    return [t for t in study.get_trials(deepcopy=False, states=FINISHED) if not is_superseded(t)]


def trial_row(t: FrozenTrial, schema: Schema) -> dict[str, Any]:
    """One row of trials.csv: the trial's number, status and proxy score, the rest from its user attributes."""
    a = t.user_attrs
    row = {k: a.get(k) for k in schema.columns(TRIALS)}
    return {**row, "number": t.number, "status": STATUS[t.state].value,
            "proxy_score": t.value if t.state == TrialState.COMPLETE else a.get("proxy_score")}


def trial_rows(study: optuna.Study, schema: Schema) -> list[dict[str, Any]]:
    """trials.csv: every finished trial in the order it was proposed."""
    return [trial_row(t, schema) for t in sorted(finished_trials(study), key=lambda t: t.number)]


def describe(arch: Any, space: SearchSpace) -> dict[str, Any]:
    """User attributes stored with a proposed trial: the architecture, its size, and the space's columns."""
    size = space.complexity(arch)
    return {"arch": str(arch), **space.columns(arch), "gflops": size.flops / 1e9, "params_m": size.params / 1e6}


# SQLite's answer to a read-only reader that finds a hot journal: a killed writer's unfinished transaction
SQLITE_READONLY_ROLLBACK = 776


def _hot_journal(exc: Exception, db: Path) -> bool:
    """Whether a read-only connection's error is SQLite refusing to roll back a killed writer's journal."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+; 3.10 gives only the message
    if code is not None:
        return code == SQLITE_READONLY_ROLLBACK
    return "readonly" in str(exc) and db.with_name(db.name + "-journal").exists()


def connect_read_only(db: "str | Path") -> "sqlite3.Connection":
    """An SQLite connection to `db` that writes nothing, except that a transaction left unfinished by a killed
    writer (a hot journal, e.g. after SIGKILL mid-commit) is first rolled back, as any writable reader would.
    As SQLite itself, this relies on file locks that work (not NFS mounted without locking)."""
    import sqlite3
    db = Path(db).resolve()
    con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # SQLite checks the journal on the first read
        return con
    except sqlite3.Error as exc:
        con.close()
        if not _hot_journal(exc, db):
            raise
    if not os.access(db, os.W_OK) or not os.access(db.parent, os.W_OK):
        raise sqlite3.OperationalError(f"{db.name}-journal holds a killed process's unfinished write, which needs "
                                       "write access to roll back: copy the run somewhere writable")
    # a journal is hot only while no live writer holds a lock, and this connection checks that again under its own
    with closing(sqlite3.connect(f"{db.as_uri()}?mode=rw", uri=True)) as rw:
        rw.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    return sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)


def read_only_storage(db: "str | Path") -> optuna.storages.RDBStorage:
    """An SQLite study file opened read-only: no tables, version or row is written to it (a killed writer's
    unfinished transaction aside, see `connect_read_only`)."""
    return optuna.storages.RDBStorage("sqlite://", engine_kwargs={"creator": lambda: connect_read_only(db)},
                                      skip_compatibility_check=True, skip_table_creation=True)


def check_trials_table(path: "str | Path", rows: list[dict[str, str]], db: "str | Path", name: str) -> None:
    """RunFileError naming `path` (trials.csv) and the row where its rows disagree with study `name` in the
    SQLite file `db`: a row whose trial the study does not hold, a trial listed twice, a status or a complete
    trial's proxy score the study does not record. The study may hold more finished trials than the table (the
    table is exported after each trial, and `--resume` rebuilds it), never fewer or others."""
    from nas.runs import RunFileError
    where = f"the study {name!r} in {db}"
    try:
        trials = {t.number: t for t in optuna.load_study(study_name=name, storage=read_only_storage(db))
                  .get_trials(deepcopy=False)}
    except KeyError:
        trials = {}
    except Exception as exc:  # SQLAlchemy and Optuna raise many types for a file that is not a study
        if not rows:
            return
        while exc.__cause__ is not None:  # Optuna's wrapper says "an exception is raised during the commit"
            exc = exc.__cause__
        raise RunFileError(f"{path}: {len(rows)} rows, but {where} cannot be read "
                           f"({' '.join(str(exc).split())[:240]})") from None
    seen: dict[int, int] = {}
    for line, row in enumerate(rows, start=2):
        try:
            number = int(str(row.get("number", "")).strip())
        except ValueError:
            raise RunFileError(f"{path}: line {line}: trial number {row.get('number')!r} is not a whole number") \
                from None
        if number in seen:
            raise RunFileError(f"{path}: line {line}: trial {number} is listed twice (line {seen[number]} too)")
        seen[number] = line
        trial = trials.get(number)
        if trial is None:
            raise RunFileError(f"{path}: line {line}: trial {number} is not in {where} ({len(rows)} rows in the "
                               f"table, {len(trials)} trials in the study): the table and the study disagree")
        status, recorded = Status.parse(row.get("status")), STATUS.get(trial.state)
        if status is not None and status != Status.INTERRUPTED and status != recorded:
            raise RunFileError(f"{path}: line {line}: trial {number} is {status.value} in the table but "
                               f"{recorded.value if recorded else trial.state.name.lower()} in {where}")
        if status == Status.COMPLETE and trial.value is not None and not _same_number(row.get("proxy_score"),
                                                                                    trial.value):
            raise RunFileError(f"{path}: line {line}: trial {number} has proxy_score {row.get('proxy_score')!r} "
                               f"in the table but {trial.value!r} in {where}")


def _same_number(text: Any, value: float) -> bool:
    try:
        return math.isclose(float(text), value, rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return False
