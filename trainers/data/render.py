"""Render a posed face over a background: z-buffered rasterisation, textured albedo, Lambert + Blinn light."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from trainers.data.appearance import RenderMesh, mouth_albedo
from trainers.data.camera import project_camera, to_camera
from trainers.data.raster import rasterize


@dataclass(frozen=True)
class Lighting:
    """Ambient plus one directional light (camera space), with a specular sheen."""

    ambient: float
    diffuse: float
    direction: np.ndarray     # (3,) unit vector from the surface towards the light, camera space
    specular: float
    shininess: float
    colour: np.ndarray        # (3,) RGB tint of the light


def random_lighting(rng: np.random.Generator) -> Lighting:
    """Ambient 0.25-0.6, a directional light from a random direction in front of the face."""
    az, el = rng.uniform(-np.pi * 0.45, np.pi * 0.45), rng.uniform(-0.5, 0.9)
    direction = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
    colour = np.clip(np.array([1.0, 1.0, 1.0]) + rng.normal(0.0, 0.05, 3), 0.8, 1.15)
    return Lighting(ambient=rng.uniform(0.25, 0.6), diffuse=rng.uniform(0.5, 0.95),
                    direction=direction / np.linalg.norm(direction), specular=rng.uniform(0.02, 0.12),
                    shininess=rng.uniform(8.0, 30.0), colour=colour)


def vertex_normals(verts: np.ndarray, triangles: np.ndarray, num: int | None = None) -> np.ndarray:
    """Area-weighted unit vertex normals (num or V, 3) of counter-clockwise triangles."""
    p = verts[triangles]
    fn = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    out = np.zeros((len(verts) if num is None else num, 3))
    for k in range(3):
        np.add.at(out, triangles[:, k], fn)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-20)


def render_face(rm: RenderMesh, albedo: np.ndarray, verts: np.ndarray, R_t: np.ndarray,
                projection: np.ndarray, background: np.ndarray, light: Lighting) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 image (H, W, 3), face mask (H, W) bool) of world vertices (V, 3) posed by R_t."""
    h, w = background.shape[:2]
    full = rm.with_fills(verts)
    cam = to_camera(full, R_t)
    pix = project_camera(cam, projection, (w, h))
    frags = rasterize(pix, -cam[:, 2], rm.triangles, (w, h))
    image = background.copy()
    mask = np.zeros((h, w), dtype=bool)
    if len(frags.x) == 0:
        return image, mask
    nv = rm.model.num_vertices
    normals = vertex_normals(cam, rm.model.triangles, len(full))
    for loop, centre in zip(rm.hole_loops, range(nv, len(full))):
        n = normals[loop].sum(0)
        normals[centre] = n / max(np.linalg.norm(n), 1e-20)
    attr = np.concatenate([normals, cam, rm.uv.astype(np.float64), rm.teeth[:, None]], axis=1)
    a = frags.interpolate(attr, rm.triangles)
    n = a[:, :3] / np.maximum(np.linalg.norm(a[:, :3], axis=1, keepdims=True), 1e-20)
    view = -a[:, 3:6] / np.linalg.norm(a[:, 3:6], axis=1, keepdims=True)
    half = light.direction[None] + view
    half /= np.linalg.norm(half, axis=1, keepdims=True)
    lambert = np.clip(n @ light.direction, 0.0, None)
    spec = light.specular * np.clip((n * half).sum(1), 0.0, None) ** light.shininess
    # sample the albedo over the fragments' bounding window with one bilinear remap
    x0, y0 = int(frags.x.min()), int(frags.y.min())
    ww, wh = int(frags.x.max()) - x0 + 1, int(frags.y.max()) - y0 + 1
    map_uv = np.full((wh, ww, 2), -1.0, dtype=np.float32)
    map_uv[frags.y - y0, frags.x - x0] = a[:, 6:8]
    tex = cv2.remap(albedo, map_uv, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alb = tex[frags.y - y0, frags.x - x0]
    in_mouth = rm.mouth_tris[frags.tri]
    alb[in_mouth] = mouth_albedo(a[in_mouth, 8])
    colour = alb * (light.ambient + light.diffuse * lambert)[:, None] + spec[:, None]
    colour = colour * light.colour[None]
    # anti-aliased edge: blend premultiplied colour and coverage with a small blur inside the window
    pad = 2
    xa, ya = max(x0 - pad, 0), max(y0 - pad, 0)
    xb, yb = min(x0 + ww + pad, w), min(y0 + wh + pad, h)
    cov = np.zeros((yb - ya, xb - xa), np.float32)
    rgb = np.zeros((yb - ya, xb - xa, 3), np.float32)
    cov[frags.y - ya, frags.x - xa] = 1.0
    rgb[frags.y - ya, frags.x - xa] = np.clip(colour, 0.0, 1.0) * 255.0
    cov = cv2.GaussianBlur(cov, (3, 3), 0.6)
    rgb = cv2.GaussianBlur(rgb, (3, 3), 0.6)
    bg = image[ya:yb, xa:xb].astype(np.float32)
    image[ya:yb, xa:xb] = np.clip(rgb + bg * (1.0 - cov[..., None]) + 0.5, 0, 255).astype(np.uint8)
    mask[frags.y, frags.x] = True
    return image, mask
