"""FLOP budgets: parsing `5G`-style strings and the sampling window below a budget."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from search_spaces.errors import BudgetError

_UNITS = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
_BUDGET = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgt]?)\s*(f|flops?)?\s*$", re.I)


def parse_budget(text: "str | int | float") -> int:
    """FLOPs of a budget such as `5G`, `5.12G`, `500M`, `5e9` or `5GF` (case-insensitive)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _BUDGET.match(str(text))
        if not match:
            raise BudgetError(f"cannot parse FLOP budget {text!r}: expected e.g. 5G, 5.12G, 500M, 5e9 or 5GF")
        value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if not math.isfinite(value) or value < 1:
        raise BudgetError(f"FLOP budget {text!r} must be a positive, finite number of FLOPs")
    return int(round(value))


def format_flops(flops: float, digits: int = 4) -> str:
    """Short human form: 5125000000 -> '5.125G'."""
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(flops) >= scale:
            return f"{flops / scale:.{digits}g}{unit}"
    return f"{flops:.0f}"


@dataclass(frozen=True)
class FlopWindow:
    """Closed interval [low, high] of admissible FLOPs."""

    low: int
    high: int

    @classmethod
    def below(cls, budget: "str | int | float", tol: float = 0.05) -> "FlopWindow":
        """The window [(1 - tol) * budget, budget], as the search uses it."""
        flops = parse_budget(budget)
        if not (isinstance(tol, (int, float)) and 0 < tol < 1):
            raise BudgetError(f"tolerance {tol!r} must lie strictly between 0 and 1")
        return cls(int(math.ceil((1 - tol) * flops)), flops)

    def __contains__(self, flops: object) -> bool:
        return self.low <= flops <= self.high  # type: ignore[operator]

    def __str__(self) -> str:
        digits = 4
        while digits < 13 and format_flops(self.low, digits) == format_flops(self.high, digits) \
                and self.low != self.high:
            digits += 1  # show enough digits to tell the two ends apart
        return f"[{format_flops(self.low, digits)}, {format_flops(self.high, digits)}] FLOPs"
