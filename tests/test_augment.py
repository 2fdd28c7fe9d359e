"""Device-side augmentation: flip is an involution and moves targets with the pixels; the similarity
warp and resizing move image content and 2D targets alike; jitter and normalisation."""
import numpy as np
import pytest
import torch

from trainers.augment import (AugmentConfig, color_jitter, flip_targets, prepare_batch, random_flip,
                              similarity_matrices, to_float_images, warp)
from trainers.targets import unit_to_pixels

OFF = dict(flip=False, jitter_p=0.0, geo_p=0.0)


def _labelled(cache, n=8):
    rows = np.flatnonzero(cache.split == "train")[:n]
    return (torch.as_tensor(cache.images[rows]), torch.as_tensor(cache.verts[rows]),
            torch.as_tensor(cache.points2d[rows]))


def _blob_images(points, res, sigma=1.2):
    """One Gaussian blob per image at `points` (B, 2), as (B, res, res, 3) float in [0, 1]."""
    yy, xx = torch.meshgrid(torch.arange(res, dtype=torch.float32), torch.arange(res, dtype=torch.float32),
                            indexing="ij")
    d2 = (xx[None] - points[:, 0, None, None]) ** 2 + (yy[None] - points[:, 1, None, None]) ** 2
    return torch.exp(-d2 / (2 * sigma ** 2))[..., None].expand(-1, -1, -1, 3)


def _centroid(images):
    """Intensity centroid (B, 2) of (B, 3, H, W) images, in pixels."""
    w = images[:, 0]
    yy, xx = torch.meshgrid(torch.arange(w.shape[1], dtype=torch.float32),
                            torch.arange(w.shape[2], dtype=torch.float32), indexing="ij")
    total = w.sum((1, 2))
    return torch.stack([(w * xx).sum((1, 2)) / total, (w * yy).sum((1, 2)) / total], -1)


def test_flip_twice_is_identity(synth_cache):
    images, verts, points = _labelled(synth_cache)
    flip = torch.as_tensor(synth_cache.flip_index)
    x = to_float_images(images)
    x2, v2, p2 = random_flip(*random_flip(x, verts, points, flip, 1.0, None), flip, 1.0, None)
    assert torch.equal(x2, x) and torch.equal(v2, verts)
    torch.testing.assert_close(p2, points, atol=1e-5, rtol=0)  # (res-1) - ((res-1) - x) up to rounding
    v1, p1 = flip_targets(verts, points, flip, 32)
    assert not torch.equal(v1, verts)
    v3, p3 = flip_targets(v1, p1, flip, 32)
    assert torch.equal(v3, verts)
    torch.testing.assert_close(p3, points, atol=1e-5, rtol=0)


def test_flipped_targets_follow_the_flipped_image(synth_cache):
    images, verts, points = _labelled(synth_cache, 4)
    flip = torch.as_tensor(synth_cache.flip_index)
    res = images.shape[1]
    v = int(np.flatnonzero(synth_cache.flip_index != np.arange(len(flip)))[5])  # a vertex off the mid-line
    points = points.round()  # the mark sits exactly on a pixel centre
    marked = torch.zeros_like(images)
    b = torch.arange(4)
    marked[b, points[:, v, 1].long(), points[:, v, 0].long()] = 255
    x, vt, pt = prepare_batch(marked, verts, points, res=res, flip_index=flip,
                              augment=AugmentConfig(flip=True, flip_p=1.0, jitter_p=0.0))
    flat = x[:, 0].reshape(4, -1).argmax(1)
    mark = torch.stack([flat % res, flat // res], -1).float()  # where the mark is in the flipped image
    j = int(flip[v])  # the flipped sample's vertex j is the mirror of vertex v
    torch.testing.assert_close(unit_to_pixels(pt[:, j], res), mark)
    torch.testing.assert_close(mark, torch.stack([res - 1 - points[:, v, 0], points[:, v, 1]], -1))
    torch.testing.assert_close(vt[:, j], verts[:, v] * torch.tensor([-10.0, 10.0, 10.0]))


@pytest.mark.parametrize("angle,scale,shift", [(0.0, 1.0, (0.0, 0.0)), (12.0, 1.08, (1.5, -2.0)),
                                               (-9.0, 0.93, (-1.0, 0.5))])
def test_warp_moves_image_and_points_alike(angle, scale, shift):
    res = 48
    pts = torch.tensor([[20.0, 18.0], [30.5, 27.25]])
    mats = similarity_matrices(torch.full((2,), np.radians(angle)), torch.full((2,), scale),
                               torch.tensor([shift, shift]), res)
    images = _blob_images(pts, res).permute(0, 3, 1, 2)
    out, moved = warp(images, pts[:, None, :], mats)
    torch.testing.assert_close(_centroid(out), moved[:, 0], atol=0.05, rtol=0)


def test_random_similarity_and_resize_keep_targets_on_the_content():
    res, out_res = 64, 40
    pts = torch.tensor([[22.0, 30.0], [40.0, 25.0], [31.5, 33.5]])
    images = (_blob_images(pts, res, sigma=2.0) * 255).round().to(torch.uint8)
    verts = torch.zeros(3, 1, 3)
    cfg = AugmentConfig(flip=False, jitter_p=0.0, geo_p=1.0, rotate_deg=15, scale=0.1, shift=0.05)
    gen = torch.Generator().manual_seed(0)
    x, _, pt = prepare_batch(images, verts, pts[:, None, :], res=out_res, augment=cfg, generator=gen)
    centroid = _centroid((x + 1) / 2)
    torch.testing.assert_close(centroid, unit_to_pixels(pt[:, 0], out_res), atol=0.1, rtol=0)


def test_jitter_and_normalisation(synth_cache):
    images, verts, points = _labelled(synth_cache)
    x = to_float_images(images)
    torch.testing.assert_close(color_jitter(x, AugmentConfig(jitter_p=0.0), None), x)  # factors of 1
    j = color_jitter(x, AugmentConfig(jitter_p=1.0), torch.Generator().manual_seed(1))
    assert j.min() >= 0 and j.max() <= 1 and not torch.allclose(j, x)
    out, vt, pt = prepare_batch(images, verts, points, res=32)
    assert out.shape == (8, 3, 32, 32) and out.is_contiguous(memory_format=torch.channels_last)
    assert out.min() >= -1 and out.max() <= 1
    torch.testing.assert_close((out + 1) / 2, x)
    torch.testing.assert_close(vt, verts * 10)


def test_augmentation_is_repeatable_from_the_generator(synth_cache):
    images, verts, points = _labelled(synth_cache)
    flip = torch.as_tensor(synth_cache.flip_index)
    cfg = AugmentConfig(geo_p=0.5)
    a = prepare_batch(images, verts, points, res=32, flip_index=flip, augment=cfg,
                      generator=torch.Generator().manual_seed(7))
    b = prepare_batch(images, verts, points, res=32, flip_index=flip, augment=cfg,
                      generator=torch.Generator().manual_seed(7))
    assert all(torch.equal(u, w) for u, w in zip(a, b))


def test_fused_jitter_equals_brightness_then_contrast_then_saturation():
    x = torch.rand(6, 3, 8, 8)
    cfg = AugmentConfig(jitter_p=0.5)
    out = color_jitter(x, cfg, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)  # the same draws, in the same order
    on = (torch.rand(6, generator=g) < 0.5).float()
    b, c, s = ((1.0 + (torch.rand(6, generator=g) * 2 - 1) * 0.2 * on)[:, None, None, None] for _ in range(3))
    w = torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]
    y = x * b
    mean = (y * w).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    y = (y - mean) * c + mean
    grey = (y * w).sum(1, keepdim=True)
    torch.testing.assert_close(out, ((y - grey) * s + grey).clamp(0, 1))
