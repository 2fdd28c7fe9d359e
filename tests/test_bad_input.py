"""Issue 16's probe, kept: bad input of every kind is one line on stderr and exit code 2, and the files that were
there before are untouched (no Ray is started for any of these)."""
import json
import shutil
from pathlib import Path

import pytest

from _report_helpers import EXAMPLE_RUN


def code_of(main, argv) -> int:
    """A command's exit code, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code)


def snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} if folder.exists() else {}


def one_line_exit_2(capsys, code: int, *words: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert all(w in err[0] for w in words), err[0]
    return err[0]


@pytest.fixture
def run_copy(tmp_path) -> Path:
    return Path(shutil.copytree(EXAMPLE_RUN, tmp_path / "run"))


def nas_search(argv):
    from nas.cli import main
    return code_of(main, argv)


@pytest.mark.parametrize("argv,words", [
    (["--seed", "-1"], ["--seed", ">= 0"]),
    (["--val-max", "0"], ["--val-max"]),
    (["--cpus-per-trial", "-1"], ["--cpus-per-trial"]),
    (["--trials", "x"], ["--trials", "whole number"]),
    (["--gpus-per-trial", "lots"], ["--gpus-per-trial"]),
])
def test_nas_search_settings(tmp_path, capsys, argv, words):
    code = nas_search(["--budget", "5G", "--preset", "smoke", "--out", str(tmp_path), "--name", "s", *argv])
    one_line_exit_2(capsys, code, *words)
    assert not (tmp_path / "s").exists()  # nothing written, so re-running the same command is not refused


@pytest.mark.parametrize("text,words", [("42\n", ["mapping"]), ("- a: 1\n- b: 2\n", ["mapping"]),
                                        ("!!python/object/apply:os.system ['true']\n", ["not valid YAML"]),
                                        ("trials: [1\n", ["not valid YAML"]), ("trials: many\n", ["trials", "int"])])
def test_nas_search_preset_files(tmp_path, capsys, text, words):
    preset = tmp_path / "p.yaml"
    preset.write_text(text)
    code = nas_search(["--budget", "5G", "--preset", str(preset), "--out", str(tmp_path), "--name", "s"])
    one_line_exit_2(capsys, code, str(preset), *words)


def test_nas_search_on_a_cache_with_a_truncated_manifest(cache_dir, tmp_path, capsys):
    (cache_dir / "manifest.json").write_text('{"format_version": 1, "counts": {"tot')
    code = nas_search(["--budget", "5G", "--preset", "smoke", "--data", str(cache_dir), "--out", str(tmp_path / "o")])
    one_line_exit_2(capsys, code, "manifest.json", "unreadable")
    assert not (tmp_path / "o" / "search").exists()


def test_nas_train_on_a_cache_whose_manifest_miscounts(cache_dir, capsys):
    from trainers.cli import train_main
    manifest = json.loads((cache_dir / "manifest.json").read_text())
    manifest["counts"]["train"] = 99
    (cache_dir / "manifest.json").write_text(json.dumps(manifest))
    code = train_main(["--data", str(cache_dir), "--arch", "resnet18d", "--device", "cpu", "--epochs", "1"])
    one_line_exit_2(capsys, code, "manifest.json", "do not match split.npy")


def test_nas_eval_refuses_a_pickled_checkpoint(cache_dir, tmp_path, capsys):
    import pickle
    from trainers.cli import eval_main
    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps({"format": "face-nas/jmlr-checkpoint", "x": object()}))
    code = eval_main(["--checkpoint", str(bad), "--data", str(cache_dir), "--device", "cpu"])
    one_line_exit_2(capsys, code, "evil.pt", "not a readable checkpoint")


@pytest.mark.parametrize("damage,words", [
    (lambda r: (r / "trials.csv").write_bytes((r / "trials.csv").read_bytes()[:-40]), ["trials.csv", "cut short"]),
    (lambda r: (r / "summary.json").write_text("[]"), ["summary.json", "JSON object"]),
    (lambda r: (r / "summary.json").write_text('{"stage1": "do'), ["summary.json", "not valid JSON"]),
    (lambda r: (r / "final.csv").write_text("label,arch,kind,score,status\na,b,c\n"), ["final.csv", "fewer cells"]),
])
def test_nas_report_on_damaged_tables(run_copy, capsys, damage, words):
    from reports.cli import main
    damage(run_copy)
    before = snapshot(run_copy)
    one_line_exit_2(capsys, main([str(run_copy)]), *words)
    assert snapshot(run_copy) == before


def test_nas_report_out_is_a_file(run_copy, tmp_path, capsys):
    from reports.cli import main
    target = tmp_path / "a-file"
    target.write_text("keep me")
    one_line_exit_2(capsys, main([str(run_copy), "--out", str(target)]), str(target))
    assert target.read_text() == "keep me"


def test_nas_ablate_from_a_run_with_a_non_number_score(run_copy, tmp_path, capsys):
    from nas.ablate_cli import main
    final = (run_copy / "final.csv").read_text().splitlines()
    header = final[0].split(",")
    cells = final[1].split(",")
    cells[header.index("score")] = "abc"
    (run_copy / "final.csv").write_text("\n".join([final[0], ",".join(cells), *final[2:]]) + "\n")
    code = main(["--data", str(tmp_path), "--from-run", str(run_copy), "--out", str(tmp_path), "--name", "a"])
    one_line_exit_2(capsys, code, "abc")


@pytest.mark.parametrize("argv,words", [
    (["flops", "d1.1.1.1_w8.8.8.100000"], ["too large to build"]),
    (["sample", "--budget", "5G", "--seed", "-1"], ["--seed"]),
    (["sample", "--budget", "5G", "--space", "nope"], ["--space"]),
    (["flops", "regnetx_d1_w0-8_wa1_wm2_g8_b1", "--space", "regnet"], ["regnetx_d1"]),
])
def test_nas_space(capsys, argv, words):
    from nas.space_cli import main
    one_line_exit_2(capsys, code_of(main, argv), *words)


@pytest.mark.parametrize("argv,words", [(["synth", "--out", "X", "--size", "100000"], ["--size", "4096"]),
                                        (["synth", "--out", "X", "--seed", "-1"], ["--seed"])])
def test_nas_data(tmp_path, capsys, argv, words):
    from facedata.cli import main
    argv = [str(tmp_path / "d") if a == "X" else a for a in argv]
    one_line_exit_2(capsys, code_of(main, argv), *words)
    assert not (tmp_path / "d").exists()


def test_argument_errors_of_every_command_are_one_line(capsys):
    from facedata.cli import main as data
    from nas.ablate_cli import main as ablate
    from nas.fidelity_cli import main as fidelity
    from reports.cli import main as report
    from trainers.cli import eval_main, train_main
    for main in (data, ablate, fidelity, report, train_main, eval_main):
        assert code_of(main, ["--no-such-option"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "error:" in err[0], err

