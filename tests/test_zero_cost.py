"""Zero-cost proxies (nas.zero_cost) against values worked out on paper, the model left as found, and each one
through the trainable on the real tiny face data."""
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import nas.trial as trial
from kit.task import Probe
from nas.proxies import get_proxy
from nas.trial import TrialPlan, run_training
from nas.zero_cost import grad_norm, naswot, synflow

ZERO_COST = ("synflow", "grad_norm", "naswot")
ARCH = "d1.1.1.1_w8.16.16.16"


def linear(weight, bias=None) -> nn.Linear:
    """A linear layer with the given weights (and bias, or none)."""
    weight = torch.tensor(weight, dtype=torch.float32)
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(torch.tensor(bias))
    return layer


def two_layer(*middle: nn.Module) -> nn.Sequential:
    """Linear(W1 = [[1, -2], [3, 0.5]], b1 = [0.5, -1]), the `middle` layers, ReLU, Linear(W2 = [[2, -1]], 0.25)."""
    return nn.Sequential(linear([[1.0, -2.0], [3.0, 0.5]], [0.5, -1.0]), *middle, nn.ReLU(),
                         linear([[2.0, -1.0]], [0.25]))


def total(out: torch.Tensor) -> torch.Tensor:
    return out.sum()


def test_synflow_by_hand():
    # |W1| = [[1, 2], [3, 0.5]], |b1| = [0.5, 1], |W2| = [2, 1], |b2| = 0.25, input x = [1, 1]:
    #   h = |W1| x + |b1| = [3 + 0.5, 3.5 + 1] = [3.5, 4.5] (positive, so the ReLU passes it)
    #   R = |W2| h + |b2| = 7 + 4.5 + 0.25 = 11.75
    #   layer 2: dR/dW2 = h, sum |W2 * h| = 7 + 4.5 = 11.5
    #   layer 1: dR/dW1[i, j] = |W2|_i x_j = |W2|_i, sum |W1|_ij |W2|_i = (1 + 2) * 2 + (3 + 0.5) * 1 = 9.5
    #   synflow = 11.5 + 9.5 = 21 (biases shape R but are not scored)
    probe = Probe(two_layer(), torch.tensor([[1.0, 2.0], [-3.0, 0.0]]), total)  # the data are never read
    assert synflow(probe) == pytest.approx(21.0, rel=1e-12)


def test_synflow_passes_batch_norm_through():
    # a batch norm with gamma = 0 (timm's zero_init_last) in train mode: in the scored copy it passes its
    # input on, so the network scores as the one without it (an eval-mode one would zero h: synflow 0)
    bn = nn.BatchNorm1d(2)
    nn.init.zeros_(bn.weight)
    assert synflow(Probe(two_layer(bn).train(), torch.zeros(4, 2), total)) == pytest.approx(21.0, rel=1e-12)


def test_synflow_keeps_the_activation_of_timms_fused_batch_norm():
    from timm.layers import BatchNormAct2d
    conv = nn.Conv2d(1, 1, 1, bias=False)
    nn.init.constant_(conv.weight, -8.0)
    net = nn.Sequential(conv, BatchNormAct2d(1, act_layer=nn.ReLU6), nn.Flatten(), linear([[3.0]]))
    # |conv| = 8 on a 1x1 all-ones image: 8, the norm skipped, ReLU6 clips to 6 (slope 0 there); R = 3 * 6 = 18
    #   linear: |3 * 6| = 18; conv: |8 * dR/dw| = |8 * 3 * 0| = 0; synflow = 18 (48 if the ReLU6 were lost)
    assert synflow(Probe(net, torch.zeros(2, 1, 1, 1), total)) == pytest.approx(18.0, rel=1e-12)


def test_synflow_runs_in_float64():
    # 20 bias-free 1x1 layers of weight -1000: R = 1000^20 = 1e60, beyond float32 (3.4e38). For such a chain
    # every layer's |w dR/dw| = |w| * R / |w| = R, so synflow = 20 R = 2e61
    net = nn.Sequential(*(linear([[-1000.0]]) for _ in range(20)))
    assert synflow(Probe(net, torch.zeros(3, 1), total)) == pytest.approx(2e61, rel=1e-12)


def test_grad_norm_by_hand():
    # input x = [1, 2], loss = the output:
    #   z1 = W1 x + b1 = [1 - 4 + 0.5, 3 + 1 - 1] = [-2.5, 3], h = relu(z1) = [0, 3]
    #   dL/dW2 = h = [0, 3]: norm 3
    #   dL/dz1 = W2 * relu'(z1) = [2 * 0, -1 * 1] = [0, -1]; dL/dW1 = [0, -1]^T [1, 2] = [[0, 0], [-1, -2]]:
    #   norm sqrt(5)
    #   grad_norm = 3 + sqrt(5) (per-layer norms summed; bias gradients are not counted)
    probe = Probe(two_layer(), torch.tensor([[1.0, 2.0]]), total)
    assert grad_norm(probe) == pytest.approx(3.0 + math.sqrt(5.0), rel=1e-6)


def test_naswot_by_hand():
    # Linear(W = [[1, 0], [0, 1], [1, -1]]), ReLU, Linear(W = [[1, -1, 0], [0, 1, -1]]), ReLU, Linear; no biases
    #   x1 = (1, 2):  z = (1, 2, -1) -> code 110, h = (1, 2, 0); z = (-1, 2)  -> code 01
    #   x2 = (-1, 1): z = (-1, 1, -2) -> code 010, h = (0, 1, 0); z = (-1, 1) -> code 01
    #   x3 = (2, -1): z = (2, -1, 3) -> code 101, h = (2, 0, 3); z = (2, -3)  -> code 10
    #   codes (N_A = 5): 11001, 01001, 10110; Hamming 1 (1-2), 4 (1-3), 5 (2-3)
    #   K = N_A - Hamming = [[5, 4, 1], [4, 5, 0], [1, 0, 5]]
    #   det K = 5 (25 - 0) - 4 (20 - 0) + 1 (0 - 5) = 125 - 80 - 5 = 40, score = log 40
    net = nn.Sequential(linear([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]), nn.ReLU(),
                        linear([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]]), nn.ReLU(), linear([[1.0, 1.0]]))
    probe = Probe(net, torch.tensor([[1.0, 2.0], [-1.0, 1.0], [2.0, -1.0]]), total)
    assert naswot(probe) == pytest.approx(math.log(40.0), rel=1e-12)
    with pytest.raises(ValueError, match="ReLU-like"):
        naswot(Probe(nn.Linear(2, 2), torch.ones(3, 2), total))


def small_convnet() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                         nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).train()


def untouched(model: nn.Module, before: dict, params: list) -> bool:
    """Same parameters (objects and values), batch-norm statistics, mode, dtype; no gradients, hooks or patches."""
    after = model.state_dict()
    return (after.keys() == before.keys() and all(torch.equal(before[k], after[k]) for k in before)
            and all(a is b for a, b in zip(params, model.parameters()))
            and all(p.grad is None and p.dtype == torch.float32 for p in model.parameters())
            and all(m.training and not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks)
                    and "forward" not in vars(m) for m in model.modules()))


@pytest.mark.parametrize("name", ZERO_COST)
def test_scores_leave_the_model_as_they_found_it(name):
    model = small_convnet()
    inputs = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    before, params = {k: v.clone() for k, v in model.state_dict().items()}, list(model.parameters())
    probe = Probe(model, inputs, lambda out: out.pow(2).mean())
    score = get_proxy(name).score_network(probe)
    assert math.isfinite(score) and untouched(model, before, params)
    assert get_proxy(name).score_network(probe) == score  # nothing carried over from the first call


@pytest.mark.parametrize("name", ZERO_COST)
def test_registered_as_zero_cost_higher_is_better(name):
    proxy = get_proxy(name)
    assert not proxy.trains and proxy.direction == proxy.mode == "max" and proxy.score_history is None
    assert proxy.label and proxy.doc


def test_registry_holds_them_whichever_module_is_imported_first():
    # no import cycle either way, and the registry stays torch-free until a score runs
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for first in ("nas.proxies", "nas.zero_cost"):
        code = (f"import sys, {first}; from nas.proxies import list_proxies; "
                "assert {'synflow', 'grad_norm', 'naswot', 'final', 'tse'} <= set(list_proxies()), list_proxies(); "
                "assert 'torch' not in sys.modules")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, first + ": " + done.stderr


@pytest.mark.parametrize("name", ZERO_COST)
def test_each_scores_a_face_network_through_the_trainable(monkeypatch, tiny_cache, name):
    seen: list[dict] = []
    monkeypatch.setattr(trial.tune, "report", lambda metrics: seen.append(dict(metrics)))
    plan = TrialPlan(task="faces", space="resnet_d", data=str(tiny_cache), epochs=1, res=32, train_fraction=1.0,
                     batch=8, val_max=8, seed=0, proxy=name)
    run_training({"arch": ARCH}, {"proxy": plan})
    (only,) = seen
    assert "failed" not in only, only.get("failure")
    assert only["proxy"] == only[f"proxy_{name}"] and math.isfinite(only["proxy"])
    assert only["epoch"] == 0 and only["done_training"] == 1
    if name != "naswot":  # log|det K| may be negative; the other two are sums of magnitudes
        assert only["proxy"] > 0


def test_synflow_that_overflows_float64_fails_the_trial_instead_of_scoring_infinity():
    # 120 layers of weight 1e3: R = 1e360, beyond float64 (1.8e308); every deep network would tie at infinity
    net = nn.Sequential(*(linear([[1000.0]]) for _ in range(120)))
    with pytest.raises(FloatingPointError, match="synflow overflowed"):
        synflow(Probe(net, torch.zeros(3, 1), total))
