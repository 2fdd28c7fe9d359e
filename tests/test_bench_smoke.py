"""Plumbing of benchmarks/bench_train.py, score_floor.py and bench_pose.py on the CPU with tiny sizes (no speed is
asserted here)."""
import csv
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def write_wcpa_root(cache, root: Path) -> Path:
    """A WCPA-layout folder holding the labelled frames of a fake cache (noise images, exact labels)."""
    rows = np.flatnonzero(cache.split != "test")
    (root / "list").mkdir(parents=True)
    with (root / "list" / "WCPA_track2_train.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["subject_id", "facial_action", "img_id"])
        for r in rows:
            s, a, k = cache.subjects[r], "1", f"{r:06d}"
            for part in ("image", "info", "68landmarks"):
                (root / part / s / a).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / "image" / s / a / f"{k}_ar.jpg"),
                        np.random.default_rng(r).integers(0, 255, (800, 800, 3), dtype=np.uint8))
            np.savez(root / "info" / s / a / f"{k}_info.npz", verts=cache.verts[r], R_t=cache.R_t[r])
            inv = np.linalg.inv(np.vstack([cache.tform[r], [0, 0, 1]]))[:2]
            frame = cache.points2d[r] @ inv[:, :2].T + inv[:, 2]
            np.savetxt(root / "68landmarks" / s / a / f"{k}_68landmarks.txt", frame[cache.landmarks68], fmt="%d")
            writer.writerow([s, a, k])
    return root


def test_bench_train_runs_on_cpu_with_tiny_sizes(tiny_root, tiny_cache, capsys):
    import bench_train

    root, cache_dir = tiny_root, tiny_cache
    rows = bench_train.main(["--device", "cpu", "--arch", "d1.1.1.1_w8.16.16.16", "--res", "32", "--batch", "8",
                             "--epochs", "1", "--steps", "2", "--warmup", "1", "--modes", "eager", "--workers", "0",
                             "--data", str(root), "--cache", str(cache_dir)])
    assert [(r["pipeline"], r["mode"]) for r in rows] == [("ceiling", "eager"), ("end-to-end", "eager"),
                                                          ("reference", "fp32/tf32")]
    assert all(r["images_per_s"] > 0 for r in rows) and rows[0]["of_ceiling"] == 1.0
    assert "MFU" in capsys.readouterr().out  # the summary table comes last


def test_score_floor_scores_trivial_predictors_with_the_toolkits_metric(tiny_cache, tmp_path, capsys):
    import json

    import score_floor

    out = score_floor.main(["--cache", str(tiny_cache), "--out", str(tmp_path)])
    assert json.loads((tmp_path / "score_floor.json").read_text()) == out
    truth, mean = out["ground truth"], out["mean of training targets"]
    assert truth["score"] == 0.0 and all(truth[k] == 0.0 for k in score_floor.TERMS)
    assert mean["score"] > 0
    assert abs(mean["score"] - sum(mean[k] for k in score_floor.TERMS)) < 0.02  # three rounded terms
    # a predictor that gets the shape right loses only the pose terms, one that gets the points right keeps the
    # shape term: the three terms are what the floor's parts are named for
    assert out["true shape + mean points"]["v1_v4_x10"] == 0.0
    assert out["mean shape + true points"]["v1_v4_x10"] == mean["v1_v4_x10"]
    # another identity's shape is further from a face than the mean shape is (about sqrt(2) times for iid identities)
    assert out["a training subject's mean shape + true points"]["v1_v4_x10"] > mean["v1_v4_x10"]
    assert "mean of training targets" in capsys.readouterr().out


def test_identity_check_trains_each_data_arch_and_seed_once_and_resumes(tmp_path):
    import identity_check

    argv = ["--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"), "--subjects", "4,8", "--frames", "48",
            "--archs", "d1.1.1.1_w8.16.16.16", "--seeds", "0,1", "--epochs", "1", "--res", "32", "--batch", "8",
            "--device", "cpu"]
    rows = identity_check.main(argv)
    assert [(r["subjects"], r["frames_per_subject"], r["seed"]) for r in rows] == [(4, 12, 0), (4, 12, 1),
                                                                                  (8, 6, 0), (8, 6, 1)]
    for r in rows:  # the terms are kept beside the score they add up to, on held-out and on training frames
        for prefix in ("", "train_"):
            terms = sum(float(r[f"{prefix}{t}"]) for t in ("v1_v2", "v1_v3", "v1_v4_x10"))
            assert float(r[f"{prefix}score"]) == pytest.approx(terms) and terms > 0
    assert not list((tmp_path / "work").rglob("*.pt"))  # checkpoints are removed once scored
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"identity.csv", "floor_s4.json", "floor_s8.json"}
    table = (tmp_path / "out" / "identity.csv").read_bytes()
    assert len(identity_check.main(argv)) == 4 and (tmp_path / "out" / "identity.csv").read_bytes() == table
    # other settings are other trainings; a time limit the longest training would overrun starts none of them
    assert len(identity_check.main([*argv, "--epochs", "2", "--time-limit", "0"])) == 4
    assert (tmp_path / "out" / "identity.csv").read_bytes() == table


def test_bench_pose_compares_the_same_poses_with_fewer_operators_in_one_batch(tmp_path):
    import json

    import bench_pose
    out = bench_pose.main(["--faces", "12", "--repeats", "1", "--json", str(tmp_path / "pose.json")])
    row, = out["sizes"]
    assert row["max_abs_diff"] < 1e-9 and row["batched_ops"] < row["apart_ops"] / 2
    assert json.loads((tmp_path / "pose.json").read_text()) == out
