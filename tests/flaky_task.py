"""A face task whose training fails for two chosen architectures: the first raises, the second runs out of
(simulated) GPU memory. Ray's workers load it by its import path `flaky_task:FlakyTask`."""
from __future__ import annotations

from typing import Any, Mapping

import torch

from search_spaces import FlopWindow, create_space, sample_archs
from trainers.task import FaceTask


def doomed(budget: str = "5G", seed: int = 0) -> tuple[str, str]:
    """The first two architectures the uniform sampler proposes (seeded): the ones that fail."""
    space = create_space("resnet_d", res=FaceTask.flop_res, outputs=FaceTask.flop_outputs)
    first, second = sample_archs(space, FlopWindow.below(budget), 2, seed=seed)
    return str(first.arch), str(second.arch)


class FlakyTask(FaceTask):
    """FaceTask, but `train` raises for the first sampled architecture and runs out of memory for the second."""

    def train(self, settings: Mapping[str, Any], data: Any, out_dir: Any, on_epoch: Any) -> dict:
        raises, oom = doomed()
        if settings["arch"] == raises:
            raise RuntimeError("the trial raised on purpose")
        if settings["arch"] == oom:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (simulated)")
        return super().train(settings, data, out_dir, on_epoch)
