"""Each stage-2 model against the reference baseline over seeds (issue 15): the `nas.compare` comparison of its
seeds' scores with the reference's (paired by seed where both have the same seeds), its measured speed and the
speed ratios to the reference's. Torch-free: the report reads final.csv only."""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from nas.compare import compare_groups

SPEED = ("train_img_s", "infer_img_s", "latency_ms_b1", "latency_ms_b1_iqr")
RATIOS = {"train_x": "train_img_s", "infer_x": "infer_img_s", "latency_x": "latency_ms_b1"}
# comparison-table column <- compare_groups key
STAT_COLUMNS = {"delta_lo": "lo", "delta_hi": "hi", "pct_lo": "pct_lo", "pct_hi": "pct_hi", "p": "p", "test": "test",
                "verdict": "verdict"}
REFERENCE_VERDICT = "reference"


def completed(g: pd.DataFrame) -> pd.DataFrame:
    """The rows of a model that finished with a score."""
    return g[(g["status"] == "complete") & g["score"].notna()]


def seed_scores(g: pd.DataFrame) -> tuple[list[float], list[int] | None]:
    """A model's finished scores, and their seeds where every row names a distinct one (else None)."""
    done = completed(g)
    scores = [float(v) for v in done["score"]]
    if "seed" not in done.columns or done["seed"].isna().any() or not done["seed"].is_unique:
        return scores, None
    return scores, [int(s) for s in done["seed"]]


def versus(model: pd.DataFrame, ref: pd.DataFrame, direction: str = "min") -> dict[str, Any]:
    """`nas.compare.compare_groups` of a model's seeds against the reference's: paired by seed when both finished
    the same two or more seeds, else Welch."""
    xs, x_seeds = seed_scores(model)
    rs, r_seeds = seed_scores(ref)
    if x_seeds is not None and r_seeds is not None and len(xs) >= 2 and sorted(x_seeds) == sorted(r_seeds):
        by_x, by_r = dict(zip(x_seeds, xs)), dict(zip(r_seeds, rs))
        order = sorted(by_x)
        return compare_groups([by_x[s] for s in order], [by_r[s] for s in order], direction, paired=True)
    return compare_groups(xs, rs, direction)


def stat_columns(model: pd.DataFrame, ref: pd.DataFrame, is_reference: bool) -> dict[str, Any]:
    """The comparison table's interval, p, test and verdict columns of one model."""
    if is_reference:
        return {**{c: math.nan for c in STAT_COLUMNS}, "test": "", "verdict": REFERENCE_VERDICT}
    row = versus(model, ref)
    return {col: row.get(key, math.nan) for col, key in STAT_COLUMNS.items()}


def speed_columns(g: pd.DataFrame) -> dict[str, Any]:
    """A model's measured speed (the same on each of its seed rows: the median of what is there) and device."""
    out: dict[str, Any] = {}
    for col in SPEED:
        values = pd.to_numeric(g[col], errors="coerce").dropna() if col in g.columns else pd.Series(dtype=float)
        out[col] = float(values.median()) if len(values) else math.nan
    device = g["speed_device"].dropna().astype(str) if "speed_device" in g.columns else pd.Series(dtype=str)
    device = device[device != ""]
    out["speed_device"] = device.iloc[0] if len(device) else ""
    return out


def scored_on(g: pd.DataFrame) -> str:
    """The held-out subjects a model's finished scores are on: test, selection, or '' where not recorded."""
    if "scored_on" not in g.columns:
        return ""
    values = sorted({str(v) for v in completed(g)["scored_on"].dropna() if str(v)})
    return ", ".join(values)


def add_ratios(table: pd.DataFrame, ref_name: str) -> pd.DataFrame:
    """Speed ratios to the reference: train_x and infer_x (img/s over the reference's: > 1 is faster) and
    latency_x (batch-1 latency over the reference's: < 1 is faster)."""
    ref = table[table["network"] == ref_name]
    for ratio, col in RATIOS.items():
        base = float(ref[col].iloc[0]) if len(ref) and pd.notna(ref[col].iloc[0]) else math.nan
        table[ratio] = table[col] / base if base and math.isfinite(base) else np.nan
    return table


def row_stats(row: Mapping[str, Any], ref: Mapping[str, Any] | None) -> dict[str, Any]:
    """A comparison-table row against the reference's row, as `compare_groups` returns it (for reports.wording)."""
    ref = {} if ref is None else ref
    return {"mean": row.get("score"), "sd": row.get("score_sd"), "n": int(row.get("seeds") or 0),
            "ref_mean": ref.get("score", math.nan), "ref_sd": ref.get("score_sd", math.nan),
            "ref_n": int(ref.get("seeds") or 0), "diff": row.get("delta_vs_reference"), "lo": row.get("delta_lo"),
            "hi": row.get("delta_hi"), "pct": row.get("delta_pct"), "pct_lo": row.get("pct_lo"),
            "pct_hi": row.get("pct_hi"), "test": row.get("test") or "welch", "p": row.get("p"), "level": 0.95,
            "verdict": row.get("verdict")}
