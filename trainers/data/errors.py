"""Typed errors of the face-data package; the CLI turns each into one line and exit code 2.

`DataError` and `CacheError` are the trainer's own (one class per kind of bad input across `trainers`).
"""
from __future__ import annotations

from trainers.errors import CacheError, DataError

__all__ = ["DataError", "CacheError", "FaceModelError", "LayoutError"]


class FaceModelError(DataError):
    """A face model (procedural parameters, OBJ folder or WCPA resources) that cannot be used."""


class LayoutError(DataError):
    """A WCPA-layout file that is missing, unreadable, wrong-shaped or of another topology."""
