"""Landmark-driven deformations for any face mesh: expression blendshapes and identity modes.

Meshes without blendshapes (the procedural face, a WCPA root's example.obj) get a generic set of 16
ARKit-named expressions, and every model gets 12 smooth, mirror-symmetric identity modes. All are built
from the 68 landmarks of the neutral mesh, so they work on any topology with eye and mouth openings.
"""
from __future__ import annotations

import numpy as np

MM = 1e-3
REF_INTEROCULAR = 0.061     # ARKit reference face, metres between the eye centres

RIGHT_EYE_UP, RIGHT_EYE_LO = [36, 37, 38, 39], [36, 41, 40, 39]    # subject's right, x < 0
LEFT_EYE_UP, LEFT_EYE_LO = [42, 43, 44, 45], [42, 47, 46, 45]      # subject's left, x > 0
INNER_UP, INNER_LO = [60, 61, 62, 63, 64], [60, 67, 66, 65, 64]


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _curve(xq: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """y of a landmark polyline (n, 2+) at xq, held constant beyond its ends."""
    order = np.argsort(pts[:, 0])
    return np.interp(xq, pts[order, 0], pts[order, 1])


def _gauss(v: np.ndarray, cx: float, cy: float, sx: float, sy: float | None = None) -> np.ndarray:
    sy = sx if sy is None else sy
    return np.exp(-0.5 * (((v[:, 0] - cx) / sx) ** 2 + ((v[:, 1] - cy) / sy) ** 2))


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance (V,) of 2D points p (V, 2) to the polyline through a[i] -> b[i]."""
    ab = b - a
    t = np.clip(((p[:, None] - a[None]) * ab[None]).sum(-1) / (ab * ab).sum(-1)[None], 0.0, 1.0)
    return np.linalg.norm(p[:, None] - (a[None] + t[..., None] * ab[None]), axis=-1).min(axis=1)


def _blink(v: np.ndarray, P: np.ndarray, up: list[int], lo: list[int], scale: float) -> np.ndarray:
    """Close one eye: the opening collapses onto the lower lid, the skin above follows."""
    y_up, y_lo = _curve(v[:, 0], P[up]), _curve(v[:, 0], P[lo])
    height = np.maximum(y_up - y_lo, 0.0)
    y = v[:, 1]
    dy = np.where(y <= y_lo, 0.0, np.where(y <= y_up, -(y - y_lo),
                                           -height * (1.0 - _smoothstep((y - y_up) / (12 * MM * scale)))))
    out = np.zeros_like(v)
    out[:, 1] = dy
    out[:, 2] = 0.25 * np.abs(dy) * (y > y_lo)    # the closing lid slides over the eyeball
    return out


def _jaw_open(v: np.ndarray, P: np.ndarray, scale: float) -> np.ndarray:
    """Rotate the lower face about a hinge below the ears; the lips part along the mouth line."""
    x, y = v[:, 0], v[:, 1]
    y_up, y_lo = _curve(x, P[INNER_UP]), _curve(x, P[INNER_LO])
    mid = 0.5 * (y_up + y_lo)
    half_gap = np.maximum(0.5 * (y_up - y_lo), 0.4 * MM * scale)
    corner = 0.5 * (P[64, 0] - P[60, 0])
    # between the lips the weight steps from 0 to 1; beyond the mouth corners the skin stretches
    # smoothly over about 2.5 cm, so no crease runs out of the corners
    sharp = _smoothstep(0.5 + 0.5 * (mid - y) / half_gap)
    soft = _smoothstep(0.5 + 0.5 * (mid - y) / (12 * MM * scale))
    beyond = _smoothstep((np.abs(x - 0.5 * (P[60, 0] + P[64, 0])) - corner + MM * scale) / (4 * MM * scale))
    w = (1.0 - beyond) * sharp + beyond * soft
    pivot = np.array([P[33, 1] - 5 * MM * scale, v[:, 2].min() - 30 * MM * scale])
    angle = np.deg2rad(20.0)
    r = v[:, 1:] - pivot
    rot = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    out = np.zeros_like(v)
    out[:, 1:] = (r @ rot - r) * w[:, None]
    return out


def _brow_weight(v: np.ndarray, P: np.ndarray, ids: list[int], scale: float) -> np.ndarray:
    """Weight of the skin around one brow, fading to zero on the upper lid."""
    pts = P[ids, :2]
    d = _segment_distance(v[:, :2], pts[:-1], pts[1:])
    lid_top = max(P[RIGHT_EYE_UP, 1].max(), P[LEFT_EYE_UP, 1].max())
    above = _smoothstep((v[:, 1] - lid_top - 2 * MM * scale) / (6 * MM * scale))
    return np.exp(-0.5 * (d / (9 * MM * scale)) ** 2) * above


def generic_blendshapes(neutral: np.ndarray, lmk: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """16 ARKit-named expression blendshapes (names, (16, V, 3)) made from the 68 landmarks."""
    v = np.asarray(neutral, dtype=np.float64)
    P = v[lmk]
    s = float(np.linalg.norm(P[36:42].mean(0) - P[42:48].mean(0))) / REF_INTEROCULAR
    shapes: dict[str, np.ndarray] = {}
    shapes["jawOpen"] = _jaw_open(v, P, s)
    shapes["eyeBlinkLeft"] = _blink(v, P, LEFT_EYE_UP, LEFT_EYE_LO, s)
    shapes["eyeBlinkRight"] = _blink(v, P, RIGHT_EYE_UP, RIGHT_EYE_LO, s)
    mouth = P[48:60].mean(0)
    for side, corner in (("Left", P[54]), ("Right", P[48])):
        sign = 1.0 if side == "Left" else -1.0
        w = _gauss(v, corner[0], corner[1], 14 * MM * s)[:, None]
        shapes[f"mouthSmile{side}"] = w * np.array([sign * 5.0, 9.0, -5.0]) * MM * s
        shapes[f"mouthFrown{side}"] = w * np.array([sign * 1.5, -6.0, -1.0]) * MM * s
    around_mouth = _gauss(v, mouth[0], mouth[1], 20 * MM * s, 15 * MM * s)[:, None]
    pucker = np.zeros_like(v)
    pucker[:, 0] = -0.35 * (v[:, 0] - mouth[0])
    pucker[:, 2] = 8 * MM * s
    shapes["mouthPucker"] = pucker * around_mouth
    shapes["mouthLeft"] = around_mouth * np.array([9.0, 0.0, 0.0]) * MM * s
    shapes["mouthRight"] = around_mouth * np.array([-9.0, 0.0, 0.0]) * MM * s
    cheek_y = 0.5 * (P[33, 1] + mouth[1])
    cheek_x = abs(P[54, 0] - P[48, 0]) / 2 + 16 * MM * s
    puff = np.zeros_like(v)
    for sign in (-1.0, 1.0):
        w = _gauss(v, sign * cheek_x, cheek_y, 16 * MM * s)
        puff += w[:, None] * np.array([sign * 4.0, 0.0, 5.0]) * MM * s
    shapes["cheekPuff"] = puff
    right_brow, left_brow = list(range(17, 22)), list(range(22, 27))
    w_right, w_left = _brow_weight(v, P, right_brow, s), _brow_weight(v, P, left_brow, s)
    inner = (_gauss(v, P[21, 0], P[21, 1], 12 * MM * s, 40 * MM) * w_right
             + _gauss(v, P[22, 0], P[22, 1], 12 * MM * s, 40 * MM) * w_left)
    shapes["browInnerUp"] = inner[:, None] * np.array([0.0, 8.0, 0.5]) * MM * s
    shapes["browOuterUpLeft"] = (_gauss(v, P[25, 0], P[25, 1], 12 * MM * s, 40 * MM)
                                 * w_left)[:, None] * np.array([0.0, 7.0, 0.0]) * MM * s
    shapes["browOuterUpRight"] = (_gauss(v, P[18, 0], P[18, 1], 12 * MM * s, 40 * MM)
                                  * w_right)[:, None] * np.array([0.0, 7.0, 0.0]) * MM * s
    shapes["browDownLeft"] = w_left[:, None] * np.array([-2.0, -5.0, 1.0]) * MM * s
    shapes["browDownRight"] = w_right[:, None] * np.array([2.0, -5.0, 1.0]) * MM * s
    names = tuple(sorted(shapes))
    return names, np.stack([shapes[n] for n in names])


def generic_identity_modes(neutral: np.ndarray, lmk: np.ndarray) -> np.ndarray:
    """12 smooth, mirror-symmetric identity modes (12, V, 3), each about one standard deviation."""
    v = np.asarray(neutral, dtype=np.float64)
    P = v[lmk]
    s = float(np.linalg.norm(P[36:42].mean(0) - P[42:48].mean(0))) / REF_INTEROCULAR
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    zeros = np.zeros_like(v)
    modes = []

    def mode(dx=0.0, dy=0.0, dz=0.0) -> None:
        m = zeros.copy()
        m[:, 0], m[:, 1], m[:, 2] = dx, dy, dz
        modes.append(m)

    mode(dx=0.05 * x)                                               # face width
    mode(dy=0.05 * (y - P[30, 1]))                                  # face length
    mode(dz=0.07 * (z - z.min()))                                   # face depth
    nose = _gauss(v, 0.0, 0.5 * (P[27, 1] + P[33, 1]), 12 * MM * s, 20 * MM * s)
    base = np.array([0.0, P[33, 1], 0.5 * (P[31, 2] + P[35, 2])])
    mode(*(0.15 * (v - base) * nose[:, None]).T)                    # nose size
    mode(dz=3.5 * MM * s * _gauss(v, 0.0, P[30, 1], 9 * MM * s))    # nose tip protrusion
    lower = _smoothstep((P[33, 1] - y) / (35 * MM * s))
    mode(dx=0.07 * x * lower)                                       # jaw width
    chin = _smoothstep((P[57, 1] - y + 5 * MM * s) / (30 * MM * s))   # gentle: no fold at 2.5 sigma
    mode(dy=-3 * MM * s * chin, dz=1.0 * MM * s * chin)             # chin length
    eyes = sum(_gauss(v, P[a:b, 0].mean(), P[a:b, 1].mean(), 13 * MM * s) * np.sign(P[a:b, 0].mean())
               for a, b in ((36, 42), (42, 48)))
    mode(dx=2.5 * MM * s * eyes)                                    # eye spacing
    mouth = P[48:60].mean(0)
    mouth_w = _gauss(v, 0.0, mouth[1], 18 * MM * s, 10 * MM * s)
    mode(dx=0.12 * x * mouth_w)                                     # mouth width
    lips = _gauss(v, 0.0, mouth[1], 16 * MM * s, 6 * MM * s)
    mode(dy=0.25 * (y - mouth[1]) * lips, dz=1.5 * MM * s * lips)   # lip fullness
    brow_y = P[17:27, 1].mean()
    mode(dz=-0.12 * np.maximum(y - brow_y, 0.0))                    # forehead slope
    cheeks = sum(_gauss(v, sg * (P[54, 0] + 16 * MM * s), P[33, 1], 16 * MM * s) for sg in (-1, 1))
    mode(dx=3 * MM * s * np.sign(x) * cheeks, dz=3 * MM * s * cheeks)  # cheek fullness
    return np.stack(modes)
