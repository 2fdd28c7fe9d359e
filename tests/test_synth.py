"""`nas-data synth`: the WCPA layout it writes, its labels, its determinism and its errors."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from _data_helpers import ARKIT, KPT_IND, need_face_data, tiny_synth

from facedata.conventions import project, rt_to_pose, wcpa_projection
from facedata.cli import main
from facedata.face_model import load_wcpa_face_model, procedural_face_model
from facedata.wcpa import read_landmarks, read_list


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    return tiny_synth(tmp_path_factory.mktemp("synth") / "wcpa", subjects=3, frames=6, per_action=3)


def _rows(root, split):
    return read_list(root / "list" / f"WCPA_track2_{split}.csv")


def test_layout_is_complete(synth_root):
    train, test = _rows(synth_root, "train"), _rows(synth_root, "test")
    assert len(train) == 12 and len(test) == 6                       # 2 + 1 subjects, subject-level split
    assert not set(train[:, 0]) & set(test[:, 0])
    assert (synth_root / "list" / "WCPA_track2_train.csv").read_text().startswith("subject_id,facial_action,img_id\n")
    for rows, labelled in ((train, True), (test, False)):
        for sid, act, img in rows:
            assert (synth_root / "image" / sid / act / f"{img}_ar.jpg").is_file()
            assert (synth_root / "68landmarks" / sid / act / f"{img}_68landmarks.txt").is_file()
            assert (synth_root / "info" / sid / act / f"{img}_info.npz").is_file() == labelled
    res = synth_root / "resources"
    np.testing.assert_array_equal(np.loadtxt(res / "projection_matrix.txt"), wcpa_projection())
    model = load_wcpa_face_model(synth_root)
    ref = procedural_face_model()
    np.testing.assert_array_equal(model.triangles, ref.triangles)
    np.testing.assert_array_equal(model.landmarks68, np.load(res / "kpt_ind.npy"))
    np.testing.assert_array_equal(model.flip_index, ref.flip_index)
    config = json.loads((synth_root / "synth_config.json").read_text())
    assert config["subjects"] == 3 and config["seed"] == 0


def test_info_files_are_challenge_shaped(synth_root):
    sid, act, img = _rows(synth_root, "train")[0]
    with np.load(synth_root / "info" / sid / act / f"{img}_info.npz") as npz:
        assert sorted(npz.files) == ["R_t", "verts"]
        assert npz["verts"].shape == (procedural_face_model().num_vertices, 3) and npz["verts"].dtype == np.float32
        assert npz["R_t"].shape == (4, 4) and npz["R_t"].dtype == np.float32
        np.testing.assert_array_equal(npz["R_t"][:, 3], [0, 0, 0, 1])


def _labels(root, folder="info", split="train"):
    out = []
    for sid, act, img in _rows(root, split):
        with np.load(root / folder / sid / act / f"{img}_info.npz") as npz:
            lmk = read_landmarks(root / "68landmarks" / sid / act / f"{img}_68landmarks.txt")
            image = cv2.imread(str(root / "image" / sid / act / f"{img}_ar.jpg"))
            out.append((npz["verts"].astype(float), npz["R_t"].astype(float), lmk, image))
    return out


def test_poses_and_landmarks_follow_the_protocol(synth_root):
    kpt = procedural_face_model().landmarks68
    for verts, rt, lmk, image in _labels(synth_root) + _labels(synth_root, "info_test", "test"):
        (yaw, pitch, roll), t = rt_to_pose(rt)
        assert abs(np.degrees(yaw)) <= 60 + 1e-3 and abs(np.degrees(pitch)) <= 40 + 1e-3
        assert abs(np.degrees(roll)) <= 15 + 1e-3 and 0.3 - 1e-6 <= -t[2] <= 0.9 + 1e-6
        pix = project(verts, rt, wcpa_projection(), (800, 800))
        assert pix.min() >= 0 and pix.max() < 800                         # the face is inside the frame
        assert image.shape == (800, 800, 3) and image.std() > 10
        assert np.array_equal(lmk, np.round(lmk))                          # integer pixels
        iod = np.linalg.norm(pix[kpt[36]] - pix[kpt[45]])
        err = np.linalg.norm(lmk - pix[kpt], axis=1)
        assert 0 < np.median(err) < 0.08 * iod                             # detector-like noise, not exact


def test_files_hold_what_was_rendered(synth_root):
    # re-render subject 1 in memory: labels are stored exactly, the JPEG is the image up to compression
    from facedata.appearance import build_render_mesh
    from facedata.synth import SynthConfig, render_subject
    m = procedural_face_model()
    cfg = SynthConfig(out="", subjects=3, frames_per_subject=6, frames_per_action=3, test_subjects=0.34)
    for frame in render_subject(m, build_render_mesh(m), 1, cfg):
        rel = f"{frame.subject_id}/{frame.facial_action}/{frame.img_id}"
        folder = "info" if (synth_root / "info" / frame.subject_id).is_dir() else "info_test"
        with np.load(synth_root / folder / f"{rel}_info.npz") as npz:
            np.testing.assert_array_equal(npz["verts"], frame.verts)
            np.testing.assert_array_equal(npz["R_t"], frame.R_t)
        np.testing.assert_array_equal(read_landmarks(synth_root / "68landmarks" / f"{rel}_68landmarks.txt"),
                                      frame.landmarks)
        jpg = cv2.cvtColor(cv2.imread(str(synth_root / "image" / f"{rel}_ar.jpg")), cv2.COLOR_BGR2RGB)
        assert np.abs(jpg.astype(int) - frame.image).mean() < 4


def test_deterministic_from_seed_and_worker_count(tmp_path, synth_root):
    again = tiny_synth(tmp_path / "again", subjects=3, frames=6, per_action=3, workers=2)
    files = sorted(p.relative_to(synth_root) for p in synth_root.rglob("*") if p.is_file()
                   and p.name != "synth_config.json")
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file()
                           and p.name != "synth_config.json")
    for rel in files:
        assert (synth_root / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = tiny_synth(tmp_path / "other", subjects=3, frames=6, per_action=3, seed=1)
    rel = files[[str(f).endswith(".jpg") for f in files].index(True)]
    assert (other / rel).read_bytes() != (synth_root / rel).read_bytes()


def test_arkit_face_model_synthesis(tmp_path):
    need_face_data()
    root = tiny_synth(tmp_path / "ark", face_model=str(ARKIT), landmarks=str(KPT_IND), subjects=2, frames=2,
                      test_subjects=0.0)
    model = load_wcpa_face_model(root)
    assert model.num_vertices == 1220 and len(model.triangles) == 2304
    np.testing.assert_array_equal(model.landmarks68, np.load(KPT_IND))


@pytest.mark.parametrize("argv, message", [
    (["--face-model", "/nonexistent/model"], "/nonexistent/model"),
    (["--landmarks", "/nonexistent/kpt.npy"], "/nonexistent/kpt.npy"),
])
def test_cli_bad_face_model_exits_2(tmp_path, capsys, argv, message):
    code = main(["synth", "--out", str(tmp_path / "o"), "--subjects", "1", "--frames-per-subject", "1",
                 "--workers", "1", *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_cli_refuses_to_clobber(tmp_path, capsys):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep.txt").write_text("precious")
    assert main(["synth", "--out", str(tmp_path / "o"), "--subjects", "1", "--workers", "1"]) == 2
    assert str(tmp_path / "o") in capsys.readouterr().err
    assert (tmp_path / "o" / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize("flag, value", [("--test-subjects", "1.5"), ("--subjects", "0"), ("--size", "x")])
def test_cli_bad_values_exit_2(tmp_path, flag, value):
    with pytest.raises(SystemExit) as exc:
        main(["synth", "--out", str(tmp_path / "o"), flag, value])
    assert exc.value.code == 2


def test_contact_sheet_cli(tmp_path):
    out = tmp_path / "sheet.png"
    assert main(["contact-sheet", "--out", str(out), "-n", "2", "--tile", "128"]) == 0
    sheet = cv2.imread(str(out))
    assert sheet.shape == (128, 512, 3)


@pytest.mark.parametrize("sigma", [1.1, 4.0])
def test_sensor_grain_is_a_saturated_signed_sum(sigma):
    from facedata.synth import GRAIN_MARGIN, add_sensor_noise, sensor_grain
    up, down = sensor_grain((64, 48), sigma, seed=3)
    assert up.shape == down.shape == (48 + 2 * GRAIN_MARGIN, 64 + 2 * GRAIN_MARGIN, 3)
    assert not (up.astype(bool) & down.astype(bool)).any()              # one sign per pixel
    signed = up.astype(int) - down
    spread = signed.reshape(-1, 3).std(0)                                # every channel has its own grain
    assert abs(signed.mean()) < 0.1 and np.all((0.55 * sigma < spread) & (spread < 0.72 * sigma))
    assert abs(np.corrcoef(signed[..., 0].ravel(), signed[..., 1].ravel())[0, 1]) < 0.1
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3)).astype(np.uint8)
    out = add_sensor_noise(image.copy(), (up, down), dx=5, dy=9)
    np.testing.assert_array_equal(out, np.clip(image.astype(int) + signed[9:57, 5:69], 0, 255))
