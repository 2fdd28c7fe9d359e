"""The task registry: `nas` reaches a task's data, model head, loss and metric only through it.

Entries are import paths, so naming a task costs nothing until it is used; `get_task` loads its module (a light
one: the task imports its heavy parts, torch included, only where it trains or evaluates).
"""
from __future__ import annotations

import importlib
from functools import lru_cache

from kit.errors import ToolkitError
from kit.task import Task

_METHODS = ("check_data", "prepare_data", "splits", "train", "evaluate")  # what makes a class a Task (a Protocol)
TASKS: dict[str, str] = {"faces": "trainers.task:FaceTask"}
DEFAULT_TASK = "faces"


class TaskError(ToolkitError):
    """An unknown task name."""


def list_tasks() -> list[str]:
    """Names of the registered tasks."""
    return sorted(TASKS)


@lru_cache(maxsize=None)
def get_task(name: str = DEFAULT_TASK) -> Task:
    """The registered task `name`, or the class at an import path `package.module:Class` (how a task that is not
    registered here, e.g. a user's or a test's, reaches Ray's worker processes by name)."""
    path = TASKS.get(name, name if ":" in name else None)
    if path is None:
        raise TaskError(f"unknown task {name!r}; registered: {', '.join(list_tasks())} (or give module:Class)")
    module, _, attr = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise TaskError(f"task {name!r} cannot be loaded: {exc}") from None
    if not (isinstance(cls, type) and all(callable(getattr(cls, m, None)) for m in _METHODS)):
        raise TaskError(f"task {name!r} is not a task: give module:Class of a class with kit.task.Task's methods")
    return cls()
