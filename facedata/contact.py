"""A contact sheet of synthetic frames with their projected 68 landmarks, to look at the data."""
from __future__ import annotations

import itertools

import cv2
import numpy as np

from facedata.appearance import build_render_mesh
from facedata.conventions import project, rt_to_pose, wcpa_projection
from facedata.synth import SynthConfig, load_model, render_subject


def contact_sheet(face_model: str = "procedural", landmarks: str | None = None, n: int = 16, seed: int = 0,
                  size: int = 800, tile: int = 256, columns: int = 4) -> np.ndarray:
    """An RGB uint8 sheet of `n` face crops (one per synthetic subject) with projected landmarks drawn."""
    model = load_model(face_model, landmarks)
    rm = build_render_mesh(model)
    cfg = SynthConfig(out="", frames_per_subject=10, frames_per_action=10, seed=seed, size=size)
    rows = -(-n // columns)
    sheet = np.full((rows * tile, columns * tile, 3), 255, np.uint8)
    for k in range(n):
        rng = np.random.default_rng([seed, k, 7])
        frame = next(itertools.islice(render_subject(model, rm, k, cfg), int(rng.integers(2, 9)), None))
        pts = project(frame.verts[model.landmarks68].astype(np.float64), frame.R_t.astype(np.float64),
                      wcpa_projection(), (size, size))
        allp = project(frame.verts.astype(np.float64), frame.R_t.astype(np.float64), wcpa_projection(),
                       (size, size))
        centre = 0.5 * (allp.min(0) + allp.max(0))
        half = 0.62 * np.ptp(allp, axis=0).max()
        scale = tile / (2 * half)
        m = np.array([[scale, 0, tile / 2 - scale * centre[0]], [0, scale, tile / 2 - scale * centre[1]]])
        crop = cv2.warpAffine(frame.image, m, (tile, tile), flags=cv2.INTER_AREA, borderValue=(255, 255, 255))
        p = pts * scale + m[:, 2]
        for x, y in p:
            cv2.circle(crop, (int(round(x * 4)), int(round(y * 4))), 6, (40, 255, 40), -1, cv2.LINE_AA, 2)
        (yaw, pitch, roll), t = rt_to_pose(frame.R_t.astype(np.float64))
        label = f"y{np.degrees(yaw):+.0f} p{np.degrees(pitch):+.0f} r{np.degrees(roll):+.0f} {-t[2]:.2f}m"
        cv2.putText(crop, label, (4, tile - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(crop, label, (4, tile - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
        r, c = divmod(k, columns)
        sheet[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = crop
    return sheet
