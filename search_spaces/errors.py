"""Typed errors of the search spaces; each is bad input (one line and exit code 2 at the CLI)."""
from __future__ import annotations

from kit.errors import ToolkitError


class SearchSpaceError(ToolkitError):
    """Base class for every bad-input error raised by `search_spaces`."""


class ArchError(SearchSpaceError):
    """An architecture string, JSON value or baseline name that cannot be understood."""


class BudgetError(SearchSpaceError):
    """A FLOP budget or tolerance that cannot be parsed or makes no sense."""


class EmptyWindowError(SearchSpaceError):
    """A FLOP window that holds no architecture of the space (or too few to sample)."""
