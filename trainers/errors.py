"""Typed errors of the trainer; bad input derives from the toolkit's `ToolkitError` (exit code 2 at the CLI)."""
from __future__ import annotations

from facedata.errors import CacheError, CameraError, DataError
from kit.errors import RunFailure, ToolkitError

__all__ = ["TrainerError", "ConfigError", "CheckpointError", "DivergedError", "DataError", "CacheError",
           "CameraError"]


class TrainerError(ToolkitError):
    """Base class for every bad-input error raised by `trainers` itself."""


class ConfigError(TrainerError):
    """A training or evaluation setting that is malformed or impossible."""


class CheckpointError(TrainerError):
    """A checkpoint that is missing, corrupt, or does not match the data or the settings."""


class DivergedError(RunFailure):
    """The training loss became NaN or infinite; not bad input (exit code 1)."""

    def __init__(self, epoch: int, step: int, loss: float) -> None:
        super().__init__(f"training diverged at epoch {epoch + 1}, step {step}: loss is {loss}")
        self.epoch, self.step, self.loss = epoch, step, loss
