"""The crop cache: labels against an independent OpenCV projection, crops holding the face, the API."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from _data_helpers import ARKIT, KPT_IND, need_face_data, tiny_synth

from facedata import CacheError, open_cache
from facedata.conventions import (ARCFACE_112, align_tforms, apply_tform, five_points, invert_tform,
                                 similarity, template)
from facedata.cache import CacheConfig, build_cache
from facedata.conventions import intrinsics, opencv_pose
from facedata.wcpa import read_image, read_landmarks, read_list

RES = 128


@pytest.fixture(scope="module", params=["procedural", "arkit"])
def built(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"cache-{request.param}")
    if request.param == "arkit":
        need_face_data()
        root = tiny_synth(base / "wcpa", face_model=str(ARKIT), landmarks=str(KPT_IND), subjects=4, frames=3,
                          per_action=3, test_subjects=0.25)
    else:
        root = tiny_synth(base / "wcpa", subjects=4, frames=3, per_action=3, test_subjects=0.25)
    build_cache(CacheConfig(data=str(root), out=str(base / "cache"), res=RES, val_subjects=0.34, workers=1))
    return root, open_cache(base / "cache")


def test_api_shapes_and_dtypes(built):
    _, c = built
    n, v = len(c), c.verts.shape[1]
    assert n == 12 and c.res == RES
    assert c.images.shape == (n, RES, RES, 3) and c.images.dtype == np.uint8
    assert isinstance(c.images, np.memmap) and isinstance(c.verts, np.memmap)
    assert c.verts.shape == (n, v, 3) and c.verts.dtype == np.float32
    assert c.R_t.shape == (n, 4, 4) and c.tform.shape == (n, 2, 3) and c.points2d.shape == (n, v, 2)
    assert c.subjects.shape == (n,) and c.subjects.dtype.kind == "U"
    assert set(c.split) == {"train", "val", "test"}
    assert c.triangles.shape[1] == 3 and c.triangles.max() < v
    assert c.flip_index.shape == (v,) and c.landmarks68.shape == (68,)
    assert c.projection.shape == (4, 4) and c.image_size == (800, 800)
    m = c.manifest
    assert m["format_version"] == 1 and m["counts"]["total"] == n and m["res"] == RES and m["source"]


def test_points2d_match_opencv_projection(built):
    _, c = built
    k = intrinsics(c.projection, c.image_size)
    labelled = np.nonzero(c.split != "test")[0]
    for i in labelled:
        rvec, tvec = opencv_pose(c.R_t[i].astype(np.float64))
        frame_pts, _ = cv2.projectPoints(c.verts[i].astype(np.float64), rvec, tvec, k, None)
        crop_pts = cv2.transform(frame_pts, c.tform[i].astype(np.float64))[:, 0]
        assert np.abs(crop_pts - c.points2d[i]).max() < 0.05


def test_crops_contain_the_face(built):
    root, c = built
    for i in np.nonzero(c.split != "test")[0]:
        p = c.points2d[i]
        assert p.min() >= 0 and p.max() <= RES - 1                      # every vertex inside the crop
        assert np.ptp(p, axis=0).max() > 0.45 * RES                      # and the face fills it
    for i in range(len(c)):                                              # the pixels are that warp
        sid, act, img = c.ids[i]
        frame = read_image(root / "image" / sid / act / f"{img}_ar.jpg")
        ref = cv2.warpAffine(frame, c.tform[i].astype(np.float64), (RES, RES), flags=cv2.INTER_LINEAR)
        assert np.abs(ref.astype(int) - c.images[i]).max() <= 1


def test_test_split_has_nan_labels_and_splits_are_by_subject(built):
    root, c = built
    test = c.split == "test"
    assert np.isnan(c.verts[test]).all() and np.isnan(c.R_t[test]).all() and np.isnan(c.points2d[test]).all()
    assert not np.isnan(c.verts[~test]).any()
    for a in ("train", "val", "test"):
        for b in ("train", "val", "test"):
            if a < b:
                assert not set(c.subjects[c.split == a]) & set(c.subjects[c.split == b])
    assert c.manifest["subjects"] == {"train": 2, "val": 1, "hold": 0, "test": 1}
    rows = np.concatenate([read_list(root / "list" / f"WCPA_track2_{s}.csv") for s in ("train", "test")])
    assert sorted(map(tuple, c.ids)) == sorted(map(tuple, rows))          # ids keep their leading zeros


def test_landmarks_and_tform_are_the_5_point_alignment(built):
    root, c = built
    for i in range(len(c)):
        sid, act, img = c.ids[i]
        lmk = read_landmarks(root / "68landmarks" / sid / act / f"{img}_68landmarks.txt")
        np.testing.assert_array_equal(c.landmarks2d[i], lmk)
        np.testing.assert_allclose(c.tform[i], align_tforms(lmk, RES), atol=1e-4)


def test_workers_give_identical_caches(built, tmp_path):
    root, c = built
    build_cache(CacheConfig(data=str(root), out=str(tmp_path / "c2"), res=RES, val_subjects=0.34, workers=2,
                            chunk=5))
    c2 = open_cache(tmp_path / "c2")
    for name in ("images", "verts", "R_t", "tform", "points2d", "subjects", "split", "img_ids"):
        np.testing.assert_array_equal(getattr(c, name), getattr(c2, name))


def test_open_cache_errors(tmp_path, built):
    with pytest.raises(CacheError, match="manifest.json"):
        open_cache(tmp_path)
    _, c = built
    import shutil
    copy = shutil.copytree(c.path, tmp_path / "copy")
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(CacheError, match="format version 99"):
        open_cache(copy)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    np.save(copy / "tform.npy", np.zeros((3, 2, 3), np.float32))
    with pytest.raises(CacheError, match="tform.npy"):
        open_cache(copy)


def test_similarity_matches_opencv_and_recovers_known_transforms():
    rng = np.random.default_rng(0)
    dst = template(256)
    for _ in range(5):
        angle, scale, shift = rng.uniform(-0.5, 0.5), rng.uniform(0.3, 3), rng.uniform(-200, 200, 2)
        m = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        src = (dst - shift) @ np.linalg.inv(m).T                 # so that m @ src + shift == dst exactly
        np.testing.assert_allclose(similarity(src, dst), np.column_stack([m, shift]), atol=1e-9)
        noisy = src + rng.normal(0, 2, src.shape)
        ref, _ = cv2.estimateAffinePartial2D(noisy, dst, method=cv2.LMEDS)
        ours = similarity(noisy, dst)
        assert np.abs(apply_tform(ours, noisy) - apply_tform(ref, noisy)).max() < 0.05
        assert ((apply_tform(ours, noisy) - dst) ** 2).sum() <= ((apply_tform(ref, noisy) - dst) ** 2).sum() + 1e-9
        np.testing.assert_allclose(apply_tform(invert_tform(ours), apply_tform(ours, noisy)), noisy, atol=1e-9)


def test_template_is_jmlr_arcface_in_144_canvas():
    np.testing.assert_allclose(template(144), ARCFACE_112 + [16, 8])
    np.testing.assert_allclose(template(256), (ARCFACE_112 + [16, 8]) * 256 / 144)
    lmk = np.zeros((68, 2))
    lmk[[36, 39, 42, 45, 30, 48, 54]] = [[0, 0], [2, 0], [4, 0], [6, 0], [3, 3], [1, 5], [5, 5]]
    np.testing.assert_allclose(five_points(lmk), [[1, 0], [5, 0], [3, 3], [1, 5], [5, 5]])


def test_the_manifest_says_whether_the_frames_are_synthetic(built, tmp_path):
    root, cache = built
    assert cache.manifest["synthetic"] is True and cache.synthetic() is True  # made by nas-data synth
    older = {k: v for k, v in cache.manifest.items() if k != "synthetic"}  # a cache from before the record
    cache.manifest = {**older, "source": str(root)}
    assert cache.synthetic() is True  # its source still holds synth_config.json
    real = tmp_path / "wcpa"
    real.mkdir()
    cache.manifest = {**older, "source": str(real)}
    assert cache.synthetic() is False  # a root without the marker: real data
    cache.manifest = {**older, "source": str(tmp_path / "gone")}
    assert cache.synthetic() is None  # not recorded and no source left to look at
