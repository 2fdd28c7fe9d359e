"""The WCPA score against values computed by hand."""
import numpy as np
import pytest

from trainers.metrics import wcpa_error


def _rt(rot, t):
    m = np.eye(4)
    m[:3, :3], m[3, :3] = rot, t
    return m


def test_score_matches_hand_computation():
    # two vertices; ground truth at the identity pose, 0.5 m in front of the camera
    vg = np.array([[[0.0, 0.0, 0.0], [0.01, 0.0, 0.0]]])
    rg = _rt(np.eye(3), [0.0, 0.0, -0.5])[None]
    # prediction: vertex 1 moved 3 mm along y; pose shifted 2 mm along x
    vp = np.array([[[0.0, 0.0, 0.0], [0.01, 0.003, 0.0]]])
    rp = _rt(np.eye(3), [0.002, 0.0, -0.5])[None]
    s = wcpa_error(vg, rg, vp, rp)
    # V1-V2: vertex 0 off by (2, 0) mm -> 2; vertex 1 off by (2, 3) mm -> sqrt(13); mean
    v12 = (2.0 + np.sqrt(13.0)) / 2
    v13 = 2.0  # ground-truth shape under the predicted pose: every vertex 2 mm off
    v14 = 10 * (0.0 + 3.0) / 2  # predicted shape under the true pose: only vertex 1, 3 mm off, x10
    assert s.v1_v2 == pytest.approx(v12) and s.v1_v3 == pytest.approx(v13) and s.v1_v4_x10 == pytest.approx(v14)
    assert s.score == pytest.approx(v12 + v13 + v14)
    np.testing.assert_allclose(s.per_image_terms, [[v12, v13, v14]])


def test_rotation_enters_as_row_vectors():
    # a 90 degree turn about z in row-vector form: [x, y, z] @ R = [-y, x, z]
    rot = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    v = np.array([[[0.01, 0.0, 0.0]]])
    s = wcpa_error(v, _rt(np.eye(3), [0, 0, -0.5])[None], v, _rt(rot, [0, 0, -0.5])[None])
    # V1 = (10, 0, -500) mm, V2 = V3 = (0, 10, -500) mm: distance 10 sqrt 2; V4 = V1
    assert s.v1_v2 == pytest.approx(10 * np.sqrt(2)) and s.v1_v3 == pytest.approx(10 * np.sqrt(2))
    assert s.v1_v4_x10 == pytest.approx(0.0)


def test_per_image_and_mean_over_chunks():
    rng = np.random.default_rng(0)
    vg, vp = rng.normal(0, 0.05, (2, 7, 5, 3))
    rg = np.repeat(_rt(np.eye(3), [0, 0, -0.5])[None], 7, 0)
    s_small = wcpa_error(vg, rg, vp, rg, chunk=2)
    s_big = wcpa_error(vg, rg, vp, rg)
    np.testing.assert_allclose(s_small.per_image, s_big.per_image)
    assert s_big.score == pytest.approx(s_big.per_image.mean())
    assert wcpa_error(vg, rg, vg, rg).score == 0.0
