"""Render a posed face over a background: z-buffered rasterisation, textured albedo, Lambert + Blinn light."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facedata.appearance import RenderMesh, mouth_albedo
from facedata.conventions import intrinsics, project_camera, to_camera
from facedata.raster import rasterize


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
    n = len(verts) if num is None else num
    corner = np.asarray(triangles).ravel()          # bincount sums per vertex far faster than np.add.at
    out = np.stack([np.bincount(corner, np.repeat(fn[:, c], 3), n) for c in range(3)], 1)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-20)


def view_directions(x: np.ndarray, y: np.ndarray, projection: np.ndarray,
                    image_size: tuple[int, int]) -> np.ndarray:
    """Unit vectors (3, n) float32 from the surface seen at pixels (x, y) towards the camera.

    The visible point lies on the pixel's ray, so the direction follows from the pixel alone.
    """
    k = intrinsics(projection, image_size)
    # OpenCV's ray ((x - cx) / fx, (y - cy) / fy, 1) has y down and z forward; the camera's is (x, -y, -z)
    v = np.empty((3, len(x)), np.float32)
    v[0] = (k[0, 2] - x) * (1.0 / k[0, 0])
    v[1] = (y - k[1, 2]) * (1.0 / k[1, 1])
    v[2] = 1.0
    v *= 1.0 / np.sqrt(v[0] * v[0] + v[1] * v[1] + 1.0)
    return v


def sample_texture(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear samples (n, C) of an (h, w, C) float32 texture (fastest with C = 4) at texels (n, 2)."""
    n, width = len(uv), 1024                        # cv2.remap takes maps under 32767 on a side
    rows = -(-n // width)
    grid = np.zeros((rows * width, 2), np.float32)
    grid[:n] = uv
    out = cv2.remap(texture, grid.reshape(rows, width, 2), None, cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * width, -1)[:n]


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
    # per-pixel (Phong) shading in float32, one contiguous array per channel
    a = frags.interpolate(np.concatenate([normals, rm.uv], axis=1).astype(np.float32), rm.triangles)
    nx, ny, nz = a[:, 0], a[:, 1], a[:, 2]
    inv_len = 1.0 / np.sqrt(np.maximum(nx * nx + ny * ny + nz * nz, 1e-20))
    lx, ly, lz = light.direction.astype(np.float32)
    n_dot_l = (nx * lx + ny * ly + nz * lz) * inv_len
    view = view_directions(frags.x, frags.y, projection, (w, h))
    n_dot_v = (nx * view[0] + ny * view[1] + nz * view[2]) * inv_len
    # Blinn: the half vector of two unit vectors L and V has length sqrt(2 + 2 L.V)
    l_dot_v = lx * view[0] + ly * view[1] + lz * view[2]
    n_dot_h = (n_dot_l + n_dot_v) / np.sqrt(np.maximum(2.0 + 2.0 * l_dot_v, 1e-12))
    spec = light.specular * np.maximum(n_dot_h, 0.0) ** np.float32(light.shininess)
    shade = light.ambient + light.diffuse * np.maximum(n_dot_l, 0.0)
    alb = sample_texture(albedo, np.column_stack([a[:, 3], a[:, 4]]))
    in_mouth = np.nonzero(np.take(rm.mouth_tris, frags.tri))[0]
    if len(in_mouth):
        teeth = np.einsum("nk,nk->n", frags.bary[in_mouth], rm.teeth[rm.triangles[frags.tri[in_mouth]]])
        alb[in_mouth, :3] = mouth_albedo(teeth)
    # premultiplied colour and coverage, one channel at a time (numpy is slow broadcasting (n, 1) x (n, 3))
    rgba = np.empty((len(frags.x), 4), np.float32)
    for c in range(3):
        channel = rgba[:, c]
        np.multiply(alb[:, c], shade, out=channel)
        channel += spec
        channel *= np.float32(light.colour[c])
        np.clip(channel, 0.0, 1.0, out=channel)
        channel *= np.float32(255.0)
    rgba[:, 3] = 1.0
    # anti-aliased edge: blur colour and coverage a little inside the face's window, then blend
    pad = 2
    xa, ya = max(int(frags.x.min()) - pad, 0), max(int(frags.y.min()) - pad, 0)
    xb, yb = min(int(frags.x.max()) + 1 + pad, w), min(int(frags.y.max()) + 1 + pad, h)
    layer = np.zeros(((yb - ya) * (xb - xa), 4), np.float32)
    # scatter whole 16-byte pixels: one copy per fragment instead of four strided ones
    pixel = np.dtype((np.void, 16))
    layer.view(pixel)[(frags.y - ya) * (xb - xa) + (frags.x - xa), 0] = rgba.view(pixel)[:, 0]
    layer = cv2.GaussianBlur(layer.reshape(yb - ya, xb - xa, 4), (3, 3), 0.6)
    window = image[ya:yb, xa:xb]
    behind = cv2.cvtColor(1.0 - layer[..., 3], cv2.COLOR_GRAY2RGB)
    window[...] = cv2.add(cv2.cvtColor(layer, cv2.COLOR_RGBA2RGB),
                          cv2.multiply(window, behind, dtype=cv2.CV_32F), dtype=cv2.CV_8U)
    mask.reshape(-1)[frags.y * w + frags.x] = True
    return image, mask
    return image, mask
