"""Typed errors of the search space; the CLI turns each into one line and exit code 2."""


class SearchSpaceError(ValueError):
    """Base class for every bad-input error raised by `search_spaces`."""


class ArchError(SearchSpaceError):
    """An architecture string, JSON value or baseline name that cannot be understood."""


class BudgetError(SearchSpaceError):
    """A FLOP budget or tolerance that cannot be parsed or makes no sense."""


class EmptyWindowError(SearchSpaceError):
    """A FLOP window that holds no architecture of the space (or too few to sample)."""
