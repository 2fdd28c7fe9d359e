"""Report sentences from `nas.compare` results, worded by one rule: a difference is called better or worse only
when its whole 95 % interval lies on one side of zero (`nas.compare.verdict`); an interval that contains zero is
"no measurable difference" and a missing one (a single seed) "undecided". A toy (smoke) run's sentences say
that its numbers are not meaningful and never word a win. No torch, Ray or timm here."""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from nas.compare import mann_whitney_greater, smallest_p, verdict

ALPHA = 0.05
TOY_NOTE = "a toy run: these numbers are not meaningful and no comparison is drawn from them"
TEST_NAMES = {"welch": "Welch", "paired t": "paired t-test"}


def _finite(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def fmt_p(p: Any) -> str:
    """`p = 0.031`, `p < 0.001`, or `p not defined` (NaN or missing)."""
    if not _finite(p):
        return "p not defined"
    return "p < 0.001" if p < 0.001 else f"p = {float(p):.2g}"


def _num(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _group(mean: Any, sd: Any, n: int, unit: str, digits: int, per: str) -> str:
    """`12.30 ± 0.40 mm over 2 seeds`, `12.30 mm from 1 seed`, or `no score` (no finished value)."""
    if not n or not _finite(mean):
        return "no score"
    value = _num(float(mean), digits) + (f" ± {_num(float(sd), digits)}" if _finite(sd) else "")
    return f"{value} {unit} {'over' if n > 1 else 'from'} {_plural(int(n), per)}".replace("  ", " ")


def _level(stats: Mapping[str, Any]) -> str:
    return f"{100 * float(stats.get('level', 0.95)):g} %"


def _relative(stats: Mapping[str, Any], unit: str) -> tuple[float, float, float, str]:
    """The difference, its interval and unit: in percent of the reference where known, else in `unit`."""
    pct = [float(stats.get(k, math.nan)) for k in ("pct", "pct_lo", "pct_hi")]
    diff = [float(stats.get(k, math.nan)) for k in ("diff", "lo", "hi")]
    if math.isfinite(pct[0]) and (all(map(math.isfinite, pct)) or not all(map(math.isfinite, diff))):
        return pct[0], pct[1], pct[2], "%"
    return diff[0], diff[1], diff[2], unit


def _signed(value: float, unit: str, digits: int) -> str:
    return f"{value:+.{1 if unit == '%' else digits}f} {unit}"


def _magnitude(value: float, unit: str, digits: int) -> str:
    return f"{abs(value):.{1 if unit == '%' else digits}f} {unit}"


def _test(stats: Mapping[str, Any]) -> str:
    """`Welch p = 0.03` (or the paired t-test's), `` where the stats carry no test."""
    if "p" not in stats:
        return ""
    return f"{TEST_NAMES.get(str(stats.get('test', 'welch')), str(stats.get('test')))} {fmt_p(stats['p'])}"


def difference_phrase(stats: Mapping[str, Any], direction: str = "min", unit: str = "mm", digits: int = 2,
                      toy: bool = False, per: str = "seed") -> str:
    """What a searched-minus-reference difference shows: `4.6 % lower (95 % interval 1.2 to 8.0 %)`,
    `no measurable difference (-0.8 %, 95 % interval -3.1 to +2.0 %)`, `undecided (...)`, or for a toy run the
    bare signed difference and that it is not meaningful."""
    est, lo, hi, u = _relative(stats, unit)
    if not math.isfinite(est):
        return "no difference can be computed (a side has no score)"
    if toy:
        return f"{_signed(est, u, digits)} ({TOY_NOTE})"
    v = _verdict(stats, direction)
    level = _level(stats)
    if v == "undecided" and _finite(lo) and _finite(hi):
        return (f"undecided ({_signed(est, u, digits)}: the {level} interval {_signed(lo, u, digits).removesuffix(' ' + u)}"
                f" to {_signed(hi, u, digits)} excludes zero, but {_test(stats) or 'the test'} is not below "
                f"{ALPHA:g}; with this few {per}s that is not firm)")
    if v == "undecided":
        return f"undecided ({_signed(est, u, digits)}, but {_few(stats, per)})"
    if v == "no measurable difference":
        return (f"no measurable difference ({_signed(est, u, digits)}, {level} interval "
                f"{_signed(lo, u, digits).removesuffix(' ' + u)} to {_signed(hi, u, digits)})")
    word = "lower" if est < 0 else "higher"
    a, b = sorted((abs(lo), abs(hi)))
    return (f"{_magnitude(est, u, digits)} {word} ({level} interval {_magnitude(a, u, digits).removesuffix(' ' + u)} "
            f"to {_magnitude(b, u, digits)})")


def _verdict(stats: Mapping[str, Any], direction: str) -> str:
    """The one rule (`nas.compare.verdict`): interval and test p together."""
    p = stats.get("p")
    return verdict(stats.get("lo", math.nan), stats.get("hi", math.nan), direction,
                   float(p) if p is not None else None)


def _few(stats: Mapping[str, Any], per: str) -> str:
    """Why there is no interval: how many values each side has."""
    n, ref_n = stats.get("n"), stats.get("ref_n")
    if n is None or ref_n is None or min(int(n), int(ref_n)) > 1:
        return "no interval could be computed"
    return f"with {_plural(int(n), per)} against {int(ref_n)} there is no interval: a single value shows no spread"


def compare_sentence(name: str, ref_name: str, stats: Mapping[str, Any], unit: str = "mm", direction: str = "min",
                     digits: int = 2, per: str = "seed", toy: bool = False) -> str:
    """One sentence on `nas.compare.compare_groups(x, y)` for network `name` (x) against `ref_name` (y), e.g.
    `X scores 12.30 ± 0.40 mm over 2 seeds against resnet34d's 12.90 ± 0.30 mm over 2 seeds: 4.6 % lower
    (95 % interval 1.2 to 8.0 %), Welch p = 0.03: better than resnet34d.`"""
    head = (f"{name} scores {_group(stats.get('mean'), stats.get('sd'), stats.get('n', 0), unit, digits, per)} "
            f"against {ref_name}'s "
            f"{_group(stats.get('ref_mean'), stats.get('ref_sd'), stats.get('ref_n', 0), unit, digits, per)}")
    body = difference_phrase(stats, direction, unit, digits, toy, per)
    test = _test(stats)
    if toy or body.startswith(("undecided", "no difference")):
        return f"{head}: {body}."
    text = f"{head}: {body}" + (f", {test}" if test else "")
    v = _verdict(stats, direction)
    if v in ("better", "worse"):
        text += f": {v} than {ref_name}"
    return text + "."


def in_short_phrase(name: str, ref_name: str, stats: Mapping[str, Any], direction: str = "min",
                    unit: str = "mm", digits: int = 2, toy: bool = False) -> str:
    """The headline's clause: `the best searched net beats resnet34d (4.6 % lower, 95 % interval ...)`, and
    `beats` or `loses to` only where the verdict is better or worse."""
    body = difference_phrase(stats, direction, unit, digits, toy)
    if toy:
        return f"{name} against {ref_name}: {body}"
    v = _verdict(stats, direction)
    if v == "better":
        return f"{name} beats {ref_name}: {body}"
    if v == "worse":
        return f"{name} loses to {ref_name}: {body}"
    return f"{name} against {ref_name}: {body}"


def _values(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(scores, dtype=float).ravel()
    return a[~np.isnan(a)]


def _spread(a: np.ndarray, unit: str, digits: int) -> str:
    if a.size == 1:
        return f"{_num(float(a[0]), digits)} {unit}"
    return (f"{_num(float(a.min()), digits)} to {_num(float(a.max()), digits)} {unit} "
            f"(median {_num(float(np.median(a)), digits)})")


def _placement(s: np.ndarray, c: np.ndarray, direction: str, unit: str, digits: int) -> str:
    """Where the searched picks fall among the controls."""
    lower = direction == "min"
    ahead = int((s < c.min()).sum() if lower else (s > c.max()).sum())
    return (f"The {_plural(s.size, 'searched pick')} score {_spread(s, unit, digits)}, the "
            f"{_plural(c.size, 'random control')} {_spread(c, unit, digits)}; {ahead} of {s.size} searched "
            f"picks {'scores' if ahead == 1 else 'score'} {'lower' if lower else 'higher'} than every control.")


def controls_sentence(searched_scores: Sequence[float], control_scores: Sequence[float], p: float | None = None,
                      direction: str = "min", unit: str = "mm", digits: int = 2, test: str = "Mann-Whitney",
                      toy: bool = False) -> str:
    """Answers "did the search pick better architectures than random draws from the same window?":
    `yes (one-sided Mann-Whitney p = ...)`, `no (...)` where the controls are measurably ahead, or
    `undecided: ...` when p >= 0.05 or there are too few values to ever reach it (saying how many there are).

    `p` is the one-sided p that the searched picks score better (lower for direction 'min'); by default the
    one-sided Mann-Whitney of the scores given. NaN scores (failed trainings) are left out."""
    if direction not in ("min", "max"):
        raise ValueError(f"direction must be 'min' or 'max', got {direction!r}")
    s, c = _values(searched_scores), _values(control_scores)
    side = "lower" if direction == "min" else "higher"
    question = f"Did the search pick {side}-scoring architectures than random draws from the same window?"
    if s.size == 0 or c.size == 0:
        return (f"{question} undecided: {_plural(s.size, 'searched pick')} and {_plural(c.size, 'random control')} "
                "have a full score, and both are needed.")
    where = _placement(s, c, direction, unit, digits)
    if toy:
        return f"{question} Not answered ({TOY_NOTE}). {where}"
    floor = smallest_p(s.size, c.size)
    if floor >= ALPHA:
        return (f"{question} undecided: with {_plural(s.size, 'searched pick')} and "
                f"{_plural(c.size, 'random control')} the smallest one-sided p any ordering can give is "
                f"{floor:.2g}, so the test cannot reach {ALPHA:g}: more controls are needed. {where}")
    high, low = (c, s) if direction == "min" else (s, c)  # the search did well if `high` tends to be greater
    p = mann_whitney_greater(high, low) if p is None else p
    if _finite(p) and p < ALPHA:
        return f"{question} yes (one-sided {test} {fmt_p(p)}). {where}"
    reverse = mann_whitney_greater(low, high)
    if _finite(reverse) and reverse < ALPHA:
        return (f"{question} no: the random controls score {side} (one-sided Mann-Whitney {fmt_p(reverse)}; "
                f"the search's side: {fmt_p(p)}). {where}")
    return f"{question} undecided: one-sided {test} {fmt_p(p)}, not below {ALPHA:g}. {where}"


def ablation_phrase(stats: Mapping[str, Any], paper_delta: float, direction: str = "min", unit: str = "mm",
                    digits: int = 2, toy: bool = False) -> str:
    """A Table 1 experiment against its reference: `the paper's direction` or `opposite to the paper` only when
    the interval excludes zero; else `no measurable difference` or `undecided`, with the interval."""
    body = difference_phrase(stats, direction, unit, digits, toy)
    test = _test(stats)
    suffix = f", {test}" if test and not toy and _finite(stats.get("p")) else ""
    v = _verdict(stats, direction)
    if toy or v not in ("better", "worse") or not _finite(paper_delta) or paper_delta == 0:
        return body + suffix
    same = (float(stats["diff"]) < 0) == (paper_delta < 0)
    return f"{body}{suffix}: " + ("the paper's direction" if same else "opposite to the paper")
