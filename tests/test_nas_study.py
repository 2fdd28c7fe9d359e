"""The study kept by the searcher: states, reasons, feasibility, and continuing after a resume."""
import math
import sqlite3
import subprocess
import sys
from contextlib import closing

import optuna
import pytest
from ray import cloudpickle
from optuna.trial import TrialState

from _spaces import SPACE, analytic_flops, resolve_arch
from nas.schema import run_schema
from nas.searcher import StudySearch
import nas.study as study_module
from nas.runs import RunFileError
from nas.settings import SAMPLERS
from nas.study import (INTERRUPTED, StorageError, check_trials_table, finished_trials, load_study, make_sampler,
                       open_storage, read_only_storage, reconcile, trial_rows)
from search_spaces import FlopWindow

optuna.logging.set_verbosity(optuna.logging.WARNING)
PARAM = SPACE.parameterisation(FlopWindow.below("5G"))
SCHEMA = run_schema("faces", "resnet_d")


def searcher(url, sampler="regnet", epochs=3, seed=0):
    return StudySearch(PARAM, make_sampler(sampler, PARAM, seed, 20), open_storage(url), "s", epochs, seed, SCHEMA)


def url(tmp_path):
    return f"sqlite:///{tmp_path / 'study.db'}"


def test_states_and_reasons(tmp_path):
    s = searcher(url(tmp_path))
    configs = {tid: s.suggest(tid) for tid in ("a", "b", "c", "d", "e")}
    for tid in configs:
        s.on_trial_result(tid, {"proxy": 10.0, "epoch": 1, "training_iteration": 1})
    s.on_trial_complete("a", {"proxy": 7.5, "epoch": 3, "score": 7.5, "wall_s": 2.0, "gpu": "h:0"})
    s.on_trial_complete("b", {"proxy": 9.0, "epoch": 1})  # stopped by ASHA after one epoch
    s.on_trial_complete("c", {"failed": 1, "failure": "OutOfMemoryError: CUDA out of memory", "proxy": math.inf,
                              "epoch": 1})
    s.on_trial_complete("d", None, error=True)  # the worker died: told once the callback has the message
    assert s.study.trials[3].state == TrialState.RUNNING
    s.fail("d", "ray: worker died")
    rows = {r["arch"]: r for r in trial_rows(load_study(url(tmp_path), "s"), SCHEMA)}
    states = [t.state for t in load_study(url(tmp_path), "s").trials]
    assert states[:4] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.FAIL]
    assert states[4] == TrialState.RUNNING
    by_number = {r["number"]: r for r in rows.values()}
    assert by_number[0]["proxy_score"] == 7.5 and by_number[0]["gpu"] == "h:0"
    assert by_number[1]["status"] == "pruned" and by_number[1]["proxy_score"] == 9.0
    assert by_number[2]["failure"].startswith("OutOfMemoryError")
    assert by_number[3]["failure"] == "ray: worker died"
    for t in load_study(url(tmp_path), "s").trials:
        assert t.user_attrs["arch"] == configs["abcde"[t.number]]["arch"]
        assert t.params and set(t.params) == {f"u_d{i}" for i in range(1, 5)} | {f"u_w{i}" for i in range(1, 5)}


@pytest.mark.parametrize("sampler", ["regnet", "tpe", "nsga2"])
def test_every_proposal_is_feasible(tmp_path, sampler):
    s = searcher(url(tmp_path), sampler)
    for i in range(14):
        arch = resolve_arch(s.suggest(f"t{i}")["arch"])
        assert analytic_flops(arch) in PARAM.window
        s.on_trial_complete(f"t{i}", {"proxy": float(sum(arch.depths)), "epoch": 3})
    assert len(finished_trials(load_study(url(tmp_path), "s"))) == 14


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_the_searcher_pickles_for_tune_without_its_study(tmp_path, sampler):
    # Tuner() pickles its search algorithm; Optuna 5's NSGA-II sampler holds a thread lock, so the study stays out
    s = searcher(url(tmp_path), sampler)
    s.suggest("t0")
    state = cloudpickle.loads(cloudpickle.dumps(s)).__dict__
    assert state["_ot_study"] is None and state["_sampler"] is None and state["_ot_trials"] == {}
    assert s.study.trials and s._sampler is not None  # the live searcher keeps them


def test_regnet_resume_continues_the_sequence(tmp_path):
    (tmp_path / "a").mkdir()
    fresh = searcher(url(tmp_path / "a"))
    whole = [fresh.suggest(f"t{i}")["arch"] for i in range(6)]
    first = searcher(url(tmp_path))
    for i in range(3):
        first.suggest(f"t{i}")
        first.on_trial_complete(f"t{i}", {"proxy": 1.0, "epoch": 3})
    first.suggest("t3")  # running when the driver is killed
    study = load_study(url(tmp_path), "s")
    assert reconcile(study) == 1
    assert study.trials[3].state == TrialState.FAIL and study.trials[3].user_attrs["failure"] == INTERRUPTED
    assert len(finished_trials(study)) == 3
    resumed = searcher(url(tmp_path))  # a new driver: same seed, same storage
    again = [resumed.suggest(f"u{i}")["arch"] for i in range(3)]
    assert again == whole[3:]  # the interrupted architecture first, nothing repeated


def test_tpe_resume_learns_from_the_stored_trials(tmp_path):
    first = searcher(url(tmp_path), "tpe")
    for i in range(8):
        first.suggest(f"t{i}")
        first.on_trial_complete(f"t{i}", {"proxy": float(i), "epoch": 3})
    resumed = searcher(url(tmp_path), "tpe")
    assert len(resumed.study.trials) == 8  # the sampler sees them all
    resumed.suggest("n0")
    assert len(load_study(url(tmp_path), "s").trials) == 9


@pytest.mark.parametrize("bad", ["notaurl", "postgresql://nobody@127.0.0.1:1/none", "sqlite:////no/such/dir/x.db"])
def test_unreachable_storage_is_a_clear_error(bad):
    with pytest.raises(StorageError, match="cannot open the Optuna storage"):
        open_storage(bad)


# a writer killed half-way through a commit that spilled pages into the file: SQLite calls its journal hot
_KILLED_WRITER = """
import os, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA cache_size=2")
con.execute("BEGIN IMMEDIATE")
con.executemany("INSERT INTO study_user_attributes (study_id, key, value_json) VALUES (1, ?, ?)",
                [(f"k{i}", "x" * 4000) for i in range(300)])
os._exit(0)
"""


def _killed_mid_commit(tmp_path):
    """A study of three trials whose file a killed writer left with a hot journal, and its content before that."""
    s = searcher(url(tmp_path))
    for tid in ("a", "b", "c"):
        s.suggest(tid)
        s.on_trial_complete(tid, {"proxy": 7.5, "epoch": 3, "score": 7.5, "wall_s": 2.0, "gpu": "h:0"})
    db = tmp_path / "study.db"
    with closing(sqlite3.connect(db)) as con:
        before = list(con.iterdump())
    subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(db)], check=True)
    with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as con:  # what a plain read-only reader meets
        with pytest.raises(sqlite3.OperationalError) as err:
            con.execute("SELECT COUNT(*) FROM trials")
    assert err.value.sqlite_errorcode == 776  # SQLITE_READONLY_ROLLBACK
    return db, before


def test_a_killed_writers_unfinished_commit_is_rolled_back_on_read(tmp_path):
    db, before = _killed_mid_commit(tmp_path)
    study = optuna.load_study(study_name="s", storage=read_only_storage(db))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert not (tmp_path / "study.db-journal").exists()
    with closing(sqlite3.connect(db)) as con:  # exactly the file as it was before the killed writer began
        assert list(con.iterdump()) == before


def test_an_unfinished_commit_without_write_access_is_one_line_naming_the_journal(tmp_path, monkeypatch):
    db, _ = _killed_mid_commit(tmp_path)
    monkeypatch.setattr(study_module.os, "access", lambda *a, **k: False)  # as a read-only folder, even for root
    with pytest.raises(RunFileError) as err:
        check_trials_table(tmp_path / "trials.csv", [{"number": "0"}], db, "s")
    assert len(str(err.value).splitlines()) == 1 and "study.db-journal" in str(err.value)
    assert "copy the run somewhere writable" in str(err.value)
    assert (tmp_path / "study.db-journal").exists()  # nothing was rolled back


def test_python_3_10s_errors_without_a_code_are_told_by_message_and_journal(tmp_path):
    db = tmp_path / "study.db"
    error = sqlite3.OperationalError("attempt to write a readonly database")  # no sqlite_errorcode before 3.11
    assert not study_module._hot_journal(error, db)
    (tmp_path / "study.db-journal").write_bytes(b"x")
    assert study_module._hot_journal(error, db)
    assert not study_module._hot_journal(sqlite3.OperationalError("disk I/O error"), db)
