"""Target encoding and the crop <-> frame mapping, against the cache's own geometry."""
import numpy as np
import torch

from fakecache import project
from facedata.conventions import apply_tform, crop_to_frame
from trainers.targets import mirror_x, pixels_to_unit, rescale_points, target_to_verts, unit_to_pixels, verts_to_target


def test_crop_points_map_back_to_the_projection(arkit_cache):
    c = arkit_cache
    labelled = np.isfinite(c.verts).all(axis=(1, 2))
    frame = crop_to_frame(c.points2d[labelled], c.tform[labelled])
    expected = project(c.verts[labelled].astype(np.float64), c.R_t[labelled].astype(np.float64), c.projection)
    assert np.abs(frame - expected).max() < 0.05  # px; float32 storage of the cache
    np.testing.assert_allclose(apply_tform(c.tform[labelled], frame), c.points2d[labelled], atol=1e-3)


def test_round_trips():
    p = np.random.default_rng(0).uniform(0, 255, (4, 7, 2))
    np.testing.assert_allclose(unit_to_pixels(pixels_to_unit(p, 256), 256), p)
    assert pixels_to_unit(np.array([0.0, 128.0, 256.0]), 256).tolist() == [-1.0, 0.0, 1.0]
    np.testing.assert_allclose(rescale_points(rescale_points(p, 256, 128), 128, 256), p)
    assert rescale_points(np.array([-0.5, 255.5]), 256, 128).tolist() == [-0.5, 127.5]  # image edges stay edges
    v = torch.randn(2, 5, 3)
    torch.testing.assert_close(target_to_verts(verts_to_target(v)), v)
    np.testing.assert_allclose(mirror_x(mirror_x(p, 256), 256), p)
    assert mirror_x(np.array([[0.0, 3.0]]), 256).tolist() == [[255.0, 3.0]]
