"""The registry of search spaces, in the manner of timm's `register_model` / `create_model`: a space is a class
registered under its `name`; named variants are thin entries with other defaults."""
from __future__ import annotations

import functools
from typing import Any, Callable

from search_spaces.base import SearchSpace
from search_spaces.errors import SearchSpaceError

_SPACES: dict[str, Callable[..., SearchSpace]] = {}
DEFAULT_SPACE = "resnet_d"


def register_space(name: str, **defaults: Any) -> Callable[[type], type]:
    """Class decorator: register a space class under `name` (with keyword defaults for a named variant)."""
    def wrap(cls: type) -> type:
        if name in _SPACES:
            raise SearchSpaceError(f"search space {name!r} is registered twice")
        _SPACES[name] = functools.partial(cls, **defaults) if defaults else cls
        return cls
    return wrap


def list_spaces() -> list[str]:
    """Names of every registered space."""
    return sorted(_SPACES)


def create_space(name: str = DEFAULT_SPACE, **options: Any) -> SearchSpace:
    """A space by name, configured with `options` (e.g. `res`, `outputs`)."""
    try:
        factory = _SPACES[name]
    except KeyError:
        raise SearchSpaceError(f"unknown search space {name!r}; registered: {', '.join(list_spaces())}") from None
    try:
        return factory(**options)
    except TypeError as exc:
        raise SearchSpaceError(f"search space {name!r}: {exc}") from None
