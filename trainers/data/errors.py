"""Typed errors of the face-data package; the CLI turns each into one line and exit code 2."""
from __future__ import annotations


class DataError(ValueError):
    """Base class for every bad-input error raised by `trainers.data`."""


class FaceModelError(DataError):
    """A face model (procedural parameters, OBJ folder or WCPA resources) that cannot be used."""


class LayoutError(DataError):
    """A WCPA-layout file that is missing, unreadable, wrong-shaped or of another topology."""


class CacheError(DataError):
    """A crop cache that is missing, incomplete or of another format version."""
