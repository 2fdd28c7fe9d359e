"""The JMLR loss terms, the edge-length term on ground truth, and the schedule."""
import math

import numpy as np
import pytest
import torch

from trainers.errors import ConfigError
from trainers.losses import JMLRLoss, LossWeights, triangle_edges
from trainers.schedule import PolySchedule, jmlr_schedule, scaled_lr, warmup_for

TRI = np.array([[0, 1, 2]])
VERTS = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
POINTS = torch.zeros(1, 3, 2)


def test_loss_matches_hand_computation():
    loss_fn = JMLRLoss(TRI, LossWeights(1.0, 0.25, 2.0))
    pred_points = POINTS + torch.tensor([0.1, -0.2])
    total, terms = loss_fn(VERTS * 2, pred_points, VERTS, POINTS)
    vert = (0 + 1 + 1) / 3  # per-vertex L1 norms of the error, averaged (eq. 1)
    edge = (1 + math.sqrt(2) + 1) / 3  # every length doubles: errors 1, sqrt 2, 1 over 3M = 3 edges (eq. 2)
    land = 0.3  # |0.1| + |-0.2| at every point (eq. 3)
    assert terms["vert"].item() == pytest.approx(vert)
    assert terms["edge"].item() == pytest.approx(edge, rel=1e-5)
    assert terms["land"].item() == pytest.approx(land)
    assert total.item() == pytest.approx(vert + 0.25 * edge + 2 * land, rel=1e-5)


def test_edge_loss_is_zero_on_ground_truth_and_positive_otherwise(synth_cache):
    verts = torch.as_tensor(np.nan_to_num(synth_cache.verts[:8])) * 10
    loss_fn = JMLRLoss(synth_cache.triangles)
    _, terms = loss_fn(verts, torch.zeros(8, verts.shape[1], 2), verts, torch.zeros(8, verts.shape[1], 2))
    assert terms["edge"].item() == 0.0 and terms["vert"].item() == 0.0
    _, terms = loss_fn(verts * 1.01, torch.zeros(8, verts.shape[1], 2), verts, torch.zeros(8, verts.shape[1], 2))
    assert terms["edge"].item() > 0
    # a rigid motion keeps every edge length: the edge term stays zero while the vertex term does not
    _, terms = loss_fn(verts + 0.5, torch.zeros(8, verts.shape[1], 2), verts, torch.zeros(8, verts.shape[1], 2))
    assert terms["edge"].item() == pytest.approx(0.0, abs=1e-6) and terms["vert"].item() > 0


def test_no_edge_ablation_and_finite_gradient_on_collapsed_mesh():
    loss_fn = JMLRLoss(TRI, LossWeights.parse("1,0,2"))
    pred = torch.zeros_like(VERTS, requires_grad=True)
    total, terms = loss_fn(pred, POINTS, VERTS, POINTS)
    assert terms["edge"].item() == 0.0
    total.backward()
    full = JMLRLoss(TRI)
    pred2 = torch.zeros_like(VERTS, requires_grad=True)  # all vertices coincide: |e| has no derivative at 0
    full(pred2, POINTS, VERTS, POINTS)[0].backward()
    assert torch.isfinite(pred2.grad).all()


def test_triangle_edges_counts_every_edge_of_every_triangle():
    edges = triangle_edges(np.array([[0, 1, 2], [2, 1, 3]]))
    assert edges.shape == (6, 2)
    assert {tuple(e) for e in edges} == {(0, 1), (1, 2), (2, 0), (2, 1), (1, 3), (3, 2)}


@pytest.mark.parametrize("text", ["1,0.25", "a,b,c", "1,-1,2", "0,0,0", "1,nan,2"])
def test_bad_loss_weights(text):
    with pytest.raises(ConfigError):
        LossWeights.parse(text)


def test_loss_weights_round_trip():
    assert str(LossWeights.parse("1,0.25,2")) == "1,0.25,2"
    assert LossWeights.parse([1, 0, 2]) == LossWeights(1.0, 0.0, 2.0)


def test_schedule_values():
    assert scaled_lr(0.1, 512) == pytest.approx(0.1) and scaled_lr(0.1, 256) == pytest.approx(0.05)
    s = jmlr_schedule(0.1, 256, total_steps=11_000)
    assert s.warmup == 1000 and s.peak == pytest.approx(0.05)
    assert s(0) == pytest.approx(0.05 / 1000)
    assert s(499) == pytest.approx(0.025)
    assert s(999) == pytest.approx(0.05) and s(1000) == pytest.approx(0.05)
    assert s(6000) == pytest.approx(0.05 * 0.25)  # half-way through the decay: (1 - 0.5)^2
    assert s(10_999) == pytest.approx(0.05 * (1 / 10_000) ** 2)
    assert s(11_000) == 0.0


def test_warmup_scales_down_for_short_runs():
    assert warmup_for(114) == 11  # a 6-epoch proxy over 5,000 frames at batch 256
    assert warmup_for(44_000) == 1000
    assert warmup_for(3) == 1
    s = PolySchedule(peak=1.0, total=100, warmup=10)
    lrs = [s(i) for i in range(100)]
    assert max(lrs) == 1.0 and lrs.index(1.0) == 9
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))  # monotone decay after warm-up
