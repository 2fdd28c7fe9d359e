"""FLOP counts of an architecture: fvcore's (the reference) and the exact analytic one."""
from __future__ import annotations

import logging
import warnings

import numpy as np
import torch

from search_spaces import complexity as C
from search_spaces.arch import Arch
from search_spaces.model import JMLR_OUTPUTS, build_model

DEFAULT_RES = 256


def analytic_complexity(arch: Arch, res: int = DEFAULT_RES, outputs: int = JMLR_OUTPUTS) -> C.Cx:
    """Exact FLOPs (as fvcore counts them) and parameter count, without building a network."""
    return C.resnet(C.Cx(res, res), arch.block, arch.depths, arch.widths, outputs)


def analytic_flops(arch: Arch, res: int = DEFAULT_RES, outputs: int = JMLR_OUTPUTS) -> int:
    """Exact FLOPs of `arch` at `res` x `res` input with an `outputs`-wide head."""
    return int(analytic_complexity(arch, res, outputs).flops)


def analytic_params(arch: Arch, outputs: int = JMLR_OUTPUTS) -> int:
    """Exact number of trainable parameters of `build_model(arch, outputs)`."""
    return int(analytic_complexity(arch, 32, outputs).params)


def analytic_batch(depths: np.ndarray, widths: np.ndarray, block: str = "basic",
                   res: int = DEFAULT_RES, outputs: int = JMLR_OUTPUTS) -> tuple[np.ndarray, np.ndarray]:
    """FLOPs and params of many architectures at once: `depths`, `widths` are (n, stages) ints."""
    depths = np.asarray(depths, dtype=np.int64)
    widths = np.asarray(widths, dtype=np.int64)
    cx = C.resnet(C.Cx(res, res), block, list(depths.T), list(widths.T), outputs)
    n = len(depths)
    return np.broadcast_to(cx.flops, (n,)).copy(), np.broadcast_to(cx.params, (n,)).copy()


def count_flops(arch: Arch, res: int = DEFAULT_RES, outputs: int = JMLR_OUTPUTS) -> int:
    """FLOPs as fvcore's `FlopCountAnalysis(...).total()` counts them (eval mode, batch 1).

    The network is allocated without initialisation: a FLOP count depends on shapes only.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fvcore's imports raise deprecation warnings of torch.jit
        from fvcore.nn import FlopCountAnalysis  # slow import; only this path needs it

    model = build_model(arch, outputs, device="meta").to_empty(device="cpu").eval()
    analysis = FlopCountAnalysis(model, torch.zeros(1, 3, res, res))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # jit tracer warnings say nothing about the count
        return int(analysis.total())


def count_params(model: torch.nn.Module) -> int:
    """Trainable parameters of a built network."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
