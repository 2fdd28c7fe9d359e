"""Cases found by issue 16's probe rerun (`benchmarks/probe_cli.py`), kept: each bad input is one line on stderr
and exit code 2, and the files that were there before are untouched."""
import re

import pytest

from test_bad_input import code_of, one_line_exit_2, snapshot

ARCH = "d1.1.1.1_w8.16.16.16"
TRAIN = ["--arch", ARCH, "--epochs", "1", "--batch", "16", "--lr", "16", "--res", "32", "--device", "cpu",
         "--warmup-steps", "5"]


@pytest.mark.parametrize("argv,words", [
    (["sample", "--budget", "5G", "-n", "0"], ["-n", "1 to 10,000", "got 0"]),
    (["sample", "--budget", "5G", "-n", "1000000000"], ["-n", "1 to 10,000", "got 1000000000"]),
])
def test_nas_space_sample_counts(capsys, argv, words):
    from nas.space_cli import main
    one_line_exit_2(capsys, code_of(main, argv), *words)


@pytest.mark.parametrize("extra,words", [
    (["--arch", "d1.1.1.1_w8.8.8.100000"], ["100000", "too large to build"]),
    (["--res", "7"], ["res", "16 to 4096"]), (["--res", "100000"], ["res", "16 to 4096"]),
    (["--batch", "100000000"], ["batch", "65536"]), (["--warmup-steps", "-1"], ["warmup_steps"]),
    (["--pnp-workers", "0"], ["pnp_workers"]), (["--momentum", "-0.5"], ["momentum"]),
    (["--weight-decay", "-1"], ["weight_decay"]), (["--resume"], ["--resume", "no last.pt"]),
])
def test_nas_train_bounds(cache_dir, tmp_path, capsys, extra, words):
    from trainers.cli import train_main
    before = snapshot(cache_dir)
    code = code_of(train_main, ["--data", str(cache_dir), *TRAIN, "--out", str(tmp_path / "run"), *extra])
    one_line_exit_2(capsys, code, *words)
    assert snapshot(cache_dir) == before and not (tmp_path / "run").exists()


def test_nas_data_cache_res_bound(tiny_root, tmp_path, capsys):
    from facedata.cli import main
    code = code_of(main, ["cache", "--data", str(tiny_root), "--out", str(tmp_path / "c"), "--res", "100000"])
    one_line_exit_2(capsys, code, "--res", "4096")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("argv,words", [
    (["--proxy-res", "100000"], ["--proxy-res", "16 to 4096"]), (["--batch", "100000"], ["--batch", "65536"]),
    (["--task", "os:system"], ["os:system", "not a task"]),
])
def test_nas_search_settings_found_by_the_probe(tmp_path, capsys, argv, words):
    from nas.cli import main
    code = code_of(main, ["--budget", "5G", "--preset", "smoke", "--out", str(tmp_path), "--name", "s", *argv])
    one_line_exit_2(capsys, code, *words)
    assert not (tmp_path / "s").exists()


def test_nas_search_on_a_cache_with_an_empty_array(cache_dir, tmp_path, capsys):
    from nas.cli import main
    (cache_dir / "verts.npy").write_bytes(b"")
    before = snapshot(cache_dir)
    code = code_of(main, ["--budget", "5G", "--preset", "smoke", "--data", str(cache_dir), "--out", str(tmp_path / "o")])
    one_line_exit_2(capsys, code, "verts.npy", "cannot read")
    assert snapshot(cache_dir) == before and not (tmp_path / "o" / "search").exists()


def test_nas_train_on_a_manifest_whose_res_is_text(cache_dir, tmp_path, capsys):
    from trainers.cli import train_main
    manifest = cache_dir / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"res": 32', '"res": "x"'))
    code = code_of(train_main, ["--data", str(cache_dir), *TRAIN, "--out", str(tmp_path / "run")])
    one_line_exit_2(capsys, code, "manifest.json", "whole numbers")


def test_a_bad_value_from_a_preset_file_names_the_file(tmp_path, capsys):
    from nas.cli import main
    preset = tmp_path / "p.yaml"
    preset.write_text("proxy_epochs: -3\n")
    code = code_of(main, ["--budget", "5G", "--preset", str(preset), "--out", str(tmp_path), "--name", "s"])
    one_line_exit_2(capsys, code, "--proxy-epochs", str(preset))


@pytest.mark.parametrize("name,damage,words", [
    ("trials.csv", lambda t: re.sub(r"(?<=,complete,)[0-9.]+", "abc", t, count=1), ["line 2", "not a number"]),
    ("trials.csv", lambda t: "", ["empty"]),
    ("summary.json", lambda t: '{"stage1": 5, "stage2": []}', ["stage1", "not a stage status"]),
])
def test_nas_report_on_tables_damaged_in_their_values(tmp_path, capsys, name, damage, words):
    import shutil

    from _report_helpers import EXAMPLE_RUN
    from reports.cli import main
    run = shutil.copytree(EXAMPLE_RUN, tmp_path / "run")
    path = run / name
    text = path.read_text()
    path.write_text(damage(text))
    before = snapshot(run)
    one_line_exit_2(capsys, code_of(main, [str(run)]), str(path), *words)
    assert snapshot(run) == before


def test_nas_ablate_from_a_run_that_is_not_a_search(tmp_path, capsys):
    import shutil
    from pathlib import Path

    from nas.ablate_cli import main
    run = shutil.copytree(Path(__file__).resolve().parents[1] / "docs" / "example_ablation" / "run", tmp_path / "abl")
    code = main(["--data", str(tmp_path), "--from-run", str(run), "--out", str(tmp_path), "--name", "a"])
    one_line_exit_2(capsys, code, "a run of nas-ablate, not of nas-search")
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("name,damage,words", [
    ("jobs.csv", lambda t: t[:-30], ["cut short"]),
    ("jobs.csv", lambda t: re.sub(r"(?<=,complete,)[0-9.]+", "abc", t, count=1), ["score", "not a number"]),
    ("models.csv", lambda t: "a,b\n1\n", ["fewer cells"]),
])
def test_nas_fidelity_resume_on_damaged_tables(tiny_cache, tmp_path, capsys, name, damage, words):
    import shutil
    from pathlib import Path

    from nas.fidelity_cli import main
    run = shutil.copytree(Path(__file__).resolve().parents[1] / "docs" / "results" / "fidelity" / "study",
                          tmp_path / "fidelity", ignore=shutil.ignore_patterns("report"))
    config = run / "config.yaml"
    text = re.sub(r"^data: .*$", f"data: {tiny_cache}", config.read_text(), flags=re.M)
    text = re.sub(r"^out: .*$", f"out: {tmp_path}", re.sub(r"^name: .*$", "name: fidelity", text, flags=re.M), flags=re.M)
    config.write_text(text)
    (run / name).write_text(damage((run / name).read_text()))
    before = snapshot(run)
    code = main(["--out", str(tmp_path), "--name", "fidelity", "--resume"])
    one_line_exit_2(capsys, code, str(run / name), *words)
    assert snapshot(run) == before  # summary.json untouched, no Ray started


# ---------------------------------------------------------------- a full disk under the study (stage 1's study.db)
def _full_sqlite(path):
    """An SQLite connection that can grow no further, as on a full disk: writes fail "database or disk is full"."""
    import sqlite3
    con = sqlite3.connect(str(path))
    con.execute("PRAGMA max_page_count = 2")
    return con


def test_a_full_disk_under_the_study_is_one_line_naming_it(tmp_path, capsys):
    """SQLite's "database or disk is full", raised through SQLAlchemy and Optuna, is one line naming study.db."""
    import optuna

    from kit.cli import run_main
    from nas.study import storage_guard
    db = tmp_path / "run" / "study.db"
    db.parent.mkdir()

    def body():
        with storage_guard(f"sqlite:///{db}"):
            storage = optuna.storages.RDBStorage("sqlite://", engine_kwargs={"creator": lambda: _full_sqlite(db)})
            optuna.create_study(storage=storage, study_name="s")
    one_line_exit_2(capsys, run_main("nas-search", body), str(db), "no space left")


@pytest.mark.parametrize("wrap", [lambda e: e, lambda e: RuntimeError("Tune failed")])
def test_disk_full_is_found_behind_wrappers(tmp_path, wrap):
    import errno
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from nas.study import disk_full
    raw = sqlite3.OperationalError("database or disk is full")
    try:
        try:
            raise OperationalError("INSERT INTO trials", {}, raw) from raw
        except OperationalError as exc:
            raise wrap(exc) from exc
    except Exception as exc:
        found = disk_full(exc, f"sqlite:///{tmp_path}/study.db")
    assert found.errno == errno.ENOSPC and found.filename == f"{tmp_path}/study.db"
    assert disk_full(sqlite3.OperationalError("no such table: trials"), "sqlite:///x.db") is None


def test_nas_search_resume_names_a_damaged_summary_before_checking_the_tables(tiny_cache, tmp_path, capsys):
    # the example run has trials.csv but no study.db: summary.json, read first, is what the line names
    import shutil

    from _report_helpers import EXAMPLE_RUN
    from nas.cli import main
    run = shutil.copytree(EXAMPLE_RUN, tmp_path / "search")
    config = run / "config.yaml"
    text = re.sub(r"^name: .*$", "name: search", config.read_text(), flags=re.M)
    text = re.sub(r"^data: .*$", f"data: {tiny_cache}", text, flags=re.M)
    config.write_text(re.sub(r"^out: .*$", f"out: {tmp_path}", text, flags=re.M))
    summary = run / "summary.json"
    summary.write_text(summary.read_text()[:30])
    before = snapshot(run)
    code = code_of(main, ["--out", str(tmp_path), "--name", "search", "--resume"])
    one_line_exit_2(capsys, code, str(summary), "not valid JSON")
    after = snapshot(run)
    assert {k: after.get(k) for k in before} == before  # nothing changed (the run's lock file may stay)
