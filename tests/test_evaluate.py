"""Prediction, flip TTA, ensembles, pose and score, and the submission layout."""
import csv

import numpy as np
import pytest
import torch
import torch.nn as nn

from trainers.augment import flip_targets, prepare_batch
from trainers.device_data import DeviceData
from trainers.errors import CheckpointError
from trainers.evaluate import Predictor, evaluate, pose_and_score, predict, write_submission
from trainers.targets import pixels_to_unit, unit_to_pixels


class Oracle(nn.Module):
    """Answers the ground-truth targets of the nearest stored input (each image and its mirror)."""

    def __init__(self, cache, rows, res):
        super().__init__()
        flip = torch.as_tensor(cache.flip_index)
        x, verts, points = prepare_batch(torch.as_tensor(cache.images[rows]), torch.as_tensor(cache.verts[rows]),
                                         torch.as_tensor(cache.points2d[rows]), res=res)
        mverts, mpoints = flip_targets(verts, unit_to_pixels(points, res), flip, res)
        outputs = [torch.cat([v.flatten(1), p.flatten(1)], 1)
                   for v, p in ((verts, points), (mverts, pixels_to_unit(mpoints, res)))]
        self.register_buffer("inputs", torch.cat([x, x.flip(-1)]).flatten(1))
        self.register_buffer("outputs", torch.cat(outputs))

    def forward(self, x):
        return self.outputs[torch.cdist(x.flatten(1), self.inputs).argmin(1)]


@pytest.mark.parametrize("flip_tta", [False, True])
def test_oracle_predictions_decode_to_ground_truth_and_score_zero(arkit_cache, flip_tta):
    data = DeviceData(arkit_cache, "cpu")
    rows = data.rows["val"]
    predictors = [Predictor(Oracle(arkit_cache, rows, 64), 64), Predictor(Oracle(arkit_cache, rows, 48), 48)]
    order = np.arange(len(rows))
    verts, points = predict(predictors, data.source("val"), order, data.flip_index, batch=3, flip_tta=flip_tta)
    np.testing.assert_allclose(verts, arkit_cache.verts[rows], atol=1e-6)
    np.testing.assert_allclose(points, arkit_cache.points2d[rows], atol=1e-4)
    labels = data.labels("val", order)
    _, r_t, score, failures = pose_and_score(verts, points, labels["tform"], data.topology,
                                             verts_gt=labels["verts"], R_t_gt=labels["R_t"])
    assert failures == 0 and score.per_image.max() < 1e-3  # mm
    np.testing.assert_allclose(r_t, labels["R_t"], atol=1e-5)


def test_evaluate_checkpoint_matches_training_validation(trained_run, synth_cache):
    run, result = trained_run
    data = DeviceData(synth_cache, "cpu", splits=("val", "test"))
    single = evaluate([run / "last.pt"], data, "val")
    assert single.score.score == pytest.approx(result.score, rel=1e-6)
    ensemble = evaluate([run, run / "last.pt"], data, "val")  # a run folder stands for its last.pt
    assert ensemble.score.score == pytest.approx(result.score, rel=1e-5)
    tta = evaluate([run], data, "val", flip_tta=True)
    assert np.isfinite(tta.score.score) and tta.score.score != single.score.score


def test_test_split_writes_the_submission_layout(trained_run, synth_cache, tmp_path):
    run, _ = trained_run
    data = DeviceData(synth_cache, "cpu", splits=("test",))
    res = evaluate([run], data, "test")
    assert res.score is None and res.metrics()["score"] is None
    npy, ids = write_submission(tmp_path / "sub", res, synth_cache)
    array = np.load(npy)
    n, v = len(res.rows), synth_cache.verts.shape[1]
    assert array.shape == (n, v * 3 + 12) and array.dtype == np.float32
    np.testing.assert_allclose(array[:, :v * 3].reshape(n, v, 3), res.verts, rtol=1e-6)
    np.testing.assert_allclose(array[:, v * 3:v * 3 + 9].reshape(n, 3, 3), res.R_t[:, :3, :3], rtol=1e-6)
    np.testing.assert_allclose(array[:, -3:], res.R_t[:, 3, :3], rtol=1e-6)
    table = list(csv.DictReader(ids.open()))
    assert [int(r["row"]) for r in table] == res.rows.tolist()
    assert table[0]["subject_id"] == synth_cache.subjects[res.rows[0]]


def test_checkpoint_of_another_topology_is_refused(trained_run, arkit_cache):
    run, _ = trained_run
    with pytest.raises(CheckpointError, match="num_verts"):
        evaluate([run], DeviceData(arkit_cache, "cpu", splits=("val",)), "val")


def test_checkpoint_applies_to_another_crop_size_of_the_same_mesh(trained_run, grid):
    from fakecache import make_cache

    run, _ = trained_run  # trained at 32x32 on a 32x32 cache
    bigger = make_cache(grid, n=24, res=48, subjects=6, seed=5)
    result = evaluate([run], DeviceData(bigger, "cpu", splits=("val",)), "val")
    assert np.isfinite(result.score.score) and result.pnp_failures == 0
