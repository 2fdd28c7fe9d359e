"""The WCPA camera convention against OpenCV and the challenge's own matrix file."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from _data_helpers import PROJECTION_TXT, need_face_data
from scipy.spatial.transform import Rotation

from facedata.conventions import (format_projection, intrinsics, opencv_pose, pose_to_rt, project,
                                  rt_to_pose, to_camera, wcpa_projection)


def _random_rt(rng, n):
    ypr = np.deg2rad(rng.uniform([-60, -40, -15], [60, 40, 15], (n, 3)))
    t = np.column_stack([rng.uniform(-0.1, 0.1, (n, 2)), -rng.uniform(0.3, 0.9, n)])
    return pose_to_rt(*ypr.T, t)


def test_matrix_matches_the_challenge_file():
    need_face_data()
    np.testing.assert_allclose(wcpa_projection(), np.loadtxt(PROJECTION_TXT), rtol=0, atol=1e-12)


def test_matrix_text_round_trips(tmp_path):
    (tmp_path / "m.txt").write_text(format_projection(wcpa_projection()))
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "m.txt"), wcpa_projection())


def test_documented_focal_and_centre():
    k = intrinsics(wcpa_projection(), (800, 800))
    np.testing.assert_allclose(k, [[629.774804, 0, 400], [0, 629.774804, 400], [0, 0, 1]], atol=1e-6)
    # a point on the optical axis lands on the principal point; +y (up) lands above it
    rt = np.eye(4)
    rt[3, :3] = [0.0, 0.0, -0.5]
    pix = project(np.array([[0.0, 0.0, 0.0], [0.0, 0.01, 0.0]]), rt, wcpa_projection(), (800, 800))
    np.testing.assert_allclose(pix[0], [400, 400], atol=1e-9)
    assert pix[1, 1] < 400


@pytest.mark.parametrize("size", [(800, 800), (640, 480)])
def test_project_matches_cv2_project_points(size):
    rng = np.random.default_rng(0)
    verts = rng.uniform(-0.08, 0.08, (4, 50, 3))
    rts = _random_rt(rng, 4)
    ours = project(verts, rts, wcpa_projection(), size)
    assert ours.shape == (4, 50, 2)
    k = intrinsics(wcpa_projection(), size)
    for i in range(4):
        rvec, tvec = opencv_pose(rts[i])
        ref, _ = cv2.projectPoints(verts[i], rvec, tvec, k, None)
        np.testing.assert_allclose(ours[i], ref[:, 0], atol=1e-6)


def test_row_vector_convention():
    rng = np.random.default_rng(1)
    rt = _random_rt(rng, 1)[0]
    v = rng.normal(size=(5, 3))
    homo = np.concatenate([v, np.ones((5, 1))], 1) @ rt
    np.testing.assert_allclose(to_camera(v, rt), homo[:, :3], atol=1e-12)


def test_euler_convention_is_scipy_yxz_transposed():
    yaw, pitch, roll = 0.3, -0.2, 0.1
    rt = pose_to_rt(yaw, pitch, roll, np.array([0.01, 0.02, -0.5]))
    np.testing.assert_allclose(rt[:3, :3], Rotation.from_euler("yxz", [yaw, pitch, roll]).as_matrix().T)
    angles, t = rt_to_pose(rt)
    np.testing.assert_allclose(angles, [yaw, pitch, roll], atol=1e-12)
    np.testing.assert_allclose(t, [0.01, 0.02, -0.5])


def test_pnp_recovers_rt_as_documented():
    rng = np.random.default_rng(2)
    verts = rng.uniform(-0.08, 0.08, (60, 3))
    rt = _random_rt(rng, 1)[0]
    pix = project(verts, rt, wcpa_projection(), (800, 800))
    ok, rvec, tvec = cv2.solvePnP(verts, pix, intrinsics(wcpa_projection(), (800, 800)), None,
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    assert ok
    flip = np.diag([1.0, -1.0, -1.0])
    np.testing.assert_allclose((flip @ cv2.Rodrigues(rvec)[0]).T, rt[:3, :3], atol=1e-6)
    np.testing.assert_allclose(flip @ tvec[:, 0], rt[3, :3], atol=1e-6)
