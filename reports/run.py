"""The run folder as a report sees it: its kind, settings, summary and tables, and whether it is complete."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kit.errors import ToolkitError


class ReportError(ToolkitError):
    """A run folder that is missing, or a file in it that cannot be read (the message names it)."""


@dataclass
class Run:
    """Everything a report reads from one run folder."""

    root: Path
    kind: str  # search | ablation | fidelity
    config: dict[str, Any]
    summary: dict[str, Any]
    trials: pd.DataFrame
    final: pd.DataFrame
    design: list[str] = field(default_factory=list)  # the space's design-variable columns of `trials`
    models: pd.DataFrame = field(default_factory=pd.DataFrame)  # fidelity: models.csv, one row per architecture
    fidelity: pd.DataFrame = field(default_factory=pd.DataFrame)  # fidelity: fidelity.csv, one row per proxy

    @property
    def name(self) -> str:
        """The run's name (its folder's, where the config does not say)."""
        return str(self.config.get("name") or self.root.name)


@dataclass
class RunStatus:
    """Whether the run finished, and a sentence for each part that did not."""

    partial: bool
    notes: list[str] = field(default_factory=list)


def state_text(value: Any) -> str:
    """How far a stage got, from its status in summary.json."""
    if value in (None, ""):
        return "not started"
    if value == "running":
        return "unfinished (running when last written: still going, or stopped)"
    return str(value)


def is_toy(run: Run) -> bool:
    """A smoke-preset or otherwise toy-sized run: its scores say nothing about the architectures."""
    c = run.config
    epochs = c.get("final_epochs") or c.get("full_epochs") or c.get("epochs") or 40
    return c.get("preset") == "smoke" or int(epochs) < 5 or int(c.get("final_res") or c.get("res") or 256) < 128
