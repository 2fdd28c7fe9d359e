"""Face models: procedural geometry, loaders, the flip index, blendshapes and identity modes."""
from __future__ import annotations

import numpy as np
import pytest
from _data_helpers import ARKIT, KPT_IND, TRIANGLES_NPY, arkit_model, need_face_data

from facedata.errors import FaceModelError
from facedata.face_model import (load_face_model, load_obj_folder, load_wcpa_face_model,
                                      mirror_flip_index, procedural_face_model)
from facedata.obj_io import format_obj, read_obj

MIRROR = np.array([-1.0, 1.0, 1.0])


@pytest.fixture(params=["procedural", "arkit"])
def model(request):
    return procedural_face_model() if request.param == "procedural" else arkit_model()


def test_procedural_dimensions_and_counts():
    m = procedural_face_model()
    assert 1100 <= m.num_vertices <= 1300 and 2100 <= len(m.triangles) <= 2500
    width, height = np.ptp(m.neutral[:, 0]), np.ptp(m.neutral[:, 1])
    assert 0.13 <= width <= 0.15 and 0.16 <= height <= 0.19          # a real face's size, metres
    assert len(m.blendshapes) >= 12 and len(m.identity_modes) >= 8
    assert m.blendshapes.shape[1:] == m.identity_modes.shape[1:] == m.neutral.shape


def test_procedural_is_bilaterally_symmetric():
    m = procedural_face_model()
    np.testing.assert_allclose(m.neutral[m.flip_index] * MIRROR, m.neutral, atol=1e-12)
    for mode in m.identity_modes:          # every identity mode keeps the face symmetric
        np.testing.assert_allclose(mode[m.flip_index] * MIRROR, mode, atol=1e-12)


def test_flip_index_is_involution(model):
    flip = model.flip_index
    assert flip.shape == (model.num_vertices,)
    np.testing.assert_array_equal(flip[flip], np.arange(model.num_vertices))


def test_arkit_mirror_within_1mm_and_matches_brute_force():
    m = arkit_model()
    v = m.neutral
    dist = np.linalg.norm((v * MIRROR)[:, None] - v[None], axis=-1)      # independent O(V^2) reference
    np.testing.assert_array_equal(m.flip_index, dist.argmin(1))
    assert np.linalg.norm(v[m.flip_index] - v * MIRROR, axis=1).max() < 1e-3


def test_mirror_matching_resolves_ambiguous_neighbours():
    rng = np.random.default_rng(0)
    half = rng.uniform([0.001, -0.1, 0.0], [0.07, 0.1, 0.08], (300, 3))
    verts = np.concatenate([half, half * MIRROR])
    verts += rng.normal(0, 2e-3, verts.shape)       # noise of the order of the spacing: NN disagree
    flip = mirror_flip_index(verts)
    np.testing.assert_array_equal(flip[flip], np.arange(len(verts)))


def test_landmarks_in_ibug_order(model):
    p = model.neutral[model.landmarks68]
    assert p[0, 0] < 0 < p[16, 0] and abs(p[8, 0]) < 1e-9 and p[8, 1] == p[:17, 1].min()
    assert np.all(p[17:22, 1] > p[36:42, 1].max()) and np.all(p[22:27, 1] > p[42:48, 1].max())
    assert p[30, 2] == p[27:36, 2].max()                                 # nose tip sticks out most
    assert np.all(p[36:42, 0] < 0) and np.all(p[42:48, 0] > 0)           # right eye at image left
    assert p[36, 0] < p[39, 0] and p[42, 0] < p[45, 0]                   # outer, inner / inner, outer
    assert p[48, 0] < 0 < p[54, 0] and p[51, 1] > p[62, 1] > p[66, 1] > p[57, 1]
    assert p[39:40, 1] > p[51, 1] > p[8, 1]


def test_triangles_face_forward(model):
    v, t = model.neutral, model.triangles
    normal_z = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])[:, 2]
    assert (normal_z > 0).mean() > 0.9


def test_shape_is_linear_and_batched(model):
    rng = np.random.default_rng(1)
    ident = rng.normal(size=(2, len(model.identity_modes)))
    expr = rng.uniform(size=(2, len(model.blendshapes)))
    batch = model.shape(ident, expr)
    assert batch.shape == (2, model.num_vertices, 3)
    for i in range(2):
        ref = model.neutral + np.einsum("m,mvc->vc", ident[i], model.identity_modes) + \
            np.einsum("k,kvc->vc", expr[i], model.blendshapes)
        np.testing.assert_allclose(batch[i], ref, atol=1e-12)


@pytest.mark.parametrize("name", ["jawOpen", "mouthSmileLeft", "eyeBlinkLeft", "mouthPucker"])
def test_generic_blendshapes_resemble_arkit(name):
    from facedata.deform import generic_blendshapes
    m = arkit_model()
    names, shapes = generic_blendshapes(m.neutral, m.landmarks68)
    real, ours = m.blendshapes[m.blendshape_names.index(name)], shapes[names.index(name)]
    assert np.corrcoef(real.ravel(), ours.ravel())[0, 1] > 0.75


def _openings(model, weights):
    p = model.shape(expression=weights)[model.landmarks68]
    eye = (p[[43, 44], 1] - p[[47, 46], 1]).mean()
    mouth = p[66, 1] - p[62, 1]
    return eye, -mouth


def test_blink_closes_and_jaw_opens(model):
    k = len(model.blendshape_names)
    eye0, mouth0 = _openings(model, np.zeros(k))
    blink = np.zeros(k)
    blink[model.blendshape_names.index("eyeBlinkLeft")] = 1
    jaw = np.zeros(k)
    jaw[model.blendshape_names.index("jawOpen")] = 1
    assert _openings(model, blink)[0] < 0.25 * eye0
    assert _openings(model, jaw)[1] > mouth0 + 0.01


def test_blendshape_pairs_mirror_each_other():
    m = procedural_face_model()
    for i, name in enumerate(m.blendshape_names):
        twin = name.replace("Left", "Right") if "Left" in name else name.replace("Right", "Left")
        mirrored = m.blendshapes[m.blendshape_names.index(twin)][m.flip_index] * MIRROR
        np.testing.assert_allclose(mirrored, m.blendshapes[i], atol=1e-9, err_msg=name)


def test_obj_round_trip(tmp_path):
    m = procedural_face_model()
    (tmp_path / "x.obj").write_text(format_obj(m.neutral, m.triangles))
    v, t = read_obj(tmp_path / "x.obj")
    np.testing.assert_allclose(v, m.neutral, atol=1e-8)
    np.testing.assert_array_equal(t, m.triangles)


def test_arkit_folder_matches_wcpa_topology():
    m = arkit_model()
    assert m.num_vertices == 1220 and len(m.triangles) == 2304 and len(m.blendshapes) == 51
    np.testing.assert_array_equal(m.triangles, np.load(TRIANGLES_NPY).astype(np.int64))


def _write_folder(path, model, n_shapes=2):
    path.mkdir()
    (path / "Neutral.obj").write_text(format_obj(model.neutral, model.triangles))
    for k in range(n_shapes):
        (path / f"shape{k}.obj").write_text(format_obj(model.neutral + model.blendshapes[k], model.triangles))
    np.save(path / "kpt_ind.npy", model.landmarks68)


def test_obj_folder_loader(tmp_path):
    m = procedural_face_model()
    _write_folder(tmp_path / "f", m)
    loaded = load_face_model(tmp_path / "f")
    assert loaded.blendshape_names == ("shape0", "shape1")
    np.testing.assert_allclose(loaded.blendshapes, m.blendshapes[:2], atol=1e-8)
    np.testing.assert_array_equal(loaded.flip_index, m.flip_index)


@pytest.mark.parametrize("breakage", ["no_neutral", "vertex_count", "malformed", "no_kpt", "bad_kpt"])
def test_obj_folder_errors_name_the_file(tmp_path, breakage):
    m = procedural_face_model()
    folder = tmp_path / "f"
    _write_folder(folder, m)
    culprit = {"no_neutral": folder / "Neutral.obj", "vertex_count": folder / "shape1.obj",
               "malformed": folder / "shape0.obj", "no_kpt": folder / "kpt_ind.npy",
               "bad_kpt": folder / "kpt_ind.npy"}[breakage]
    if breakage in ("no_neutral", "no_kpt"):
        culprit.unlink()
    elif breakage == "vertex_count":
        culprit.write_text(format_obj(m.neutral[:-5], m.triangles[:10]))
    elif breakage == "malformed":
        culprit.write_text("v 1 2\nf 1 2 3\n")
    else:
        np.save(culprit, np.arange(68) + m.num_vertices)
    with pytest.raises(FaceModelError, match=str(culprit)):
        load_obj_folder(folder)


@pytest.mark.parametrize("breakage", ["flip", "kpt", "obj"])
def test_wcpa_resources_errors_name_the_file(tmp_path, breakage):
    m = procedural_face_model()
    res = tmp_path / "resources"
    res.mkdir()
    (res / "example.obj").write_text(format_obj(m.neutral, m.triangles))
    np.save(res / "kpt_ind.npy", m.landmarks68)
    np.save(res / "flip_index.npy", m.flip_index)
    assert load_wcpa_face_model(tmp_path).num_vertices == m.num_vertices
    culprit = {"flip": res / "flip_index.npy", "kpt": res / "kpt_ind.npy", "obj": res / "example.obj"}[breakage]
    if breakage == "flip":
        np.save(culprit, np.roll(m.flip_index, 1))            # not an involution
    elif breakage == "kpt":
        np.save(culprit, m.landmarks68[:60])
    else:
        culprit.unlink()
    with pytest.raises(FaceModelError, match=str(culprit)):
        load_wcpa_face_model(tmp_path)


def test_unknown_face_model_spec(tmp_path):
    with pytest.raises(FaceModelError, match=str(tmp_path)):
        load_face_model(tmp_path)


def test_arkit_landmarks_path_is_used():
    need_face_data()
    m = load_face_model(ARKIT, np.load(KPT_IND))
    np.testing.assert_array_equal(m.landmarks68, np.load(KPT_IND))


@pytest.mark.parametrize("sign", [-1.0, 1.0])
def test_extreme_identities_do_not_fold_the_surface(sign):
    # 2.5 standard deviations along any one mode must not fold a triangle over (seen from the front)
    m = procedural_face_model()
    for k in range(len(m.identity_modes)):
        coef = np.zeros(len(m.identity_modes))
        coef[k] = 2.5 * sign
        v = m.shape(coef)
        t = m.triangles
        area = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])[:, 2]
        base = np.cross(m.neutral[t[:, 1]] - m.neutral[t[:, 0]], m.neutral[t[:, 2]] - m.neutral[t[:, 0]])[:, 2]
        front = base > 0
        assert (area[front] > 0.2 * base[front]).all(), k
