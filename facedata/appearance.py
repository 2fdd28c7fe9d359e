"""What a face model looks like: render-only fills of its eye and mouth openings, and painted albedo.

The texture is drawn in the frontal plane of the neutral mesh (u, v = neutral x, -y), from the 68
landmarks and the opening loops, so it works for any topology: brows, lash lines, sclera, iris and pupil
in the eye openings, lips, a dark mouth interior with teeth, nostrils, and low-frequency skin blotches.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import cv2
import numpy as np

from facedata.face_model import FaceModel

TEXEL = 0.25e-3                  # metres per texel
EYE_DEPTH, MOUTH_DEPTH = 4e-3, 9e-3


def boundary_loops(triangles: np.ndarray) -> list[np.ndarray]:
    """The boundary loops of a triangle mesh (vertex ids in order), longest first."""
    tri = np.asarray(triangles, dtype=np.int64)
    edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    key = np.sort(edges, axis=1)
    _, inv, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    border = edges[counts[inv.ravel()] == 1]            # directed as in their triangle
    nxt = defaultdict(list)
    for a, b in border:
        nxt[int(a)].append(int(b))
    loops, seen = [], set()
    for start in sorted(nxt):
        if start in seen:
            continue
        loop, cur = [], start
        while cur not in seen:
            seen.add(cur)
            loop.append(cur)
            cur = nxt[cur][0]
        loops.append(np.asarray(loop, dtype=np.int64))
    return sorted(loops, key=len, reverse=True)


@dataclass(frozen=True, eq=False)
class RenderMesh:
    """A face model with its openings filled for rendering, and its texture layers."""

    model: FaceModel
    triangles: np.ndarray           # (F + fills, 3); fill vertices are numbered from V on
    hole_loops: tuple[np.ndarray, ...]
    hole_depth: np.ndarray          # (H,) how far each fill's centre sits behind its rim (m)
    uv: np.ndarray                  # (V + H, 2) float32 texture pixel coordinates
    layers: dict[str, np.ndarray]   # name -> (h, w) float32 coverage in [0, 1]
    mouth_tris: np.ndarray          # (F + fills,) bool, the triangles filling the mouth
    teeth: np.ndarray               # (V + H,) float64, 1 on the upper lip rim of the mouth, else 0
    boxes: dict[str, tuple[slice, slice]]   # name -> the rows and columns where that layer is not 0

    def with_fills(self, verts: np.ndarray) -> np.ndarray:
        """World vertices (V, 3) plus one centre vertex per filled opening, set back along -z.

        A fill sinks in proportion to how open its rim is, so a closed eye shows no sclera.
        """
        if not self.hole_loops:
            return verts
        neutral = self.model.neutral
        centres = np.stack([verts[loop].mean(0) for loop in self.hole_loops])
        opening = np.array([np.ptp(verts[loop, 1]) / max(np.ptp(neutral[loop, 1]), 1e-9)
                            for loop in self.hole_loops])
        sink = self.hole_depth * np.clip(opening, 0.0, 1.0)
        return np.concatenate([verts, centres - np.outer(sink, [0.0, 0.0, 1.0])])


def _to_tex(xy: np.ndarray, origin: np.ndarray) -> np.ndarray:
    return np.stack([(xy[..., 0] - origin[0]) / TEXEL, (origin[1] - xy[..., 1]) / TEXEL], -1)


def _poly(mask: np.ndarray, pts: np.ndarray, value: float = 1.0) -> None:
    cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], value, lineType=cv2.LINE_AA, shift=4)


def _line(mask: np.ndarray, pts: np.ndarray, thickness: float, value: float = 1.0) -> None:
    cv2.polylines(mask, [np.round(pts * 16).astype(np.int32)], False, value,
                  thickness=max(1, int(round(thickness))), lineType=cv2.LINE_AA, shift=4)


def _brow_polygon(pts: np.ndarray, inner_first: bool, scale: float) -> np.ndarray:
    """A tapered band around a brow polyline (texture pixels): thick at the inner end."""
    if not inner_first:
        pts = pts[::-1]
    t = np.linspace(0.0, 1.0, len(pts))
    half = (3.6 - 2.2 * t) * 1e-3 / TEXEL * scale
    tangent = np.gradient(pts, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], 1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    normal *= np.sign(-normal[:, 1:2] + 1e-12)          # point up in the texture (towards -v)
    top = pts + normal * half[:, None] * 0.9
    bottom = pts - normal * half[:, None] * 1.1
    return np.concatenate([top, bottom[::-1]])


def build_render_mesh(model: FaceModel) -> RenderMesh:
    """Fill the openings of `model` (eyes, mouth) and paint its texture layers from the landmarks."""
    v = model.neutral
    P = v[model.landmarks68]
    scale = float(np.linalg.norm(P[36:42].mean(0) - P[42:48].mean(0))) / 0.061
    loops = boundary_loops(model.triangles)[1:]             # the longest loop is the outline
    eyes = (P[36:42].mean(0), P[42:48].mean(0))
    mouth = P[60:68].mean(0)
    fills, depth, kinds = [], [], []
    nv = model.num_vertices
    for loop in loops:
        c = v[loop].mean(0)
        d_eye = min(np.linalg.norm(c[:2] - e[:2]) for e in eyes)
        d_mouth = np.linalg.norm(c[:2] - mouth[:2])
        kind = "eye" if d_eye < 0.012 * scale else "mouth" if d_mouth < 0.015 * scale else "other"
        kinds.append(kind)
        depth.append({"eye": EYE_DEPTH, "mouth": MOUTH_DEPTH, "other": 0.0}[kind] * scale)
        centre = nv + len(fills)
        fan = np.stack([np.full(len(loop), centre), np.roll(loop, -1), loop], 1)
        fills.append(fan)       # boundary edges run clockwise around a hole; reversing them faces +z
    tris = np.concatenate([model.triangles] + fills) if fills else model.triangles
    mouth_tris = np.zeros(len(tris), dtype=bool)
    teeth = np.zeros(nv + len(loops))
    start = len(model.triangles)
    for loop, kind, fan in zip(loops, kinds, fills):
        if kind == "mouth":
            mouth_tris[start:start + len(fan)] = True
            upper = v[loop, 1] > v[loop, 1].mean()
            teeth[loop] = upper.astype(np.float64)   # upper teeth show below the upper lip
        start += len(fan)
    lo, hi = v[:, :2].min(0) - 0.004, v[:, :2].max(0) + 0.004
    origin = np.array([lo[0], hi[1]])
    size = np.ceil((hi - lo) / TEXEL).astype(int) + 1
    centres_xy = np.stack([v[loop, :2].mean(0) for loop in loops]) if loops else np.zeros((0, 2))
    uv = _to_tex(np.concatenate([v[:, :2], centres_xy]), origin).astype(np.float32)
    layers = _paint_layers(model, loops, kinds, origin, (int(size[0]), int(size[1])), scale)
    return RenderMesh(model, tris.astype(np.int64), tuple(loops), np.asarray(depth), uv, layers,
                      mouth_tris, teeth, {name: _support(layer) for name, layer in layers.items()})


def _support(layer: np.ndarray) -> tuple[slice, slice]:
    rows, cols = np.flatnonzero(layer.any(1)), np.flatnonzero(layer.any(0))
    if len(rows) == 0:
        return slice(0, 0), slice(0, 0)
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _disc(shape: tuple[int, int], centre: np.ndarray, radius: float) -> np.ndarray:
    out = np.zeros(shape, np.float32)
    cv2.circle(out, tuple(int(c) for c in np.round(centre * 16)), int(round(radius * 16)), 1.0, -1,
               cv2.LINE_AA, 4)
    return out


def _paint_eye(layers: dict[str, np.ndarray], rim: np.ndarray, mm: float) -> None:
    """Sclera inside the opening, iris and pupil at its centre, a lash line along the upper lid."""
    eye = np.zeros(layers["sclera"].shape, np.float32)
    _poly(eye, rim)
    centre, width = rim.mean(0), np.ptp(rim[:, 0])
    layers["sclera"] = np.maximum(layers["sclera"], eye)
    layers["iris"] = np.maximum(layers["iris"], _disc(eye.shape, centre, 0.21 * width) * eye)
    layers["pupil"] = np.maximum(layers["pupil"], _disc(eye.shape, centre, 0.085 * width) * eye)
    upper = rim[rim[:, 1] <= centre[1]]                     # texture v grows downwards
    _line(layers["lash"], upper[np.argsort(upper[:, 0])], 1.4 * mm)
    _poly(layers["lid"], rim)


def _paint_layers(model: FaceModel, loops: list[np.ndarray], kinds: list[str], origin: np.ndarray,
                  size: tuple[int, int], scale: float) -> dict[str, np.ndarray]:
    """Coverage layers (float32 in [0, 1]) of the features, in texture pixels."""
    w, h = size
    P = _to_tex(model.neutral[model.landmarks68, :2], origin)
    mm = 1e-3 / TEXEL * scale
    layers = {k: np.zeros((h, w), np.float32) for k in
              ("brow", "lash", "sclera", "iris", "pupil", "lips", "mouth", "nostril", "lid")}
    _poly(layers["brow"], _brow_polygon(P[17:22], inner_first=False, scale=scale))
    _poly(layers["brow"], _brow_polygon(P[22:27], inner_first=True, scale=scale))
    _poly(layers["lips"], P[48:60])
    for loop, kind in zip(loops, kinds):
        rim = _to_tex(model.neutral[loop, :2], origin)
        if kind == "eye":
            _paint_eye(layers, rim, mm)
        elif kind == "mouth":
            _line(layers["mouth"], np.concatenate([rim, rim[:1]]), 0.8 * mm)   # where the lips meet
    nose_tip, subnasale = P[30], P[33]
    for sign in (-1.0, 1.0):
        c = np.array([subnasale[0] + sign * 0.33 * abs(P[35, 0] - P[31, 0]),
                      subnasale[1] - 0.3 * abs(subnasale[1] - nose_tip[1])])
        cv2.ellipse(layers["nostril"], tuple(int(v) for v in np.round(c * 16)),
                    (int(round(2.6 * mm * 16)), int(round(1.3 * mm * 16))), 15 * sign, 0, 360, 1.0, -1,
                    cv2.LINE_AA, 4)
    layers["lash"] = np.maximum(layers["lash"] - layers["sclera"] * 0.5, 0)
    # soft edges, in millimetres; the lid layer becomes a shadow around the eyes
    for name, sigma in (("brow", 0.5), ("lips", 0.6), ("nostril", 0.5), ("lash", 0.2), ("lid", 2.0)):
        layers[name] = cv2.GaussianBlur(layers[name], (0, 0), sigma * mm)
    return layers


@dataclass(frozen=True)
class Palette:
    """A subject's colours (RGB in [0, 1])."""

    skin: np.ndarray
    lips: np.ndarray
    brow: np.ndarray
    iris: np.ndarray
    sclera: np.ndarray


_SKIN = np.array([[0.95, 0.80, 0.70], [0.87, 0.68, 0.55], [0.74, 0.54, 0.40], [0.56, 0.38, 0.26],
                  [0.36, 0.24, 0.16]])
_HAIR = np.array([[0.06, 0.05, 0.04], [0.18, 0.11, 0.07], [0.33, 0.22, 0.13], [0.55, 0.42, 0.25],
                  [0.45, 0.42, 0.40]])
_IRIS = np.array([[0.25, 0.14, 0.07], [0.40, 0.26, 0.12], [0.28, 0.40, 0.55], [0.33, 0.42, 0.28]])


def random_palette(rng: np.random.Generator) -> Palette:
    """Skin from very light to very dark, darker red lips, hair-coloured brows, an iris colour."""
    t = rng.uniform(0, len(_SKIN) - 1)
    i = min(int(t), len(_SKIN) - 2)
    skin = _SKIN[i] + (t - i) * (_SKIN[i + 1] - _SKIN[i])
    skin = np.clip(skin * rng.uniform(0.92, 1.05) + rng.normal(0, 0.02, 3), 0.05, 1.0)
    lips = np.clip(skin * np.array([0.78, 0.52, 0.52]) * rng.uniform(0.75, 1.0)
                   + np.array([0.06, 0.0, 0.01]), 0.0, 1.0)
    brow = _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.8, 1.2)
    brow = np.minimum(brow, skin * 0.55)                     # brows always darker than the skin
    iris = _IRIS[rng.integers(len(_IRIS))] * rng.uniform(0.8, 1.2)
    sclera = np.array([0.93, 0.90, 0.86]) * rng.uniform(0.85, 1.0)
    return Palette(skin, lips, brow, iris, sclera)


MOUTH_COLOUR, TEETH_COLOUR = np.array([0.16, 0.05, 0.05]), np.array([0.86, 0.83, 0.76])


def mouth_albedo(teeth: np.ndarray) -> np.ndarray:
    """Albedo (n, 3) inside the mouth from the interpolated rim weight: teeth just inside the lips."""
    t = np.clip((teeth - 0.55) / 0.1, 0.0, 1.0)[:, None]
    depth = np.clip(teeth, 0.0, 1.0)[:, None]
    return MOUTH_COLOUR * (0.4 + 0.6 * depth) * (1 - t) + TEETH_COLOUR * t


def _mix(out: np.ndarray, colour, alpha: np.ndarray, box: tuple[slice, slice]) -> None:
    """Blend `colour` over `out` in place with coverage `alpha`, inside the box where alpha is not 0."""
    part = out[box]
    part += alpha[box][..., None] * (np.asarray(colour, dtype=np.float32) - part)


def paint_albedo(rm: RenderMesh, palette: Palette, rng: np.random.Generator) -> np.ndarray:
    """A subject's albedo texture (h, w, 4) float32 RGBA (alpha 1) from the layers and its palette.

    The fourth channel is padding: cv2.remap samples four-channel float images about 3x faster.
    """
    L, box = rm.layers, rm.boxes
    h, w = L["brow"].shape
    blotch = cv2.resize(rng.normal(0.0, 1.0, (6, 6)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    tone = 1.0 + 0.04 * blotch
    tone[box["lid"]] *= 1.0 - 0.12 * L["lid"][box["lid"]]
    out = tone[..., None] * palette.skin.astype(np.float32)
    # every feature is blended only where its layer is not 0 (outside, a blend leaves `out` as it is)
    _mix(out, palette.lips, L["lips"] * 0.9, box["lips"])
    _mix(out, palette.brow, L["brow"] * rng.uniform(0.75, 0.95), box["brow"])
    _mix(out, palette.skin * 0.15, L["nostril"] * 0.9, box["nostril"])
    eye_box = box["sclera"]                     # iris and pupil lie inside the sclera
    eye = np.empty(out[eye_box].shape, np.float32)
    eye[...] = palette.sclera
    _mix(eye, palette.iris, L["iris"][eye_box], (slice(None), slice(None)))
    _mix(eye, [0.02, 0.02, 0.02], L["pupil"][eye_box], (slice(None), slice(None)))
    _mix(out, eye, L["sclera"], eye_box)
    _mix(out, [0.03, 0.02, 0.02], L["lash"] * 0.95, box["lash"])
    _mix(out, palette.lips * 0.35, L["mouth"] * 0.8, box["mouth"])
    return cv2.cvtColor(out, cv2.COLOR_RGB2RGBA)
