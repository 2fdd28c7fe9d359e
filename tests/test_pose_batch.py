"""The batched torch pose solver against OpenCV's (the reference): exact projections to 1e-3 mm, the same WCPA
score on noisy faces, a reprojection error no larger than OpenCV's, failures as NaN."""
import cv2
import numpy as np
import pytest

from facedata.conventions import intrinsics, opencv_pose
from fakecache import WCPA_PROJECTION, project, random_poses
from trainers.metrics import wcpa_error
from trainers.pose import solve_pose
from trainers.pose_batch import rodrigues, solve_pose_batch


def faces(model, n: int, seed: int, shape_noise: float = 0.0):
    rng = np.random.default_rng(seed)
    verts = np.repeat(model.neutral[None], n, 0) + rng.normal(0, 0.002, (n,) + model.neutral.shape)
    return rng, verts, random_poses(rng, n, yaw=60, pitch=40, roll=15)


def reprojection(verts, points, r_t, m, size):
    k = intrinsics(m, size)
    out = []
    for v, p, rt in zip(verts, points, r_t):
        rvec, tvec = opencv_pose(rt)
        proj, _ = cv2.projectPoints(v.astype(np.float64), rvec, tvec, k, None)
        out.append(((proj[:, 0] - p) ** 2).sum())
    return np.array(out)


@pytest.mark.parametrize("offset,size", [((0.0, 0.0), (800, 800)), ((0.05, -0.03), (800, 600))])
def test_exact_projections_recover_the_pose_as_opencv_does(grid, offset, size):
    m = WCPA_PROJECTION.copy()
    m[2, 0], m[2, 1] = offset
    _, verts, r_t = faces(grid, 24, seed=1)
    points = project(verts, r_t, m, size)
    ours, ref = solve_pose_batch(verts, points, m, size), solve_pose(verts, points, m, size)
    assert wcpa_error(verts, r_t, verts, ours).per_image.max() < 1e-3  # mm
    assert wcpa_error(verts, ref, verts, ours).per_image.max() < 1e-3
    np.testing.assert_allclose(ours, r_t, atol=1e-6)


def test_exact_projections_on_the_real_arkit_face(arkit):
    _, verts, r_t = faces(arkit, 12, seed=2)
    ours = solve_pose_batch(verts, project(verts, r_t, WCPA_PROJECTION), WCPA_PROJECTION)
    assert wcpa_error(verts, r_t, verts, ours).per_image.max() < 1e-3


def test_noisy_faces_score_as_with_opencv(grid):
    rng, verts, r_t = faces(grid, 32, seed=3)
    points = project(verts, r_t, WCPA_PROJECTION) + rng.normal(0, 3.0, (32, len(grid.neutral), 2))
    noisy = verts + rng.normal(0, 0.004, verts.shape)
    ours, ref = solve_pose_batch(noisy, points, WCPA_PROJECTION), solve_pose(noisy, points, WCPA_PROJECTION)
    a, b = wcpa_error(verts, r_t, noisy, ours), wcpa_error(verts, r_t, noisy, ref)
    assert abs(a.score - b.score) < 1e-3 and np.abs(a.per_image - b.per_image).max() < 0.01  # mm
    assert (ours[:, 3, 2] < 0).all()  # in front of the camera (which looks down -z)
    # both minimise the reprojection error; ours converges at least as far
    assert (reprojection(noisy, points, ours, WCPA_PROJECTION, (800, 800))
            <= reprojection(noisy, points, ref, WCPA_PROJECTION, (800, 800)) * (1 + 1e-9) + 1e-9).all()


def test_failed_images_get_nan_and_the_rest_are_solved(grid):
    _, verts, r_t = faces(grid, 3, seed=4)
    points = project(verts, r_t, WCPA_PROJECTION)
    points[1, 5] = np.nan
    out = solve_pose_batch(verts, points, WCPA_PROJECTION, chunk=2)
    assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2]]).all()
    assert solve_pose_batch(verts[:0], points[:0], WCPA_PROJECTION).shape == (0, 4, 4)


def test_rodrigues_matches_opencv():
    import torch
    w = np.random.default_rng(5).normal(size=(20, 3))
    w[-1] *= 1e-9  # the small-angle branch
    ours = rodrigues(torch.as_tensor(w)).numpy()
    for v, r in zip(w, ours):
        np.testing.assert_allclose(r, cv2.Rodrigues(v)[0], atol=1e-12)
