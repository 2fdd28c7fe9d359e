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



# ---------------------------------------------------------------- outputs that cannot be written
# For every command: an --out under a read-only folder, an --out that is a file, and a full disk (simulated in
# process: every write below the folder fails with ENOSPC, as write(2) does on a full disk, and the free space
# reads 48 KiB). Each is one line naming the path, exit 2, the files that were there untouched, nothing half-written.

ARCH = "d1.1.1.1_w8.16.16.16"
SMALL_TRAIN = ["--arch", ARCH, "--epochs", "1", "--batch", "16", "--lr", "16", "--res", "32", "--device", "cpu",
               "--warmup-steps", "5"]


@pytest.fixture(scope="module")
def tiny_run(tiny_cache, tmp_path_factory) -> Path:
    """A 1-epoch nas-train run (checkpoint last.pt) on the tiny cache."""
    from trainers.cli import train_main
    run = tmp_path_factory.mktemp("ckpt") / "run"
    assert train_main(["--data", str(tiny_cache), *SMALL_TRAIN, "--out", str(run)]) == 0
    return run


def _main(name: str):
    from facedata.cli import main as data
    from nas.ablate_cli import main as ablate
    from nas.cli import main as search
    from nas.fidelity_cli import main as fidelity
    from reports.cli import main as report
    from trainers.cli import eval_main, train_main
    return {"synth": data, "cache": data, "train": train_main, "eval": eval_main, "search": search,
            "report": report, "ablate": ablate, "fidelity": fidelity}[name]


def _argv(name: str, out: Path, tiny_root: Path, tiny_cache: Path, tiny_run: Path, run: Path) -> list[str]:
    """The command's arguments writing to `out`: a folder it creates (a run parent for the three drivers, a file
    for nas-eval)."""
    return {
        "synth": ["synth", "--out", str(out), "--subjects", "1", "--frames-per-subject", "2", "--frames-per-action",
                  "2", "--size", "64", "--workers", "1"],
        "cache": ["cache", "--data", str(tiny_root), "--out", str(out), "--res", "32", "--workers", "1"],
        "train": ["--data", str(tiny_cache), *SMALL_TRAIN, "--out", str(out)],
        "eval": ["--checkpoint", str(tiny_run), "--data", str(tiny_cache), "--device", "cpu", "--out", str(out)],
        "search": ["--budget", "5G", "--preset", "smoke", "--data", str(tiny_cache), "--out", str(out), "--name", "s"],
        "report": [str(run), "--out", str(out)],
        "ablate": ["--data", str(tiny_cache), "--out", str(out), "--name", "a"],
        "fidelity": ["--data", str(tiny_cache), "--out", str(out), "--name", "f", "--preset", "smoke"],
    }[name]


COMMANDS = ["synth", "cache", "train", "eval", "search", "report", "ablate", "fidelity"]
DRIVERS = {"search", "ablate", "fidelity"}  # --out is the parent of the run folder NAME they create


def _target(name: str, folder: Path) -> Path:
    """--out for a command writing into `folder`."""
    return folder if name in DRIVERS else folder / ("scores.json" if name == "eval" else "new")


def _files(folder: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", COMMANDS)
def test_out_in_a_read_only_folder(name, tiny_root, tiny_cache, tiny_run, run_copy, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "keep.txt").write_text("keep me")
    ro.chmod(0o555)
    try:
        try:  # root (CAP_DAC_OVERRIDE) writes into read-only folders: then there is nothing to test
            (ro / "probe").mkdir()
        except PermissionError:
            pass
        else:
            pytest.skip("this user (root?) writes into read-only folders")
        code = code_of(_main(name), _argv(name, _target(name, ro), tiny_root, tiny_cache, tiny_run, run_copy))
        line = one_line_exit_2(capsys, code, str(ro))
        assert ("permission denied" in line or "read-only" in line) and ".tmp" not in line, line
        assert sorted(p.name for p in ro.iterdir()) == ["keep.txt"] and (ro / "keep.txt").read_text() == "keep me"
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("name", COMMANDS)
def test_out_is_a_file(name, tiny_root, tiny_cache, tiny_run, run_copy, tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("keep me")
    out = target / "scores.json" if name == "eval" else target
    before = sorted(p.name for p in tmp_path.iterdir())
    code = code_of(_main(name), _argv(name, out, tiny_root, tiny_cache, tiny_run, run_copy))
    one_line_exit_2(capsys, code, str(target), "not a folder")
    assert target.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == before


class _FullFile:
    """A file opened for writing on a full disk: every write fails as write(2) does, naming no file."""

    def __init__(self, real):
        self._real = real

    def write(self, data):
        import errno
        raise OSError(errno.ENOSPC, "No space left on device")

    def writelines(self, lines):
        self.write(b"")

    def __getattr__(self, attr):
        return getattr(self._real, attr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()


@pytest.fixture
def full_disk(monkeypatch, tmp_path):
    """A folder on a 'full disk': files opened for writing below it (by path or by descriptor) fail on write, and
    shutil.disk_usage reports 48 KiB free there."""
    import builtins
    import io
    import os
    import shutil
    folder = tmp_path / "full"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep me")
    real_open, real_usage = io.open, shutil.disk_usage

    def below(where) -> bool:
        try:
            path = os.readlink(f"/proc/self/fd/{where}") if isinstance(where, int) else os.fspath(where)
        except (OSError, TypeError):
            return False
        return str(Path(path).absolute()).startswith(str(folder))

    def full_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        return _FullFile(handle) if any(m in mode for m in "wax+") and below(file) else handle

    def usage(path):
        real = real_usage(path)
        return real._replace(free=48 << 10) if below(path) else real

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd")
    monkeypatch.setattr(io, "open", full_open)
    monkeypatch.setattr(builtins, "open", full_open)
    monkeypatch.setattr(shutil, "disk_usage", usage)
    return folder


@pytest.mark.parametrize("name", COMMANDS)
def test_out_on_a_full_disk(name, full_disk, tiny_root, tiny_cache, tiny_run, run_copy, capsys):
    code = code_of(_main(name), _argv(name, _target(name, full_disk), tiny_root, tiny_cache, tiny_run, run_copy))
    one_line_exit_2(capsys, code, str(full_disk), "no space left")
    assert _files(full_disk) == {full_disk / "keep.txt": b"keep me"}  # nothing half-written, no temporary


def test_a_full_disk_under_torch_save_names_the_checkpoint(full_disk):
    """torch.save reports a failed write as RuntimeError('[enforce fail at inline_container.cc] unexpected pos');
    the atomic writer says what it was, and names the file."""
    import errno

    import torch

    from kit.atomic import atomic_write
    path = full_disk / "run" / "last.pt"
    with pytest.raises(OSError) as caught:
        atomic_write(path, lambda f: torch.save({"w": torch.zeros(1000)}, f))
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)
    assert _files(full_disk) == {full_disk / "keep.txt": b"keep me"}

    def buried(f):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
    with pytest.raises(OSError, match="No space left") as caught:
        atomic_write(path, buried)
    assert caught.value.filename == str(path)


def test_nas_space_with_stdout_on_a_full_disk():
    import subprocess
    import sys
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    root = Path(__file__).resolve().parents[1]
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "nas.space_cli", "baselines"], cwd=root, stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1 and "no space left" in err[0], done.stderr


def test_a_bad_command_line_value_is_not_blamed_on_the_preset_file(tmp_path, capsys):
    preset = tmp_path / "p.yaml"
    preset.write_text("trials: 2\n")
    code = nas_search(["--budget", "5G", "--preset", str(preset), "--seed", "-1", "--out", str(tmp_path),
                       "--name", "s"])
    line = one_line_exit_2(capsys, code, "--seed")
    assert str(preset) not in line
