"""What a capture looks like: head-pose sweeps, expression mixes, detector noise and textured backgrounds."""
from __future__ import annotations

import cv2
import numpy as np

from facedata.conventions import pose_to_rt, project

MAX_YAW, MAX_PITCH, MAX_ROLL = 60.0, 40.0, 15.0      # degrees, as in the ARKitFace capture protocol
MIN_DIST, MAX_DIST = 0.3, 0.9                          # metres from the camera
MARGIN = 0.03                                          # keep the face this far (fraction) inside the frame


def sample_poses(rng: np.random.Generator, n: int, verts: np.ndarray, projection: np.ndarray,
                 size: tuple[int, int]) -> np.ndarray:
    """R_t (n, 4, 4) float64 of one facial-action segment: a smooth sweep of yaw, pitch or roll.

    `verts` (n, V, 3) are the frames' world vertices; the translation is adjusted so that every vertex
    projects inside the frame.
    """
    t = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)
    phase = rng.uniform(0, 2 * np.pi)
    wave = np.sin(2 * np.pi * t * rng.uniform(0.5, 1.5) + phase)
    kind = rng.choice(["yaw", "pitch", "roll", "mixed", "still"], p=[0.35, 0.25, 0.1, 0.2, 0.1])
    base = rng.normal(0.0, [10.0, 8.0, 4.0])
    amp = {"yaw": [rng.uniform(20, MAX_YAW), 3, 2], "pitch": [4, rng.uniform(15, MAX_PITCH), 2],
           "roll": [4, 3, rng.uniform(5, MAX_ROLL)], "still": [2, 2, 1],
           "mixed": [rng.uniform(10, 45), rng.uniform(5, 30), rng.uniform(2, 10)]}[str(kind)]
    second = np.cos(2 * np.pi * t * rng.uniform(0.5, 1.5) + rng.uniform(0, 2 * np.pi))
    ypr = base[None] + np.stack([wave, second if kind == "mixed" else wave, wave], 1) * amp
    ypr += rng.normal(0.0, 0.7, ypr.shape)                     # hand-held jitter
    ypr = np.clip(ypr, [-MAX_YAW, -MAX_PITCH, -MAX_ROLL], [MAX_YAW, MAX_PITCH, MAX_ROLL])
    dist = np.clip(rng.uniform(MIN_DIST, MAX_DIST) + 0.04 * np.sin(2 * np.pi * t + rng.uniform(0, 6))
                   + rng.normal(0, 0.005, n), MIN_DIST, MAX_DIST)
    # place the head: a random point of the frame at that distance, then pull the face inside
    half = dist / projection[0, 0]                             # half the frame width at that depth
    offset = rng.uniform(-0.5, 0.5, 2)[None] * half[:, None] + rng.normal(0, 0.004, (n, 2))
    trans = np.column_stack([offset, -dist])
    rt = pose_to_rt(*np.deg2rad(ypr).T, trans)
    w, h = size
    lo_px, hi_px = np.array([MARGIN * w, MARGIN * h]), np.array([(1 - MARGIN) * w, (1 - MARGIN) * h])
    focal = projection[0, 0] * w / 2.0
    for _ in range(3):   # the shift is nearly linear in pixels; two or three passes settle it
        pix = project(verts, rt, projection, size)
        shift = np.maximum(lo_px - pix.min(1), 0.0) - np.maximum(pix.max(1) - hi_px, 0.0)
        if not np.any(shift):
            break
        rt[:, 3, 0] += shift[:, 0] * dist / focal
        rt[:, 3, 1] -= shift[:, 1] * dist / focal                # image y points down
    return rt


def sample_expressions(rng: np.random.Generator, n: int, names: tuple[str, ...]) -> np.ndarray:
    """Blendshape weights (n, K) of one facial-action segment: an action rising and falling, plus blinks."""
    k = len(names)
    out = np.zeros((n, k))
    if k == 0:
        return out
    target = np.zeros(k)
    if rng.random() > 0.1:                                   # one segment in ten stays neutral
        for i in rng.choice(k, size=min(k, int(rng.integers(1, 4))), replace=False):
            target[i] = rng.uniform(0.4, 1.0)
            twin = _twin(names, names[i])
            if twin is not None and rng.random() < 0.6:      # often both sides together
                target[names.index(twin)] = target[i] * rng.uniform(0.8, 1.0)
    t = np.linspace(0.0, 1.0, n)
    ramp = np.clip(np.sin(np.pi * np.clip(t * rng.uniform(0.9, 1.4), 0, 1)) * 1.3, 0, 1) if n > 1 else np.ones(1)
    out = ramp[:, None] * target[None]
    out += np.abs(rng.normal(0.0, 0.05, (n, k))) * (rng.random(k) < 0.15)[None]   # a little of others
    blinks = [names.index(b) for b in ("eyeBlinkLeft", "eyeBlinkRight") if b in names]
    if blinks:
        closed = rng.random(n) < 0.08
        out[np.ix_(closed, blinks)] = rng.uniform(0.7, 1.0)
    return np.clip(out, 0.0, 1.0)


def _twin(names: tuple[str, ...], name: str) -> str | None:
    for a, b in (("Left", "Right"), ("Right", "Left")):
        if name.endswith(a) and name[: -len(a)] + b in names:
            return name[: -len(a)] + b
    return None


def detector_landmarks(rng: np.random.Generator, points: np.ndarray, interocular_px: np.ndarray) -> np.ndarray:
    """Integer pixel landmarks (n, 68, 2) like a 2D detector's: noise about 2% of the eye distance."""
    sigma = 0.02 * interocular_px[:, None, None] * np.where(np.arange(68) < 17, 2.0, 1.0)[None, :, None]
    bias = rng.normal(0.0, 0.01, (1, 1, 2)) * interocular_px[:, None, None]
    return np.round(points + bias + rng.normal(0.0, 1.0, points.shape) * sigma).astype(np.int64)


def random_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """An RGB uint8 (H, W, 3) clutter: smooth colour fields, random shapes, stripes and grain, defocused."""
    w, h = size
    g = int(rng.integers(2, 7))
    # uint8 throughout: OpenCV's saturating uint8 arithmetic is several times faster than float here
    field = np.round(rng.uniform(0, 255, (g, g, 3))).astype(np.uint8)
    img = cv2.resize(field, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(4, 18))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(4)
        p = rng.integers(-w // 4, w + w // 4, 4)
        if kind == 0:
            cv2.rectangle(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), colour, -1)
        elif kind == 1:
            cv2.circle(img, (int(p[0]), int(p[1])), int(rng.integers(10, w // 3)), colour, -1, cv2.LINE_AA)
        elif kind == 2:
            cv2.line(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), colour,
                     int(rng.integers(2, 30)), cv2.LINE_AA)
        else:
            pts = rng.integers(0, max(w, h), (int(rng.integers(3, 7)), 2)).astype(np.int32)
            cv2.fillPoly(img, [pts], colour, cv2.LINE_AA)
    if rng.random() < 0.5:   # a patterned surface: stripes, darkened by a quarter, blended in
        period = int(rng.integers(8, 60))
        angle = rng.uniform(0, np.pi)
        # sin(2 pi s / period) > 0 exactly where floor(2 s / period) is even
        s = np.add.outer(np.arange(h, dtype=np.float32) * np.float32(2 * np.sin(angle) / period),
                         np.arange(w, dtype=np.float32) * np.float32(2 * np.cos(angle) / period))
        stripe = (np.floor(s).astype(np.int32) & 1) == 0
        np.copyto(img, cv2.convertScaleAbs(img, alpha=0.75), where=stripe[..., None])
    grain = np.empty((h // 4, w // 4, 3), np.float32)
    cv2.setRNGSeed(int(rng.integers(2 ** 31)))
    cv2.randn(grain, (0.0,) * 3, (12.0,) * 3)           # a scalar would reach the first channel only
    img = cv2.add(img, cv2.resize(grain, (w, h)), dtype=cv2.CV_8U)
    blur = rng.uniform(0.0, 4.0)
    if blur > 0.5:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    return img
