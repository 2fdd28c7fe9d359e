"""Typed errors of the trainer; the CLI turns each bad-input error into one line and exit code 2."""
from __future__ import annotations


class TrainerError(ValueError):
    """Base class for every bad-input error raised by `trainers` (exit code 2 at the CLI)."""


class ConfigError(TrainerError):
    """A training or evaluation setting that is malformed or impossible."""


class DataError(TrainerError):
    """Bad face data: a face model, a WCPA-layout file or a crop cache (`trainers.data` raises these)."""


class CacheError(DataError):
    """A crop cache that is missing, unreadable, inconsistent or of another format version."""


class CheckpointError(TrainerError):
    """A checkpoint that is missing, corrupt, or does not match the data or the settings."""


class CameraError(TrainerError):
    """A projection matrix that is not an OpenGL pinhole camera of the WCPA form."""


class DivergedError(RuntimeError):
    """The training loss became NaN or infinite; not bad input, so not a `TrainerError`."""

    def __init__(self, epoch: int, step: int, loss: float) -> None:
        super().__init__(f"training diverged at epoch {epoch + 1}, step {step}: loss is {loss}")
        self.epoch, self.step, self.loss = epoch, step, loss
