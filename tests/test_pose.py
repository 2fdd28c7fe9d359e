"""PnP pose: exact recovery on the real ARKit face, intrinsics of the projection matrix, failures."""
import numpy as np
import pytest

from fakecache import WCPA_PROJECTION, project, random_poses
from trainers.errors import CameraError
from trainers.metrics import wcpa_error
from facedata.conventions import intrinsics as camera_matrix
from trainers.pose import solve_pose


def test_camera_matrix_of_the_challenge_projection():
    k = camera_matrix(WCPA_PROJECTION, (800, 800))
    np.testing.assert_allclose(k, [[629.774804, 0, 400], [0, 629.774804, 400], [0, 0, 1]], atol=1e-6)


@pytest.mark.parametrize("method", ["sqpnp", "iterative"])
@pytest.mark.parametrize("offset", [(0.0, 0.0), (0.05, -0.03)])
def test_pnp_recovers_ground_truth_pose_on_arkit(arkit, offset, method):
    m = WCPA_PROJECTION.copy()
    m[2, 0], m[2, 1] = offset  # a shifted principal point must be honoured too
    rng = np.random.default_rng(3)
    verts = arkit.neutral[None] + np.einsum("nk,kvi->nvi", rng.uniform(0, 1, (12, len(arkit.blends))), arkit.blends)
    r_t = random_poses(rng, 12, yaw=60, pitch=40, roll=15)
    points = project(verts, r_t, m, (800, 600))
    pred = solve_pose(verts, points, m, (800, 600), workers=3, method=method)
    score = wcpa_error(verts, r_t, verts, pred)
    assert score.per_image.max() < 1e-3  # mm
    np.testing.assert_allclose(pred, r_t, atol=1e-6)


def test_parallel_equals_serial(arkit):
    rng = np.random.default_rng(4)
    verts = np.repeat(arkit.neutral[None], 9, 0)
    r_t = random_poses(rng, 9)
    points = project(verts, r_t, WCPA_PROJECTION) + rng.normal(0, 2.0, (9, len(arkit.neutral), 2))
    np.testing.assert_array_equal(solve_pose(verts, points, WCPA_PROJECTION, workers=1),
                                  solve_pose(verts, points, WCPA_PROJECTION, workers=4))


def test_failed_image_gets_nan_pose(arkit):
    verts = np.repeat(arkit.neutral[None], 2, 0)
    r_t = random_poses(np.random.default_rng(5), 2)
    points = project(verts, r_t, WCPA_PROJECTION)
    points[1] = np.nan
    pred = solve_pose(verts, points, WCPA_PROJECTION)
    assert np.isfinite(pred[0]).all() and np.isnan(pred[1]).all()


@pytest.mark.parametrize("bad", [np.eye(4), np.zeros((3, 3)), np.full((4, 4), np.nan)])
def test_non_pinhole_projection_is_refused(bad):
    with pytest.raises(CameraError):
        camera_matrix(bad)


def test_default_method_keeps_noisy_faces_in_front_of_the_camera(grid):
    # a shallow synthetic face with centimetre-level shape errors: the DLT start of SOLVEPNP_ITERATIVE
    # tends to the mirrored solution behind the camera here; SQPnP + LM must not
    rng = np.random.default_rng(6)
    verts = np.repeat(grid.neutral[None], 16, 0)
    r_t = random_poses(rng, 16)
    points = project(verts, r_t, WCPA_PROJECTION) + rng.normal(0, 3.0, (16, len(grid.neutral), 2))
    noisy = verts + rng.normal(0, 0.004, verts.shape)
    pred = solve_pose(noisy, points, WCPA_PROJECTION)
    assert (pred[:, 3, 2] < 0).all()  # camera looks down -z: T_z must be negative
    assert wcpa_error(verts, r_t, noisy, pred).v1_v3 < 100
