"""Typed errors of the face-data package; every one is bad input (one line and exit code 2 at the CLI)."""
from __future__ import annotations

from kit.errors import ToolkitError


class DataError(ToolkitError):
    """Bad face data: a face model, a WCPA-layout file or a crop cache."""


class CacheError(DataError):
    """A crop cache that is missing, unreadable, inconsistent or of another format version."""


class CameraError(DataError):
    """A projection matrix that is not an OpenGL pinhole camera of the WCPA form."""


class FaceModelError(DataError):
    """A face model (procedural parameters, OBJ folder or WCPA resources) that cannot be used."""


class LayoutError(DataError):
    """A WCPA-layout file that is missing, unreadable, wrong-shaped or of another topology."""
