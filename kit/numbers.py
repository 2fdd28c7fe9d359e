"""Numbers for tables and sentences: fixed decimals, or significant digits where fixed ones would mislead."""
from __future__ import annotations

from typing import Any


def short_number(value: Any, decimals: int = 2) -> str:
    """`decimals` places, or three significant digits where the value is huge (>= 1e6) or tiny; '-' for none.

    SynFlow's scores reach 1e300, and printed in full they push every other column off a table.
    """
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "-"
    if x != x:  # NaN
        return "-"
    return f"{x:.3g}" if x != 0 and not 10.0 ** -decimals <= abs(x) < 1e6 else f"{x:.{decimals}f}"
