"""Reader of the WCPA / ARKitFace layout (wcpa_format.md): lists, resources and per-frame files.

Every error is a LayoutError (or FaceModelError for the resources) that names the offending file: a
missing or unreadable list, image, info npz or landmark file, a wrong shape, or a topology that does not
match resources/example.obj. CSV ids are read as strings (they carry leading zeros).
"""
from __future__ import annotations

import csv
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facedata.errors import LayoutError
from facedata.face_model import FaceModel, load_wcpa_face_model

WCPA_SIZE = (800, 800)
LISTS = {"train": "list/WCPA_track2_train.csv", "test": "list/WCPA_track2_test.csv"}
COLUMNS = ("subject_id", "facial_action", "img_id")


@dataclass(frozen=True, eq=False)
class WcpaLayout:
    """A WCPA root: its face model (topology, landmarks, flip index), projection and frame list."""

    root: Path
    model: FaceModel
    projection: np.ndarray          # (4, 4) float64
    ids: np.ndarray                 # (N, 3) str: subject_id, facial_action, img_id
    split: np.ndarray               # (N,) str: 'train' (labelled) or 'test' (no info/ files)
    image_size: tuple[int, int]     # (W, H) every image must have

    def __len__(self) -> int:
        return len(self.ids)

    def paths(self, i: int) -> tuple[Path, Path, Path]:
        """(image, info npz, 68-landmark text) paths of frame i."""
        return frame_paths(self.root, *self.ids[i])


def frame_paths(root: Path, subject_id: str, facial_action: str, img_id: str) -> tuple[Path, Path, Path]:
    """(image, info npz, 68-landmark text) of one frame in the layout."""
    rel = Path(subject_id) / facial_action
    return (root / "image" / rel / f"{img_id}_ar.jpg", root / "info" / rel / f"{img_id}_info.npz",
            root / "68landmarks" / rel / f"{img_id}_68landmarks.txt")


def read_list(path: Path) -> np.ndarray:
    """The ids (N, 3) str of a WCPA list CSV (header subject_id,facial_action,img_id, any order)."""
    try:
        with open(path, newline="") as fh:
            rows = [[c.strip() for c in r] for r in csv.reader(fh) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LayoutError(f"{path}: cannot read list ({exc.__class__.__name__}: {exc})") from None
    if not rows or sorted(rows[0]) != sorted(COLUMNS):
        raise LayoutError(f"{path}: expected the header {','.join(COLUMNS)}, got {rows[0] if rows else 'nothing'}")
    order = [rows[0].index(c) for c in COLUMNS]
    bad = [i + 2 for i, r in enumerate(rows[1:]) if len(r) != 3 or not all(r)]
    if bad:
        raise LayoutError(f"{path}: line {bad[0]} does not have three non-empty ids")
    return np.array([[r[k] for k in order] for r in rows[1:]], dtype=str).reshape(-1, 3)


def read_projection(path: Path) -> np.ndarray:
    """A 4x4 projection matrix from text."""
    try:
        m = np.loadtxt(path, dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise LayoutError(f"{path}: cannot read projection matrix ({exc.__class__.__name__}: {exc})") from None
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise LayoutError(f"{path}: expected a finite 4x4 matrix, got shape {m.shape}")
    return m


SYNTH_MARKER = "synth_config.json"  # written by `nas-data synth` into the roots it makes


def layout_image_size(root: Path) -> tuple[int, int]:
    """(W, H) of the frames: the challenge's 800x800, or the size a synthetic root records."""
    path = root / SYNTH_MARKER
    if not path.is_file():
        return WCPA_SIZE
    try:
        size = int(json.loads(path.read_text())["size"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LayoutError(f"{path}: cannot read the image size ({exc.__class__.__name__}: {exc})") from None
    return size, size


def read_layout(root: str | os.PathLike, splits: tuple[str, ...] = ("train", "test")) -> WcpaLayout:
    """Walk a WCPA root: resources (example.obj, kpt_ind.npy, projection_matrix.txt) and the lists.

    Frames are 800x800 as in the challenge, or the size recorded in a synthetic root's synth_config.json.
    """
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: not a folder")
    model = load_wcpa_face_model(root)
    projection = read_projection(root / "resources" / "projection_matrix.txt")
    ids, split = [], []
    for name in splits:
        path = root / LISTS[name]
        if not path.is_file():
            if name == "test":      # a layout may hold no test split
                continue
            raise LayoutError(f"{path}: missing (a WCPA root needs {LISTS[name]})")
        rows = read_list(path)
        ids.append(rows)
        split += [name] * len(rows)
    all_ids = np.concatenate(ids) if ids else np.zeros((0, 3), dtype=str)
    return WcpaLayout(root, model, projection, all_ids, np.array(split, dtype=str), layout_image_size(root))


def read_image(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """An RGB uint8 image (H, W, 3); `size` (W, H) is checked when given."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise LayoutError(f"{path}: cannot read image ({exc.__class__.__name__}: {exc})") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise LayoutError(f"{path}: not a decodable image")
    if size is not None and (image.shape[1], image.shape[0]) != tuple(size):
        raise LayoutError(f"{path}: image is {image.shape[1]}x{image.shape[0]}, expected {size[0]}x{size[1]}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_info(path: Path, num_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """(verts (V, 3) float32, R_t (4, 4) float32) of an info npz, checked against the topology."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            verts, rt = npz["verts"], npz["R_t"]
    except KeyError as exc:
        raise LayoutError(f"{path}: info npz lacks {exc}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise LayoutError(f"{path}: cannot read info npz ({exc.__class__.__name__}: {exc})") from None
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise LayoutError(f"{path}: verts must be (V, 3), got {verts.shape}")
    if verts.shape[0] != num_vertices:
        raise LayoutError(f"{path}: verts has {verts.shape[0]} vertices but resources/example.obj has "
                          f"{num_vertices} (topology mismatch)")
    if rt.shape != (4, 4):
        raise LayoutError(f"{path}: R_t must be (4, 4), got {rt.shape}")
    if not (np.all(np.isfinite(verts)) and np.all(np.isfinite(rt))):
        raise LayoutError(f"{path}: verts or R_t hold non-finite values")
    return verts.astype(np.float32), rt.astype(np.float32)


def read_landmarks(path: Path) -> np.ndarray:
    """68 detector landmarks (68, 2) float64 in image pixels from a text file of rows "x y"."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise LayoutError(f"{path}: cannot read landmarks ({exc.__class__.__name__}: {exc})") from None
    try:
        pts = np.array([line.split() for line in text.splitlines() if line.strip()], dtype=np.float64)
    except ValueError:
        raise LayoutError(f"{path}: landmarks must be rows of two numbers") from None
    if pts.shape != (68, 2) or not np.all(np.isfinite(pts)):
        raise LayoutError(f"{path}: expected 68 rows of 'x y', got shape {pts.shape}")
    return pts
