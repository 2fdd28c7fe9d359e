"""The WCPA-layout reader: string ids, and an error naming the file for every bad input (CLI exit 2)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from _data_helpers import tiny_synth

from facedata.cli import main
from facedata.errors import DataError, LayoutError
from facedata.wcpa import read_image, read_info, read_landmarks, read_layout, read_list


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


def _savez(**arrays):
    return lambda path: np.savez(path, **arrays)


def _write(data):
    return lambda path: path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)


def _unlink(path):
    path.unlink()


def _image_of_size(path):
    import cv2
    cv2.imwrite(str(path), np.zeros((300, 400, 3), np.uint8))


VERTS, EYE3 = np.zeros((1240, 3), np.float32), np.eye(3, dtype=np.float32)
# what -> (which file: a frame's (kind, split) or a path under the root, how to damage it)
BREAKS = {
    "missing image": (("image", "train"), _unlink),
    "corrupt image": (("image", "train"), _write(b"\xff\xd8 not really a jpeg")),
    "wrong-size image": (("image", "train"), _image_of_size),
    "missing info": (("info", "train"), _unlink),
    "corrupt info": (("info", "train"), _write(b"PK garbage")),
    "info without R_t": (("info", "train"), _savez(verts=VERTS)),
    "wrong-shaped R_t": (("info", "train"), _savez(verts=VERTS, R_t=EYE3)),
    "topology mismatch": (("info", "train"), _savez(verts=np.zeros((1220, 3), np.float32),
                                                    R_t=np.eye(4, dtype=np.float32))),
    "short landmarks": (("landmarks", "test"), _write("1 2\n" * 67)),
    "garbled landmarks": (("landmarks", "train"), _write("a b\n" * 68)),
    "missing landmarks": (("landmarks", "test"), _unlink),
    "missing list": ("list/WCPA_track2_train.csv", _unlink),
    "bad list header": ("list/WCPA_track2_train.csv", _write("a,b,c\n1,2,3\n")),
    "missing example.obj": ("resources/example.obj", _unlink),
    "bad kpt_ind": ("resources/kpt_ind.npy", lambda path: np.save(path, np.arange(68) + 5000)),
    "bad projection": ("resources/projection_matrix.txt", _write("1 2 3\n")),
}


def _break(root, what):
    """Damage one file of the layout; return the path that the error must name."""
    where, damage = BREAKS[what]
    path = _first(root, *where) if isinstance(where, tuple) else root / where
    damage(path)
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
    from facedata import open_cache
    cache = open_cache(tmp_path / "cache")
    assert len(cache) == 3 and cache.manifest["skipped"] == 1


def test_library_raises_typed_errors(root):
    path = _break(root, "corrupt info")
    with pytest.raises(LayoutError, match=str(path)):
        read_info(path, 1240)
    assert issubclass(LayoutError, DataError) and issubclass(DataError, ValueError)


def test_worker_errors_reach_the_cli_as_one_line(root, tmp_path, capsys):
    path = _break(root, "corrupt info")
    code = main(["cache", "--data", str(root), "--out", str(tmp_path / "cache"), "--workers", "2"])
    err = capsys.readouterr().err
    assert code == 2 and str(path) in err and err.count("\n") == 1
    assert not (tmp_path / "cache").exists()
