"""`nas-data synth`: a synthetic data set in the WCPA layout, rendered from a face model.

Per subject an identity and a palette; per facial action (a segment of frames) an expression that rises
and falls, a head-pose sweep, a lighting and a background; per frame a JPEG, the challenge's info npz
(``verts`` (V, 3) float32 world metres, ``R_t`` (4, 4) float32) and detector-like integer landmarks.
Everything is a function of (seed, subject index), so any worker count gives the same bytes.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from facedata.appearance import RenderMesh, build_render_mesh, paint_albedo, random_palette
from facedata.conventions import format_projection, project, wcpa_projection
from facedata.errors import DataError
from facedata.face_model import FaceModel, load_face_model
from facedata.obj_io import format_obj
from facedata.parallel import run_jobs
from facedata.render import random_lighting, render_face
from kit.atomic import staged_folder
from kit.limits import MAX_IMAGE
from facedata.wcpa import SYNTH_MARKER
from facedata.scene import detector_landmarks, random_background, sample_expressions, sample_poses

LIST_COLUMNS = ("subject_id", "facial_action", "img_id")


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines a synthetic data set."""

    out: str
    subjects: int = 40
    frames_per_subject: int = 100
    frames_per_action: int = 10
    face_model: str = "procedural"
    landmarks: str | None = None          # a kpt_ind.npy for an OBJ folder without one
    test_subjects: float = 0.2
    size: int = 800
    seed: int = 0
    workers: int = 1
    overwrite: bool = False

    def validate(self) -> None:
        """Raise DataError naming the first bad value."""
        for name in ("subjects", "frames_per_subject", "frames_per_action", "workers"):
            if getattr(self, name) < 1:
                raise DataError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.test_subjects < 1.0:
            raise DataError(f"--test-subjects must be a fraction in [0, 1), got {self.test_subjects}")
        if not 64 <= self.size <= MAX_IMAGE:
            raise DataError(f"--size must be 64 to {MAX_IMAGE} pixels, got {self.size}")


@dataclass
class Frame:
    """One rendered frame and its labels."""

    subject_id: str
    facial_action: str
    img_id: str
    image: np.ndarray            # (H, W, 3) uint8 RGB
    verts: np.ndarray            # (V, 3) float32 world metres
    R_t: np.ndarray              # (4, 4) float32
    landmarks: np.ndarray        # (68, 2) int64 detector-like pixels
    jpeg_quality: int = 90


def subject_id_of(index: int) -> str:
    """Subject ids are zero-padded strings, like the challenge's."""
    return f"{index + 1:06d}"


def load_model(spec: str, landmarks: str | None) -> FaceModel:
    """The face model named on the command line."""
    lmk = None
    if landmarks is not None:
        from facedata.face_model import load_npy
        lmk = load_npy(Path(landmarks))
    return load_face_model(spec, lmk)


GRAIN_MARGIN = 16     # pixels of sensor grain beyond each side of the frame, to shift it per frame


def sensor_grain(size: tuple[int, int], sigma: float, seed: int,
                 margin: int = GRAIN_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """One action's sensor grain, (raise, lower) uint8 (H + 2 margin, W + 2 margin, 3) in grey levels.

    Gaussian, drawn at half resolution and upsampled (demosaicing correlates it), rounded to whole grey
    levels: adding a rounded value to a whole grey level is what rounding the noisy sum gives anyway.
    """
    w, h = size[0] + 2 * margin, size[1] + 2 * margin
    noise = np.empty(((h + 1) // 2, (w + 1) // 2, 3), np.float32)
    cv2.setRNGSeed(seed)
    cv2.randn(noise, (0.0,) * 3, (sigma,) * 3)          # a scalar would reach the first channel only
    noise = cv2.resize(noise, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.convertScaleAbs(np.maximum(noise, 0.0)), cv2.convertScaleAbs(np.minimum(noise, 0.0))


def add_sensor_noise(image: np.ndarray, grain: tuple[np.ndarray, np.ndarray], dx: int, dy: int) -> np.ndarray:
    """`image` (H, W, 3) uint8 plus the grain shifted by (dx, dy) in [0, 2 margin], in place, saturating."""
    h, w = image.shape[:2]
    up, down = (g[dy:dy + h, dx:dx + w] for g in grain)
    cv2.add(image, up, dst=image)            # at each pixel one of the two is 0, so this is the
    cv2.subtract(image, down, dst=image)     # saturated sum with the signed grain
    return image


def render_subject(model: FaceModel, rm: RenderMesh, index: int, cfg: SynthConfig) -> Iterator[Frame]:
    """The frames of subject `index`, deterministic from (cfg.seed, index)."""
    rng = np.random.default_rng([cfg.seed, index])
    size = (cfg.size, cfg.size)
    projection = wcpa_projection()
    identity = np.clip(rng.normal(0.0, 1.0, len(model.identity_modes)), -2.5, 2.5)
    albedo = paint_albedo(rm, random_palette(rng), rng)
    sid = subject_id_of(index)
    done, action = 0, 0
    while done < cfg.frames_per_subject:
        n = min(cfg.frames_per_action, cfg.frames_per_subject - done)
        expr = sample_expressions(rng, n, model.blendshape_names)
        verts = model.shape(identity, expr)
        rt = sample_poses(rng, n, verts, projection, size)
        pts = project(verts[:, model.landmarks68], rt, projection, size)
        iod = np.linalg.norm(0.5 * (pts[:, 36] + pts[:, 39]) - 0.5 * (pts[:, 42] + pts[:, 45]), axis=1)
        lmk = detector_landmarks(rng, pts, iod)
        background = random_background(rng, size)
        light = random_lighting(rng)
        quality = int(rng.integers(75, 96))
        noise_sigma = rng.uniform(1.1, 4.0)     # before upsampling; 0.7-2.5 grey levels a channel after
        # one grain field per action, shifted by a random whole offset each frame: drawing a fresh
        # field every frame cost more than rendering the face
        grain = sensor_grain(size, noise_sigma, int(rng.integers(2 ** 31)))
        shifts = rng.integers(0, 2 * GRAIN_MARGIN + 1, (n, 2))
        for i in range(n):
            image, _ = render_face(rm, albedo, verts[i], rt[i], projection, background, light)
            image = add_sensor_noise(image, grain, int(shifts[i, 0]), int(shifts[i, 1]))
            yield Frame(sid, f"{action:02d}", f"{done + i:06d}", image, verts[i].astype(np.float32),
                        rt[i].astype(np.float32), lmk[i], quality)
        done += n
        action += 1


def write_frame(root: Path, frame: Frame, labels_dir: str) -> None:
    """Write one frame's JPEG, info npz (into `labels_dir`) and landmark text in the WCPA layout."""
    rel = Path(frame.subject_id) / frame.facial_action
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, frame.jpeg_quality])
    assert ok
    for sub in ("image", labels_dir, "68landmarks"):
        (root / sub / rel).mkdir(parents=True, exist_ok=True)
    (root / "image" / rel / f"{frame.img_id}_ar.jpg").write_bytes(jpg.tobytes())
    np.savez(root / labels_dir / rel / f"{frame.img_id}_info.npz", verts=frame.verts, R_t=frame.R_t)
    text = "".join(f"{x} {y}\n" for x, y in frame.landmarks.tolist())    # Python ints format 5x faster
    (root / "68landmarks" / rel / f"{frame.img_id}_68landmarks.txt").write_text(text)


_WORKER: dict = {}


def _init_worker(spec: str, landmarks: str | None) -> None:
    cv2.setNumThreads(1)
    model = load_model(spec, landmarks)
    _WORKER.update(model=model, rm=build_render_mesh(model))


def _subject_job(index: int, is_test: bool, cfg: SynthConfig, root: str) -> list[tuple[str, str, str]]:
    rows = []
    for frame in render_subject(_WORKER["model"], _WORKER["rm"], index, cfg):
        write_frame(Path(root), frame, "info_test" if is_test else "info")
        rows.append((frame.subject_id, frame.facial_action, frame.img_id))
    return rows


def test_subject_indices(cfg: SynthConfig) -> set[int]:
    """Which subjects form the test split (subject-level, deterministic from the seed)."""
    n_test = int(round(cfg.test_subjects * cfg.subjects))
    order = np.random.default_rng([cfg.seed, 1 << 30]).permutation(cfg.subjects)
    return {int(i) for i in order[:n_test]}


def write_resources(root: Path, model: FaceModel) -> None:
    """resources/: example.obj, kpt_ind.npy, projection_matrix.txt and flip_index.npy."""
    res = root / "resources"
    res.mkdir(parents=True, exist_ok=True)
    (res / "example.obj").write_text(format_obj(model.neutral, model.triangles, "example"))
    np.save(res / "kpt_ind.npy", model.landmarks68.astype(np.int64))
    np.save(res / "flip_index.npy", model.flip_index.astype(np.int64))
    (res / "projection_matrix.txt").write_text(format_projection(wcpa_projection()))


def write_list(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """A WCPA list CSV with the header subject_id,facial_action,img_id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(LIST_COLUMNS) + "\n" + "".join(",".join(r) + "\n" for r in rows))


def synthesize(cfg: SynthConfig, progress: Callable[[int], None] | None = None) -> dict:
    """Render the data set described by `cfg` into cfg.out; returns a summary dict."""
    cfg.validate()
    model = load_model(cfg.face_model, cfg.landmarks)
    out = Path(cfg.out)
    test = test_subject_indices(cfg)
    rows: dict[int, list] = {}
    with staged_folder(out, cfg.overwrite) as tmp:
        def collect(job: tuple, result: list) -> None:
            rows[job[0]] = result
            if progress:
                progress(len(result))

        jobs = [(i, i in test, cfg, str(tmp)) for i in range(cfg.subjects)]
        run_jobs(_subject_job, jobs, cfg.workers, _init_worker, (cfg.face_model, cfg.landmarks), collect)
        train_rows = [r for i in sorted(rows) if i not in test for r in rows[i]]
        test_rows = [r for i in sorted(rows) if i in test for r in rows[i]]
        write_list(tmp / "list" / "WCPA_track2_train.csv", train_rows)
        write_list(tmp / "list" / "WCPA_track2_test.csv", test_rows)
        write_resources(tmp, model)
        summary = {"train_frames": len(train_rows), "test_frames": len(test_rows),
                   "train_subjects": cfg.subjects - len(test), "test_subjects": len(test),
                   "vertices": model.num_vertices, "triangles": int(len(model.triangles))}
        config = {**asdict(cfg), "out": str(out.resolve()), **summary}
        (tmp / SYNTH_MARKER).write_text(json.dumps(config, indent=2) + "\n")
    return summary
