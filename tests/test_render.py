"""The z-buffer rasteriser and the face renderer against brute-force references."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from facedata.appearance import boundary_loops, build_render_mesh, paint_albedo, random_palette
from facedata.conventions import pose_to_rt, project, wcpa_projection
from facedata.face_model import procedural_face_model
from facedata.raster import rasterize
from facedata.render import Lighting, render_face


def _edge(a, b, p):
    return (b[0] - a[0]) * (p[..., 1] - a[1]) - (b[1] - a[1]) * (p[..., 0] - a[0])


@pytest.mark.parametrize("seed", range(5))
def test_single_triangle_coverage_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    pix = rng.uniform(2, 60, (3, 2))
    if _edge(pix[0], pix[1], pix[2]) > 0:        # wind it clockwise on screen = facing the camera
        pix = pix[[0, 2, 1]]
    fr = rasterize(pix, np.ones(3), np.array([[0, 1, 2]]), (64, 64))
    grid = np.stack(np.meshgrid(np.arange(64), np.arange(64)), -1).astype(float)
    e = np.stack([_edge(pix[0], pix[1], grid), _edge(pix[1], pix[2], grid), _edge(pix[2], pix[0], grid)])
    inside, outside = np.all(e < -1e-6, axis=0), np.any(e > 1e-6, axis=0)
    covered = np.zeros((64, 64), bool)
    covered[fr.y, fr.x] = True
    assert covered[inside].all() and not covered[outside].any()
    # interpolating the corners' pixel positions gives back the pixel (equal depths: affine)
    np.testing.assert_allclose(fr.interpolate(pix, np.array([[0, 1, 2]])), np.column_stack([fr.x, fr.y]),
                               atol=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_shared_edges_leave_no_gaps(seed):
    # a jittered triangulated grid: every pixel centre inside its outline is covered exactly once
    rng = np.random.default_rng(seed)
    n = 9
    gx, gy = np.meshgrid(np.linspace(3.0, 77.0, n), np.linspace(3.0, 77.0, n))
    jitter = rng.uniform(-2.5, 2.5, (n, n, 2))
    jitter[[0, -1]] = jitter[:, [0, -1]] = 0.0                       # a straight outline
    pix = (np.stack([gx, gy], -1) + jitter).reshape(-1, 2)
    i = np.arange(n - 1)[:, None] * n + np.arange(n - 1)[None]
    tris = np.concatenate([np.stack([i, i + n, i + 1], -1).reshape(-1, 3),
                           np.stack([i + 1, i + n, i + n + 1], -1).reshape(-1, 3)])
    fr = rasterize(pix, rng.uniform(1.0, 2.0, len(pix)), tris, (80, 80))
    counts = np.zeros((80, 80), int)
    np.add.at(counts, (fr.y, fr.x), 1)
    assert (counts[4:77, 4:77] == 1).all() and counts.sum() == counts[3:78, 3:78].sum()
    np.testing.assert_allclose(fr.bary.sum(1), 1.0, atol=1e-9)


def test_back_faces_are_culled():
    pix = np.array([[5.0, 5.0], [30.0, 5.0], [5.0, 30.0]])          # counter-clockwise on screen
    assert len(rasterize(pix, np.ones(3), np.array([[0, 1, 2]]), (40, 40)).x) == 0
    assert len(rasterize(pix, np.ones(3), np.array([[0, 1, 2]]), (40, 40), cull_back=False).x) > 0


def test_nearer_triangle_wins():
    pix = np.array([[5.0, 5.0], [5.0, 35.0], [35.0, 5.0]] * 2)
    depth = np.array([2.0, 2.0, 2.0, 1.0, 1.0, 1.0])
    for tris in (np.array([[0, 1, 2], [3, 4, 5]]), np.array([[3, 4, 5], [0, 1, 2]])):
        fr = rasterize(pix, depth, tris, (40, 40))
        assert np.all(tris[fr.tri][:, 0] == 3)


def test_perspective_correct_interpolation():
    # one triangle with corners at different depths: barycentrics must reproduce the 3D plane
    cam = np.array([[-0.05, -0.05, -0.3], [0.05, -0.05, -0.6], [0.0, 0.06, -0.45]])
    proj, size = wcpa_projection(), (200, 200)
    pix = project(cam, np.eye(4), proj, size)
    tri = np.array([[0, 1, 2]]) if _edge(pix[0], pix[1], pix[2]) < 0 else np.array([[0, 2, 1]])
    fr = rasterize(pix, -cam[:, 2], tri, size)
    p3 = fr.interpolate(cam, tri)
    np.testing.assert_allclose(project(p3, np.eye(4), proj, size), np.column_stack([fr.x, fr.y]), atol=1e-6)


def test_mesh_boundary_loops_of_procedural_face():
    loops = boundary_loops(procedural_face_model().triangles)
    assert len(loops) == 4                          # outline, mouth, two eyes
    assert len(loops[0]) > len(loops[1])


def test_rendered_face_lies_on_its_projection():
    m = procedural_face_model()
    rm = build_render_mesh(m)
    rng = np.random.default_rng(0)
    albedo = paint_albedo(rm, random_palette(rng), rng)
    rt = pose_to_rt(np.deg2rad(20.0), np.deg2rad(-10.0), 0.0, np.array([0.02, -0.01, -0.45]))
    light = Lighting(0.4, 0.6, np.array([0.0, 0.0, 1.0]), 0.05, 10.0, np.ones(3))
    bg = np.zeros((800, 800, 3), np.uint8)
    image, mask = render_face(rm, albedo, m.neutral, rt, wcpa_projection(), bg, light)
    pix = project(m.neutral, rt, wcpa_projection(), (800, 800))
    hull = cv2.convexHull(pix.astype(np.float32))
    hull_mask = np.zeros((800, 800), np.uint8)
    cv2.fillConvexPoly(hull_mask, np.round(hull[:, 0]).astype(np.int32), 1)
    hull_mask = cv2.dilate(hull_mask, np.ones((3, 3), np.uint8))
    assert mask.sum() > 0.85 * hull_mask.sum()        # the hull is (nearly) all face
    assert not (mask & (hull_mask == 0)).any()        # and no face outside it
    assert image[~mask].max() < 60 and image[mask].mean() > 40    # background stays, face is lit
