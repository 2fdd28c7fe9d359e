"""The WCPA-layout reader: string ids, and an error naming the file for every bad input (CLI exit 2)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from _data_helpers import tiny_synth

from trainers.data.cli import main
from trainers.data.errors import DataError, LayoutError
from trainers.data.wcpa import read_image, read_info, read_landmarks, read_layout, read_list


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return tiny_synth(tmp_path_factory.mktemp("reader") / "wcpa", subjects=2, frames=2, per_action=2,
                      test_subjects=0.5, size=400)


@pytest.fixture
def root(pristine, tmp_path):
    return shutil.copytree(pristine, tmp_path / "wcpa")


def test_csv_ids_are_strings_with_leading_zeros(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("img_id,subject_id,facial_action\n000123,0042,007\n5,00,1\n")
    ids = read_list(path)
    assert ids.tolist() == [["0042", "007", "000123"], ["00", "1", "5"]]


def test_layout_lists_and_splits(root):
    layout = read_layout(root)
    assert len(layout) == 4 and sorted(set(layout.split)) == ["test", "train"]
    assert all(len(s) == 6 and s.startswith("0000") for s in layout.ids[:, 0])
    img, info, lmk = layout.paths(0)
    assert read_image(img, (400, 400)).shape == (400, 400, 3)
    verts, rt = read_info(info, layout.model.num_vertices)
    assert verts.dtype == np.float32 and rt.shape == (4, 4)
    assert read_landmarks(lmk).shape == (68, 2)


def _first(root, kind, split="train"):
    layout = read_layout(root)
    i = int(np.nonzero(layout.split == split)[0][0])
    return layout.paths(i)[{"image": 0, "info": 1, "landmarks": 2}[kind]]


def _break(root, what):
    """Damage one file of the layout; return the path that the error must name."""
    if what == "missing image":
        path = _first(root, "image")
        path.unlink()
    elif what == "corrupt image":
        path = _first(root, "image")
        path.write_bytes(b"\xff\xd8 not really a jpeg")
    elif what == "wrong-size image":
        import cv2
        path = _first(root, "image")
        cv2.imwrite(str(path), np.zeros((300, 400, 3), np.uint8))
    elif what == "missing info":
        path = _first(root, "info")
        path.unlink()
    elif what == "corrupt info":
        path = _first(root, "info")
        path.write_bytes(b"PK garbage")
    elif what == "info without R_t":
        path = _first(root, "info")
        np.savez(path, verts=np.zeros((1240, 3), np.float32))
    elif what == "wrong-shaped R_t":
        path = _first(root, "info")
        np.savez(path, verts=np.zeros((1240, 3), np.float32), R_t=np.eye(3, dtype=np.float32))
    elif what == "topology mismatch":
        path = _first(root, "info")
        np.savez(path, verts=np.zeros((1220, 3), np.float32), R_t=np.eye(4, dtype=np.float32))
    elif what == "short landmarks":
        path = _first(root, "landmarks", "test")
        path.write_text("1 2\n" * 67)
    elif what == "garbled landmarks":
        path = _first(root, "landmarks")
        path.write_text("a b\n" * 68)
    elif what == "missing landmarks":
        path = _first(root, "landmarks", "test")
        path.unlink()
    elif what == "missing list":
        path = root / "list" / "WCPA_track2_train.csv"
        path.unlink()
    elif what == "bad list header":
        path = root / "list" / "WCPA_track2_train.csv"
        path.write_text("a,b,c\n1,2,3\n")
    elif what == "missing example.obj":
        path = root / "resources" / "example.obj"
        path.unlink()
    elif what == "bad kpt_ind":
        path = root / "resources" / "kpt_ind.npy"
        np.save(path, np.arange(68) + 5000)
    elif what == "bad projection":
        path = root / "resources" / "projection_matrix.txt"
        path.write_text("1 2 3\n")
    else:
        raise AssertionError(what)
    return path


FRAME_BREAKS = ["missing image", "corrupt image", "wrong-size image", "missing info", "corrupt info",
                "info without R_t", "wrong-shaped R_t", "topology mismatch", "short landmarks",
                "garbled landmarks", "missing landmarks"]
ROOT_BREAKS = ["missing list", "bad list header", "missing example.obj", "bad kpt_ind", "bad projection"]


@pytest.mark.parametrize("what", FRAME_BREAKS + ROOT_BREAKS)
def test_cache_cli_names_the_file_and_exits_2(root, tmp_path, capsys, what):
    path = _break(root, what)
    code = main(["cache", "--data", str(root), "--out", str(tmp_path / "cache"), "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("nas-data: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert str(path) in err
    if what == "topology mismatch":
        assert "topology" in err
    assert not (tmp_path / "cache").exists()                         # nothing half-written is left
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".cache")]


@pytest.mark.parametrize("what", FRAME_BREAKS)
def test_on_error_skip_skips_and_counts(root, tmp_path, capsys, what):
    path = _break(root, what)
    code = main(["cache", "--data", str(root), "--out", str(tmp_path / "cache"), "--workers", "1",
                 "--on-error", "skip"])
    err = capsys.readouterr().err
    assert code == 0
    assert "skipped 1 bad frames" in err and str(path) in err
    from trainers.data import open_cache
    cache = open_cache(tmp_path / "cache")
    assert len(cache) == 3 and cache.manifest["skipped"] == 1


def test_library_raises_typed_errors(root):
    path = _break(root, "corrupt info")
    with pytest.raises(LayoutError, match=str(path)):
        read_info(path, 1240)
    assert issubclass(LayoutError, DataError) and issubclass(DataError, ValueError)
