"""Structural references of a fidelity study: how well an architecture's size alone ranks it.

Zero-cost proxies such as SynFlow grow with depth and parameter count, and baselines of that kind are how the
zero-cost literature judges them (Abdelfattah et al., ICLR 2021, report #params and FLOPs beside every proxy). A
reference costs nothing and trains nothing; its direction is the same for every reference and every study: the
bigger network ranks better. References are reported beside the proxies and are never recommended (a search that
ranks by depth alone needs no proxy). FLOPs are no reference here: the window holds them nearly equal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from search_spaces import SearchSpace

Row = Mapping[str, Any]  # a models.csv row: arch, kind, gflops, params_m


@dataclass(frozen=True)
class Reference:
    """One size measure of an architecture, read from its models.csv row and its search space."""

    name: str
    label: str
    value: Callable[[SearchSpace, Row], float]
    direction: str = "max"  # the deeper or larger network ranks better, in every study


def _depth(space: SearchSpace, row: Row) -> float:
    return float(sum(space.to_json(space.parse(str(row["arch"])))["depths"]))


def _params(space: SearchSpace, row: Row) -> float:
    return float(row["params_m"])


REFERENCES: dict[str, Reference] = {r.name: r for r in (
    Reference("ref_depth", "depth alone: the number of blocks", _depth),
    Reference("ref_params", "size alone: the parameter count", _params),
)}


def reference_values(space: SearchSpace, rows: list[Row]) -> dict[str, list[float]]:
    """Each reference's value for every architecture, in the rows' order."""
    return {name: [ref.value(space, row) for row in rows] for name, ref in REFERENCES.items()}
