"""The reference FLOP count: fvcore's `FlopCountAnalysis` on a built network (slow; tests and `nas-space flops`
check the analytic counts of every space against it)."""
from __future__ import annotations

import logging
import warnings
from typing import Any


def count_flops(space: Any, arch: Any, res: int | None = None, outputs: int | None = None) -> int:
    """FLOPs of `space.build(arch, outputs)` as fvcore's `FlopCountAnalysis(...).total()` counts them (eval
    mode, batch 1, `res` x `res` input; defaults: the space's). The network is allocated without
    initialisation: a FLOP count depends on shapes only.
    """
    import torch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fvcore's imports raise deprecation warnings of torch.jit
        from fvcore.nn import FlopCountAnalysis  # slow import; only this path needs it

    res = space.res if res is None else res
    outputs = space.outputs if outputs is None else outputs
    model = space.build(arch, outputs, device="meta").to_empty(device="cpu").eval()
    analysis = FlopCountAnalysis(model, torch.zeros(1, 3, res, res))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # jit tracer warnings say nothing about the count
        return int(analysis.total())


def count_params(model: Any) -> int:
    """Trainable parameters of a built network."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
