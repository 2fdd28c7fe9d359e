"""Zero-cost proxies: the untrained network scored on one batch (`kit.task.Probe`), each from its paper.

Importing this module registers `synflow`, `grad_norm` and `naswot` in `nas.proxies` (which imports it at its
end, so the registry always holds them). torch loads only when a score runs, so the registry stays light
for reports. Every score works on a private copy of the probe's network, as Abdelfattah et al.'s
`find_measures` does: the probe's model keeps its parameters, batch-norm statistics, mode, hooks and (absent)
gradients whatever a score does to the copy.
"""
from __future__ import annotations

import copy
import math
import types
from typing import TYPE_CHECKING, Any

from kit.task import Probe
from nas.proxies import Proxy, register_proxy

if TYPE_CHECKING:
    import torch


def _scratch(model: "torch.nn.Module") -> "torch.nn.Module":
    """A private copy of the probe's network, without gradients."""
    net = copy.deepcopy(model)
    net.zero_grad(set_to_none=True)  # deepcopy copies .grad too
    return net


def _scored_weights(net: "torch.nn.Module") -> list["torch.Tensor"]:
    """The weights of convolution and linear layers: what Abdelfattah et al.'s `get_layer_metric_array` scores
    (biases and batch-norm affine parameters take part in the forward pass but are not scored)."""
    from torch import nn
    layers = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
    return [m.weight for m in net.modules() if isinstance(m, layers) and m.weight is not None]


def _norm_free_forward(self: Any, x: "torch.Tensor") -> "torch.Tensor":
    """A batch-norm layer's forward without the normalisation."""
    for name in ("drop", "act"):  # timm's BatchNormAct2d fuses dropout and activation after the norm: keep them
        layer = getattr(self, name, None)
        if layer is not None:
            x = layer(x)
    return x


def _skip_batch_norm(net: "torch.nn.Module") -> None:
    """Make every batch-norm layer of `net` pass its input on (Abdelfattah et al.'s `copynet(bn=False)`)."""
    from torch.nn.modules.batchnorm import _BatchNorm  # BatchNorm1d/2d/3d, SyncBatchNorm, timm's BatchNormAct2d
    for module in net.modules():
        if isinstance(module, _BatchNorm):
            module.forward = types.MethodType(_norm_free_forward, module)


def _synflow(model: "torch.nn.Module", inputs: "torch.Tensor", dtype: "torch.dtype") -> float:
    """SynFlow of `model` computed in `dtype` on a copy."""
    import torch
    net = _scratch(model).eval()  # no dropout or drop-path: the score is deterministic (Tanaka's eval mode)
    _skip_batch_norm(net)
    net.to(dtype)
    with torch.no_grad():
        for tensor in (*net.parameters(), *net.buffers()):
            if tensor.is_floating_point():
                tensor.abs_()  # the "linearised" network: every weight, bias and buffer made non-negative
    weights = _scored_weights(net)
    for w in weights:
        w.requires_grad_(True)
    ones = torch.ones((1, *inputs.shape[1:]), dtype=dtype, device=inputs.device)
    flow = net(ones).sum()  # R = 1^T (prod_l |W_l|) 1
    grads = torch.autograd.grad(flow, weights, allow_unused=True)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(weights, grads) if g is not None))


def synflow(probe: Probe) -> float:
    """SynFlow (Tanaka et al., NeurIPS 2020) as Abdelfattah et al.'s zero-cost `synflow` (ICLR 2021).

    On a copy of the network: every parameter replaced by its absolute value, an all-ones input of one image
    of the probe's input shape, R the sum of the outputs, score = sum over conv and linear weights of
    |theta * dR/dtheta|; in float64 to keep R from overflowing (their `net.double()`), float32 where the
    model has no float64 kernels. Batch norm: skipped (its forward passes the input on), which is what
    their `synflow` measure does (`bn=False`: `copynet` makes BatchNorm1d/2d a no-op; their NAS-Bench-201
    copy is built without batch norm). Why not keep it: a train-mode batch norm normalises a single
    all-ones image's nearly constant maps to about zero (and refuses a 1x1 map); an eval-mode one at
    initialisation multiplies by |gamma|, and timm zero-initialises gamma of the last batch norm of every
    residual block, which would cut each residual branch out of R and score its convolutions zero. The copy
    is in eval mode (Tanaka's pruning default) so that dropout and drop-path cannot make the score random.
    One deviation from their generic no-op: timm's fused BatchNormAct2d keeps its activation.
    """
    import torch
    try:
        value = _synflow(probe.model, probe.inputs, torch.float64)
    except RuntimeError:  # an operation without a float64 kernel (NotImplementedError is a RuntimeError)
        value = _synflow(probe.model, probe.inputs, torch.float32)
    if not math.isfinite(value):  # R grows ~400x a block: an overflow would tie the deepest networks at infinity
        raise FloatingPointError(f"synflow overflowed ({value}): the network is too deep for its number type")
    return value


def grad_norm(probe: Probe) -> float:
    """grad_norm (Abdelfattah et al., ICLR 2021): the sum over conv and linear layers of the L2 norm of their
    weight's gradient of the task's loss on one batch, the network in the mode the probe gives (train).

    Gradients come from `torch.autograd.grad` on a copy, so no `.grad` is written anywhere and the copy's
    batch-norm running statistics absorb the train-mode forward pass. Active dropout would make the score
    random, as in their code (the spaces' timm networks are built without it).
    """
    import torch
    net = _scratch(probe.model)
    weights = [w for w in _scored_weights(net) if w.requires_grad]
    loss = probe.loss(net(probe.inputs))
    grads = torch.autograd.grad(loss, weights, allow_unused=True)
    return float(sum(g.norm() for g in grads if g is not None))


def _relu_like(module: Any) -> bool:
    """Piecewise-linear activations with their kink at 0, so that a unit's sign says which linear piece it is
    on (the linear regions NASWOT counts)."""
    from torch import nn
    return isinstance(module, (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU))


def naswot(probe: Probe) -> float:
    """NASWOT (Mellor et al., ICML 2021): log|det K| of the batch's activation-code kernel.

    Every image's binary code is the sign pattern (> 0) of every ReLU-like activation module's output, the
    layers concatenated (N_A units); K_ij = N_A - Hamming(c_i, c_j), the number of units on which images i
    and j agree; the score is slogdet's log|det K|. As in their code, the network is as built (train mode),
    the hooks sit on activation modules (a functional relu is not seen), and K sums the layers' kernels.
    """
    import torch
    net = _scratch(probe.model)
    batch = probe.inputs.shape[0]
    # float64 counts are exact integers (float32 matmul may round or, on a GPU, run in TF32)
    kernel = torch.zeros((batch, batch), dtype=torch.float64, device=probe.inputs.device)

    def count(module: Any, args: Any, output: "torch.Tensor") -> None:
        codes = (output.detach().reshape(batch, -1) > 0).to(torch.float64)
        ones = codes.sum(dim=1)
        # agreements = N - Hamming = N - |c_i| - |c_j| + 2 c_i.c_j: one matrix product instead of two
        kernel.add_(2 * (codes @ codes.T) - ones[:, None] - ones[None, :] + codes.shape[1])

    handles = [m.register_forward_hook(count) for m in net.modules() if _relu_like(m)]
    if not handles:
        raise ValueError("naswot: the network has no ReLU-like activation module to read codes from")
    try:
        with torch.no_grad():
            net(probe.inputs)
    finally:
        for handle in handles:
            handle.remove()
    return float(torch.linalg.slogdet(kernel).logabsdet)


register_proxy(Proxy("synflow", "SynFlow at initialisation (Tanaka et al. 2020; zero-cost, Abdelfattah et al. 2021)",
                     "the synaptic flow at initialisation (SynFlow)", direction="max", trains=False,
                     score_network=synflow))
register_proxy(Proxy("grad_norm", "the summed per-layer gradient norms of the loss on one batch at initialisation "
                     "(Abdelfattah et al. 2021)", "the gradient norm at initialisation (grad_norm)",
                     direction="max", trains=False, score_network=grad_norm))
register_proxy(Proxy("naswot", "log|det| of the activation-code kernel of one batch at initialisation (NASWOT, "
                     "Mellor et al. 2021)", "the activation-code kernel at initialisation (NASWOT)",
                     direction="max", trains=False, score_network=naswot))
