"""The built-in procedural face: a closed-form surface on a 33 x 37 grid with eye and mouth openings.

The surface is a height field over the frontal (x, y) plane in ARKit axes (metres, +y up, +z out of the
face): an elliptic cross-section per row (14 cm wide at the temples, 17.5 cm from chin to hairline) plus
smooth closed-form features: forehead slope, brow ridge, eye sockets with eyeballs, a nose with bridge,
tip and alae, cheeks, lips with a cupid's bow, the mentolabial fold, chin and jaw line. Rows and columns
are placed so that the 68 iBUG landmarks fall on vertices; the eyes and the mouth are slits (their inner
rows are duplicated), opened by a closed-form lid and lip profile, like the holes of the ARKit mesh.
"""
from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator

HALF_COLS = 16                      # columns -16..16
ROWS = 37
EYE_ROW, MOUTH_ROW = 22, 9
EYE_INNER, EYE_OUTER = 3, 9         # eye corners (columns, each side)
MOUTH_SLIT, MOUTH_CORNER = 5, 6     # end of the mouth opening, outer lip corner
MM = 1e-3

# column parameter s in [0, 1] (|x| / half width of the row) at |column| = knot
_COL_KNOTS = ([0, 3, 6, 9, 12, 16], [0.0, 0.224, 0.397, 0.63, 0.83, 1.0])
# row base heights: chin bottom, lower lip border, mouth, upper lip border, subnasale, nose tip,
# eye line, brow line, hairline
_ROW_KNOTS = ([0, 7, 9, 11, 14, 17, 22, 26, 36],
              [-0.083, -0.0487, -0.0405, -0.0336, -0.0186, -0.004, 0.0215, 0.040, 0.092])
# face outline half width by height
_WIDTH = PchipInterpolator(
    [-0.083, -0.078, -0.068, -0.058, -0.048, -0.035, -0.015, 0.01, 0.03, 0.05, 0.07, 0.092],
    [0.026, 0.036, 0.048, 0.057, 0.0625, 0.0655, 0.068, 0.071, 0.0718, 0.0705, 0.062, 0.047])
# midline depth without nose and lips
_FRONT = PchipInterpolator(
    [-0.083, -0.078, -0.07, -0.062, -0.056, -0.03, 0.0, 0.02, 0.034, 0.05, 0.067, 0.084, 0.092],
    [0.038, 0.051, 0.056, 0.055, 0.054, 0.058, 0.058, 0.057, 0.0555, 0.056, 0.053, 0.047, 0.042])
# the head's cross-section: an ellipse of this half width and 8.8 cm depth; wider than the face outline
# at the hairline (the skull goes on) and only a little wider at the chin
_HEAD = PchipInterpolator([-0.083, -0.065, -0.045, -0.02, 0.01, 0.092], [0.05, 0.056, 0.066, 0.071, 0.075, 0.075])
HEAD_DEPTH = 0.088

# (row, column, copy) of the 68 iBUG landmarks on the left half (x < 0) and the midline; copy 1 is the
# lower copy of a slit vertex. The right half is mirrored by `_mirror_landmark`.
_JAW = [(20, -16), (17, -16), (13, -16), (8, -16), (5, -16), (3, -16), (1, -16), (0, -12), (0, 0)]


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _columns() -> np.ndarray:
    c = np.arange(-HALF_COLS, HALF_COLS + 1)
    return np.sign(c) * np.interp(np.abs(c), *_COL_KNOTS)


def _landmark_cells() -> list[tuple[int, int, int]]:
    """(row, column, copy) of each of the 68 landmarks in iBUG order."""
    jaw = [(r, c, 0) for r, c in _JAW] + [(r, -c, 0) for r, c in reversed(_JAW[:-1])]
    brows = [(26, c, 0) for c in (-12, -10, -8, -6, -4)] + [(26, c, 0) for c in (4, 6, 8, 10, 12)]
    nose = [(24, 0, 0), (21, 0, 0), (19, 0, 0), (17, 0, 0)] + [(14, c, 0) for c in (-3, -1, 0, 1, 3)]
    right_eye = [(EYE_ROW, -9, 0), (EYE_ROW, -7, 0), (EYE_ROW, -5, 0), (EYE_ROW, -3, 0),
                 (EYE_ROW, -5, 1), (EYE_ROW, -7, 1)]
    left_eye = [(EYE_ROW, 3, 0), (EYE_ROW, 5, 0), (EYE_ROW, 7, 0), (EYE_ROW, 9, 0),
                (EYE_ROW, 7, 1), (EYE_ROW, 5, 1)]
    outer = ([(MOUTH_ROW, -6, 0)] + [(11, c, 0) for c in (-4, -2, 0, 2, 4)] + [(MOUTH_ROW, 6, 0)]
             + [(7, c, 0) for c in (4, 2, 0, -2, -4)])
    inner = ([(MOUTH_ROW, -5, 0)] + [(MOUTH_ROW, c, 0) for c in (-2, 0, 2)] + [(MOUTH_ROW, 5, 0)]
             + [(MOUTH_ROW, c, 1) for c in (2, 0, -2)])
    cells = jaw + brows + nose + right_eye + left_eye + outer + inner
    assert len(cells) == 68
    return cells


def _topology() -> tuple[np.ndarray, np.ndarray, dict[tuple[int, int], int]]:
    """Grid vertex ids (ROWS, 2*HALF_COLS+1), triangles (F, 3) and the ids of the lower slit copies."""
    ncol = 2 * HALF_COLS + 1
    ids = np.arange(ROWS * ncol).reshape(ROWS, ncol)
    lower: dict[tuple[int, int], int] = {}
    nxt = ids.size
    slits = [(MOUTH_ROW, c) for c in range(-MOUTH_SLIT + 1, MOUTH_SLIT)]
    slits += [(EYE_ROW, s * c) for s in (-1, 1) for c in range(EYE_INNER + 1, EYE_OUTER)]
    for rc in sorted(slits, key=lambda rc: (rc[0], rc[1])):
        lower[rc] = nxt
        nxt += 1
    tris = []
    for r in range(ROWS - 1):
        for c in range(-HALF_COLS, HALF_COLS):
            def vid(rr: int, cc: int, from_below: bool) -> int:
                # quads below a slit row use its lower copies
                if from_below and (rr, cc) in lower:
                    return lower[(rr, cc)]
                return int(ids[rr, cc + HALF_COLS])
            a, b = vid(r, c, False), vid(r, c + 1, False)
            d, e = vid(r + 1, c, True), vid(r + 1, c + 1, True)
            if c < 0:   # mirror-symmetric diagonals, counter-clockwise seen from +z
                tris += [(a, b, e), (a, e, d)]
            else:
                tris += [(a, b, d), (b, e, d)]
    return ids, np.asarray(tris, dtype=np.int64), lower


def _lip_offsets(x: np.ndarray, row: np.ndarray, lower_copy: np.ndarray) -> np.ndarray:
    """Vertical offsets (m) shaping the lips: cupid's bow, lip heights tapering to the corners."""
    mw = 0.0246                                   # outer corner
    u = np.abs(x) / mw
    inside = 1.0 - _smoothstep((u - 1.0) / 0.7)
    gap = 1.0 * MM * np.sqrt(np.clip(1.0 - (np.abs(x) / 0.0211) ** 2, 0.0, 1.0))
    up_h = (7.2 * MM * np.clip(1 - u ** 2, 0, 1) ** 0.45 + 1.2 * MM
            - 0.9 * MM * np.exp(-(x / (3.5 * MM)) ** 2))          # cupid's bow dip at the philtrum
    lo_h = 8.8 * MM * np.clip(1 - u ** 2, 0, 1) ** 0.6 + 1.0 * MM
    base = np.interp(np.arange(ROWS), *_ROW_KNOTS)
    off = np.zeros_like(x)
    # feature rows: border rows move to the lip profile, the slit opens by the gap
    up_border = (up_h - (base[11] - base[MOUTH_ROW])) * inside
    lo_border = -(lo_h - (base[MOUTH_ROW] - base[7])) * inside
    slit = np.where(lower_copy, -gap, gap)
    table = {5: 0.0 * x, 6: 0.35 * lo_border, 7: lo_border, 8: 0.5 * (lo_border + slit),
             MOUTH_ROW: slit, 10: 0.5 * (up_border + slit), 11: up_border, 12: 0.45 * up_border,
             13: 0.0 * x}
    for r, val in table.items():
        off = np.where(row == r, val, off)
    return off


def _eye_offsets(x: np.ndarray, row: np.ndarray, lower_copy: np.ndarray) -> np.ndarray:
    """Vertical offsets (m) opening the eyes into almonds, with a slight upward tilt to the outside."""
    cols = _columns()
    w_eye = float(_WIDTH(np.interp(EYE_ROW, *_ROW_KNOTS)))
    x_in, x_out = w_eye * cols[HALF_COLS + EYE_INNER], w_eye * cols[HALF_COLS + EYE_OUTER]
    t = (np.abs(x) - x_in) / (x_out - x_in)
    tc = np.clip(t, 0.0, 1.0)
    up = 5.0 * MM * np.sin(np.pi * tc) ** 0.75 * (1.0 - 0.25 * tc)
    lo = 3.3 * MM * np.sin(np.pi * tc) ** 0.9
    tilt = 1.4 * MM * _smoothstep(t) * (1.0 - _smoothstep((t - 1.0) / 0.8))
    table = {19: 0.1 * tilt, 20: 0.4 * tilt - 0.2 * lo, 21: 0.7 * tilt - 0.55 * lo,
             EYE_ROW: tilt + np.where(lower_copy, -lo, up), 23: 0.75 * tilt + 0.6 * up,
             24: 0.4 * tilt + 0.25 * up, 25: 0.1 * tilt}
    off = np.zeros_like(x)
    for r, val in table.items():
        off = np.where(row == r, val, off)
    return off


def _brow_offsets(x: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Vertical offsets (m) arching the brow line."""
    arch = np.interp(np.abs(x), [0.0, 0.016, 0.025, 0.039, 0.050, 0.058, 0.072],
                     [2.0, 3.4, 4.4, 4.6, 0.9, -4.1, -6.0]) * MM
    return np.select([row == 26, row == 27, row == 25], [arch, 0.5 * arch, 0.3 * arch], 0.0)


def _outline_offsets(x: np.ndarray, y0: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Vertical offsets (m) rounding the top corners of the grid: the hairline curves down to the temples."""
    top = np.clip((row - 29) / (ROWS - 1 - 29), 0.0, 1.0) ** 1.5
    return -0.010 * top * (x / _WIDTH(y0)) ** 2


def _gauss(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def _sym_gauss(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    return _gauss(np.abs(x), y, cx, cy, sx, sy)


def _nose(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Nose height (m) over the face: bridge, tip, columella and alae."""
    height = np.interp(y, [-0.0225, -0.019, -0.016, -0.012, -0.006, 0.0, 0.008, 0.017, 0.026, 0.034],
                       [0.0, 6.0, 12.0, 18.5, 21.0, 20.0, 13.0, 6.5, 2.5, 0.0]) * MM
    width = np.interp(y, [-0.022, -0.016, -0.008, 0.0, 0.01, 0.02, 0.034],
                      [0.007, 0.011, 0.014, 0.013, 0.0095, 0.0085, 0.009])
    ridge = height * np.clip(1.0 - (x / width) ** 2, 0.0, 1.0) ** 1.3
    alae = 6.0 * MM * _sym_gauss(x, y, 0.0135, -0.0125, 0.0045, 0.0045)
    crease = -2.0 * MM * _sym_gauss(x, y, 0.019, -0.008, 0.003, 0.008)   # alar-facial groove
    return ridge + alae + crease


def _depth(x: np.ndarray, y: np.ndarray, y_row: np.ndarray) -> np.ndarray:
    """Closed-form depth z (m) of the neutral face at (x, y), on the grid row whose base height is y_row.

    The cross-section ellipse is the row's, so rows whose ends are lifted to round the outline keep
    wrapping back instead of curling forward.
    """
    a = np.maximum(_HEAD(y_row), 1.05 * _WIDTH(y_row))
    z = _FRONT(y) - HEAD_DEPTH * (1.0 - np.sqrt(np.clip(1.0 - (x / a) ** 2, 0.0, 1.0)))
    z += 2.5 * MM * _sym_gauss(x, y, 0.040, 0.036, 0.012, 0.006)          # brow ridge
    z += -14.0 * MM * _sym_gauss(x, y, 0.024, 0.023, 0.011, 0.0085)       # eye sockets
    z += -4.0 * MM * _sym_gauss(x, y, 0.013, 0.026, 0.004, 0.006)         # inner socket, beside the bridge
    z += 6.5 * MM * _sym_gauss(x, y, 0.031, 0.0215, 0.0075, 0.0055)       # eyeballs under the lids
    z += 3.0 * MM * _sym_gauss(x, y, 0.034, -0.004, 0.012, 0.010)         # cheekbones
    z += -2.0 * MM * _sym_gauss(x, y, 0.034, 0.012, 0.010, 0.003)         # lower lid crease
    z += _nose(x, y)
    lips = (5.0 * MM * _gauss(x, y, 0.0, -0.0365, 0.013, 0.0035)          # upper lip
            + 5.5 * MM * _gauss(x, y, 0.0, -0.0445, 0.0125, 0.0035)       # lower lip
            - 2.0 * MM * _gauss(x, y, 0.0, -0.0405, 0.02, 0.0012)         # lips meet
            - 4.5 * MM * _sym_gauss(x, y, 0.0265, -0.0405, 0.005, 0.006)  # mouth corners
            - 1.2 * MM * _gauss(x, y, 0.0, -0.028, 0.0025, 0.004))        # philtrum
    z += lips
    z += -2.5 * MM * _gauss(x, y, 0.0, -0.0565, 0.014, 0.003)             # mentolabial fold
    z += 2.5 * MM * _gauss(x, y, 0.0, -0.071, 0.013, 0.007)               # chin
    return z


def procedural_mesh() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(neutral vertices (V, 3) float64 in metres, triangles (F, 3) int64, landmarks68 (68,) int64)."""
    ids, tris, lower = _topology()
    cols = _columns()
    base = np.interp(np.arange(ROWS), *_ROW_KNOTS)
    nv = ids.size + len(lower)
    row = np.empty(nv, dtype=np.int64)
    col = np.empty(nv, dtype=np.int64)
    row[: ids.size] = np.repeat(np.arange(ROWS), ids.shape[1])
    col[: ids.size] = np.tile(np.arange(-HALF_COLS, HALF_COLS + 1), ROWS)
    is_lower = np.zeros(nv, dtype=bool)
    for (r, c), vid in lower.items():
        row[vid], col[vid], is_lower[vid] = r, c, True
    y0 = base[row]
    x = _WIDTH(y0) * cols[col + HALF_COLS]
    y = (y0 + _lip_offsets(x, row, is_lower) + _eye_offsets(x, row, is_lower) + _brow_offsets(x, row)
         + _outline_offsets(x, y0, row))
    z = _depth(x, y, y0)
    verts = np.stack([x, y, z], axis=1)
    lmk = []
    for r, c, copy in _landmark_cells():
        lmk.append(lower[(r, c)] if copy else int(ids[r, c + HALF_COLS]))
    return verts, tris, np.asarray(lmk, dtype=np.int64)
