"""`nas-train` and `nas-eval`: a small run end to end, and bad input as one line with exit code 2."""
import json
import shutil

import numpy as np
import pytest

from trainers.cli import eval_main, train_main
from facedata import open_cache

ARCH = "d1.1.1.1_w8.16.16.16"
SMALL = ["--arch", ARCH, "--epochs", "2", "--batch", "16", "--lr", "16", "--res", "32", "--device", "cpu",
         "--warmup-steps", "5"]


def _one_line_error(capsys, prog, *words):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error:"), err
    for word in words:
        assert word in lines[0]


def test_train_then_evaluate_and_submit(cache_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert train_main(["--data", str(cache_dir), *SMALL, "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "epoch 2/2" in out and "score" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["arch"] == ARCH and metrics["device"] == "cpu"
    assert (run / "history.csv").exists() and (run / "config.json").exists()
    # resuming a finished run changes nothing
    assert train_main(["--data", str(cache_dir), *SMALL, "--out", str(run), "--resume"]) == 0
    assert json.loads((run / "metrics.json").read_text())["score"] == metrics["score"]

    scores = tmp_path / "val.json"
    assert eval_main(["--checkpoint", str(run), "--data", str(cache_dir), "--device", "cpu", "--out", str(scores)]) == 0
    assert json.loads(scores.read_text())["score"] == pytest.approx(metrics["score"], rel=1e-6)
    sub = tmp_path / "sub.npy"
    assert eval_main(["--checkpoint", str(run / "last.pt"), str(run), "--data", str(cache_dir), "--split", "test",
                      "--device", "cpu", "--flip-tta", "--out", str(sub)]) == 0
    cache = open_cache(cache_dir)
    tests, v = int((cache.split == "test").sum()), cache.verts.shape[1]
    assert tests > 0 and np.load(sub).shape == (tests, v * 3 + 12) and sub.with_suffix(".csv").exists()


@pytest.mark.parametrize("args,words", [
    (["--arch", "resnet99"], ["resnet99"]),
    (["--loss-weights", "1,x,2"], ["loss weights"]),
    (["--train-fraction", "0"], ["train_fraction"]),
])
def test_train_bad_settings(cache_dir, args, words, capsys):
    assert train_main(["--data", str(cache_dir), *SMALL, *args]) == 2
    _one_line_error(capsys, "nas-train", *words)


def test_train_missing_corrupt_or_inconsistent_cache(tiny_cache, cache_dir, tmp_path, capsys):
    assert train_main(["--data", str(tmp_path / "nowhere"), *SMALL]) == 2
    _one_line_error(capsys, "nas-train", "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert train_main(["--data", str(empty), *SMALL]) == 2
    _one_line_error(capsys, "nas-train", "cannot read")
    (cache_dir / "points2d.npy").write_bytes(b"\x93NUMPY garbage")
    assert train_main(["--data", str(cache_dir), *SMALL]) == 2
    _one_line_error(capsys, "nas-train", "cannot read")
    bad = shutil.copytree(tiny_cache, tmp_path / "bad")  # a flip index that is no involution
    np.save(bad / "flip_index.npy", np.zeros_like(np.load(bad / "flip_index.npy")))
    assert train_main(["--data", str(bad), *SMALL]) == 2
    _one_line_error(capsys, "nas-train", "flip_index")


def test_train_refuses_to_overwrite_or_resume_with_other_settings(cache_dir, trained_run, tmp_path, capsys):
    run = tmp_path / "run"
    assert train_main(["--data", str(cache_dir), *SMALL, "--epochs", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    assert train_main(["--data", str(cache_dir), *SMALL, "--epochs", "1", "--out", str(run)]) == 2
    _one_line_error(capsys, "nas-train", "already holds a run")
    assert train_main(["--data", str(cache_dir), *SMALL, "--out", str(run), "--resume", "--seed", "1"]) == 2
    _one_line_error(capsys, "nas-train", "seed")


def test_eval_bad_checkpoints(cache_dir, trained_run, tmp_path, capsys):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    base = ["--data", str(cache_dir), "--device", "cpu"]
    assert eval_main(["--checkpoint", str(garbage), *base]) == 2
    _one_line_error(capsys, "nas-eval", "garbage.pt")
    assert eval_main(["--checkpoint", str(tmp_path / "missing.pt"), *base]) == 2
    _one_line_error(capsys, "nas-eval", "missing.pt")
    run, _ = trained_run  # trained on the grid mesh: the procedural face's cache does not match it
    assert eval_main(["--checkpoint", str(run), "--data", str(cache_dir), "--device", "cpu"]) == 2
    _one_line_error(capsys, "nas-eval", "num_verts")


KILL_SCRIPT = """
import sys
import torch
torch.set_num_threads(1)
from trainers.cli import train_main
sys.exit(train_main(sys.argv[1:]))
"""


def _history_without_timings(run):
    import csv
    rows = list(csv.DictReader((run / "history.csv").open()))
    return [{k: v for k, v in r.items() if k not in ("images_per_s", "train_s", "val_s")} for r in rows]


def test_run_killed_with_sigkill_resumes_to_the_same_result(cache_dir, tmp_path):
    import subprocess
    import sys
    import time
    from pathlib import Path

    from trainers.checkpoint import load_checkpoint
    from trainers.progress import fraction_left

    script = tmp_path / "train.py"
    script.write_text(KILL_SCRIPT)
    args = ["--data", str(cache_dir), *SMALL, "--epochs", "30"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), *args, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (killed / "last.pt").exists() and load_checkpoint(killed)["epoch"] >= 2:
            proc.kill()  # SIGKILL: no clean-up of any kind
            break
        time.sleep(0.01)
    assert proc.wait() == -9, proc.stderr.read().decode()
    stopped_at = load_checkpoint(killed)["epoch"]
    assert 2 <= stopped_at < 30
    # the record beside the checkpoint is written after it: it may lag by one epoch, never run ahead
    assert (30 - stopped_at) / 30 <= fraction_left(killed) <= (31 - stopped_at) / 30
    assert train_main([*args, "--out", str(killed), "--resume"]) == 0
    assert train_main([*args, "--out", str(tmp_path / "whole")]) == 0
    assert _history_without_timings(killed) == _history_without_timings(tmp_path / "whole")
