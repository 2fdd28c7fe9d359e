"""A nas-fidelity run folder read into pandas: models.csv (one row per architecture, one column per seed of the
full training and of each proxy), fidelity.csv (one row per proxy) and summary.json, each checked, with
one-line errors naming the damaged file; and how far the run got."""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nas.runs import RunDir, read_table
from reports.run import ReportError, Run, RunStatus, state_text

FIDELITY_COMMAND = "nas-fidelity"  # config.yaml's `command` of a proxy-fidelity run
MODELS_CSV, FIDELITY_CSV = "models.csv", "fidelity.csv"  # a fidelity run's two tables
MODEL_NUMBERS = ("gflops", "params_m")
FIDELITY_NUMBERS = ("kendall", "kendall_lo", "kendall_hi", "spearman", "spearman_lo", "spearman_hi",
                    "repeat_kendall", "gpu_s_per_arch", "n")
TAUS = ("kendall", "kendall_lo", "kendall_hi", "spearman", "spearman_lo", "spearman_hi", "repeat_kendall")
SUMMARY_NUMBERS = ("n_archs", "noise_ceiling_kendall", "noise_ceiling_kendall_lo", "noise_ceiling_kendall_hi", "icc",
                   "full_gpu_s_per_arch")
FULL = "full_score"  # models.csv: full_score_s0, full_score_s1, ... (one column per full-training seed)
SEED_COLUMN = re.compile(r"^(?P<name>.+)_s(?P<seed>\d+)$")


def _rows(path: Path) -> pd.DataFrame:
    """A CSV table of the run folder as strings; ReportError naming it where it cannot be read as one."""
    try:
        rows = read_table(path)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ReportError(f"{path}: not a readable CSV table ({exc})") from None
    for line, row in enumerate(rows, start=2):
        if None in row:
            raise ReportError(f"{path}: line {line} has more cells than the header")
    return pd.DataFrame(rows)


def _strict_numbers(frame: pd.DataFrame, columns: list[str], path: Path) -> pd.DataFrame:
    """Turn columns into floats (empty cells: NaN); ReportError naming the file, column and line of a cell that
    is not a number."""
    for col in columns:
        raw = frame[col].fillna("").astype(str).str.strip()
        values = pd.to_numeric(raw.replace("", np.nan), errors="coerce")
        bad = values.isna() & (raw != "") & (raw.str.lower() != "nan")
        if bad.any():
            i = bad.idxmax()
            raise ReportError(f"{path}: column {col}, line {i + 2}: {raw[i]!r} is not a number")
        frame[col] = values.astype(float)
    return frame


def _fidelity_frame(path: Path, required: tuple[str, ...], text: tuple[str, ...], numbers: tuple[str, ...],
                    seeds: bool = False) -> pd.DataFrame:
    """models.csv or fidelity.csv: every known column (empty where absent), numbers (and with `seeds` every
    `NAME_sK` score column) as floats."""
    frame = _rows(path)
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in text else float) for c in (*text, *numbers)})
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ReportError(f"{path}: not a table of nas-fidelity (no column {', '.join(missing)})")
    for col in (*text, *numbers):
        if col not in frame.columns:
            frame[col] = "" if col in text else np.nan
    columns = [c for c in frame.columns if c in numbers or (seeds and SEED_COLUMN.match(c))]
    return _strict_numbers(frame, columns, path)


def _check_fidelity(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """fidelity.csv: one row per named proxy, rank correlations within [-1, 1]."""
    names = frame["proxy"].fillna("").astype(str).str.strip()
    if (names == "").any():
        raise ReportError(f"{path}: line {int((names == '').idxmax()) + 2} has no proxy name")
    if names.duplicated().any():
        raise ReportError(f"{path}: proxy {names[names.duplicated()].iloc[0]!r} has more than one row")
    for col in TAUS:
        out = frame[col].notna() & (frame[col].abs() > 1)
        if out.any():
            raise ReportError(f"{path}: column {col}, line {int(out.idxmax()) + 2}: {frame.loc[out.idxmax(), col]} "
                              "is not a rank correlation (outside -1..1)")
    frame["proxy"] = names
    return frame


def _check_summary(summary: dict[str, Any], path: Path) -> dict[str, Any]:
    """summary.json of a fidelity run: counts and correlations are numbers (NaN or infinite ones: not given)."""
    summary = dict(summary)
    for key in SUMMARY_NUMBERS:
        value = summary.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ReportError(f"{path}: {key} is {value!r}, not a number")
        if value is not None and not math.isfinite(value):
            summary[key] = None
    proxy = summary.get("recommended_proxy")
    if proxy is not None and not isinstance(proxy, str):
        raise ReportError(f"{path}: recommended_proxy is {proxy!r}, not a proxy name")
    return summary


def load_fidelity(run: RunDir, config: dict[str, Any], summary: dict[str, Any]) -> Run:
    """A nas-fidelity run folder: models.csv, fidelity.csv and summary.json, checked."""
    models = _fidelity_frame(run.root / MODELS_CSV, ("arch",), ("arch", "kind"), MODEL_NUMBERS, seeds=True)
    fidelity = _check_fidelity(_fidelity_frame(run.root / FIDELITY_CSV, ("proxy", "kendall"), ("proxy", "reference"),
                                               FIDELITY_NUMBERS),
                               run.root / FIDELITY_CSV)
    return Run(run.root, "fidelity", config, _check_summary(summary, run.summary), pd.DataFrame(), pd.DataFrame(),
               models=models, fidelity=fidelity)


def seed_columns(models: pd.DataFrame, name: str) -> list[str]:
    """models.csv's columns of one score over seeds (`NAME_s0`, `NAME_s1`, ...), by seed."""
    found = [(int(m["seed"]), c) for c in models.columns if (m := SEED_COLUMN.match(str(c))) and m["name"] == name]
    return [c for _, c in sorted(found)]


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


def is_reference(fidelity: pd.DataFrame) -> pd.Series:
    """fidelity.csv's rows that are structural references (size alone, `nas.references`), not proxies."""
    return fidelity["reference"].fillna("").astype(str).str.strip().str.lower().isin(("yes", "true", "1"))


def reference_names(run: Run) -> list[str]:
    """The structural references of the run: those fidelity.csv marks, and `nas.references`' own (models.csv of a
    paused study holds their columns before fidelity.csv exists)."""
    from nas.references import REFERENCES
    return list(dict.fromkeys([*run.fidelity.loc[is_reference(run.fidelity), "proxy"], *REFERENCES]))


def fidelity_proxies(run: Run) -> list[str]:
    """A fidelity run's proxies: config.yaml's, then fidelity.csv's, then models.csv's, in first-seen order (the
    structural references left out)."""
    in_models = [m["name"] for c in run.models.columns if (m := SEED_COLUMN.match(str(c))) and m["name"] != FULL]
    names = dict.fromkeys([*_names(run.config.get("proxies")), *run.fidelity["proxy"], *in_models])
    return [n for n in names if n not in set(reference_names(run))]


def _seed_count(value: Any) -> int:
    """A config's seeds: a count, or a list of seeds."""
    if isinstance(value, bool):
        return 0
    return value if isinstance(value, int) else len(_names(value))


def model_cells(run: Run) -> tuple[int, int]:
    """Filled and expected score cells of models.csv: each architecture's full-training seeds and every proxy's
    seeds (as many as config.yaml asks for, or as models.csv has columns)."""
    full, proxy = _seed_count(run.config.get("full_seeds")), _seed_count(run.config.get("proxy_seeds"))
    filled = total = 0
    for name in [FULL, *fidelity_proxies(run)]:
        cols = seed_columns(run.models, name)
        total += len(run.models) * max(len(cols), full if name == FULL else proxy)
        filled += int(run.models[cols].notna().to_numpy().sum())
    return filled, total


def fidelity_status(run: Run) -> RunStatus:
    """Complete, or partial with one sentence per unfinished part (summary's status, empty cells, unmeasured
    proxies)."""
    notes = []
    if run.summary.get("fidelity") != "done":
        notes.append(f"the fidelity measurement is {state_text(run.summary.get('fidelity'))}")
    filled, total = model_cells(run)
    if run.models.empty:
        notes.append("models.csv has no architecture yet")
    elif filled < total:
        notes.append(f"{filled} of {total} score cells of models.csv are filled")
    unmeasured = [p for p in fidelity_proxies(run) if p not in set(run.fidelity.loc[run.fidelity["kendall"].notna(),
                                                                                     "proxy"])]
    if unmeasured:
        notes.append(f"fidelity.csv has no Kendall tau yet for {', '.join(unmeasured)}")
    return RunStatus(bool(notes), notes)
