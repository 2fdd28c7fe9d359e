"""The reference-style input pipeline that `bench_train.py` compares against: a torch `DataLoader` whose
workers decode the 800x800 JPEGs with OpenCV, align and warp them on the CPU and build the targets per
sample, as the public JMLR code does (its FaceDataset + albumentations), feeding an fp32/TF32 step."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

# the public code's 5-point template: the ArcFace 112x112 points moved into a 144 box, scaled to `res`
_ARCFACE_5 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                       [70.7299, 92.2041]])


def template(res: int) -> np.ndarray:
    """The five target points of the crop."""
    return (_ARCFACE_5 + [(144 - 112) // 2, 8]) * (res / 144.0)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama) taking `src` (n, 2) to `dst`; the 2x3 matrix."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    fix = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ fix @ vt
    scale = (sig * np.diag(fix)).sum() / s.var(0).sum()
    return np.concatenate([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]], 1)


class ReferenceDataset(Dataset):
    """WCPA-layout training frames, decoded, aligned, augmented and encoded per sample in a worker."""

    def __init__(self, root: "str | Path", projection: np.ndarray, flip_index: np.ndarray, res: int = 256,
                 image_size: tuple[int, int] = (800, 800), seed: int = 0) -> None:
        self.root, self.res, self.size = Path(root), res, image_size
        with open(self.root / "list" / "WCPA_track2_train.csv", newline="") as f:
            self.ids = [(r["subject_id"], r["facial_action"], r["img_id"]) for r in csv.DictReader(f)]
        self.projection, self.flip_index, self.seed = np.asarray(projection, np.float64), flip_index, seed
        self.dst = template(res)

    def __len__(self) -> int:
        return len(self.ids)

    def _project(self, verts: np.ndarray, r_t: np.ndarray) -> np.ndarray:
        clip = np.concatenate([verts, np.ones((len(verts), 1))], 1) @ r_t @ self.projection
        ndc = clip[:, :3] / clip[:, 3:4]
        w, h = self.size
        return np.stack([(ndc[:, 0] + 1) * w / 2, h - (ndc[:, 1] + 1) * h / 2], 1)

    def __getitem__(self, i: int):
        s, a, k = self.ids[i]
        rng = np.random.default_rng((self.seed, i, torch.initial_seed() % (1 << 32)))
        img = cv2.cvtColor(cv2.imread(str(self.root / "image" / s / a / f"{k}_ar.jpg")), cv2.COLOR_BGR2RGB)
        pts68 = np.loadtxt(self.root / "68landmarks" / s / a / f"{k}_68landmarks.txt")
        info = np.load(self.root / "info" / s / a / f"{k}_info.npz")
        src = np.stack([(pts68[36] + pts68[39]) / 2, (pts68[42] + pts68[45]) / 2, pts68[30], pts68[48], pts68[54]])
        tform = similarity(src, self.dst)
        crop = cv2.warpAffine(img, tform, (self.res, self.res), flags=cv2.INTER_CUBIC)
        frame = self._project(info["verts"].astype(np.float64), info["R_t"].astype(np.float64))
        points = frame @ tform[:, :2].T + tform[:, 2]
        verts = info["verts"].astype(np.float64)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
            verts = verts[self.flip_index] * [-1.0, 1.0, 1.0]
            points = points[self.flip_index]
            points[:, 0] = self.res - 1 - points[:, 0]
        x = crop.astype(np.float32)
        if rng.random() < 0.2:  # RandomBrightnessContrast(0.125, 0.05), as the public config '1'
            x = x * rng.uniform(0.95, 1.05) + rng.uniform(-0.125, 0.125) * 255
        x = (np.clip(x, 0, 255) / 255.0 - 0.5) / 0.5
        return (torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))),
                torch.from_numpy((verts * 10).astype(np.float32)),
                torch.from_numpy((points / (self.res / 2) - 1).astype(np.float32)))
