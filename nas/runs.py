"""The run folder `runs/NAME/`: its layout, and the tables written into it atomically (torch-free: reports
read runs through this module).

    config.yaml    every setting (re-run with `nas-search --name NAME --resume`)
    study.db       the Optuna study (unless --storage names another database)
    trials.csv     one row per finished stage-1 trial, exported from the study after each trial
    final.csv      one row per stage-2 model (top-k searched + baselines): proxy and full scores
    summary.json   stage status and the proxy-to-full rank correlations
    ray/           Ray Tune's own results, one experiment per stage and session
    final/LABEL/   each final training's checkpoint (last.pt), history.csv and metrics.json

`nas-ablate` leaves the same layout without trials.csv and study.db: its config.yaml says
`command: nas-ablate`, and final.csv holds one row per experiment of the task's ablation grid and seed.
Columns come from the one result schema (`nas.schema`).
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from kit.atomic import atomic_write, write_csv, write_json
from kit.config import ConfigError, read_mapping
from kit.errors import ToolkitError
from nas.schema import FIELDS, FINAL, TRIALS, Field, Schema

ABLATE_COMMAND = "nas-ablate"


class RunFileError(ToolkitError, ValueError):
    """A file of a run folder that cannot be read back (the message names it)."""
ABLATION_KEYS = ("experiment", "seed")  # an ablation's final.csv: these, the task's columns, then FINAL's


@dataclass(frozen=True)
class RunDir:
    """Paths of one run folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def trials(self) -> Path:
        return self.root / "trials.csv"

    @property
    def final(self) -> Path:
        return self.root / "final.csv"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def ray(self) -> Path:
        return self.root / "ray"

    def final_dir(self, label: str) -> Path:
        """Where one final training keeps its checkpoint and history."""
        return self.root / "final" / label

    def exists(self) -> bool:
        """Whether a run was started here (its config was written)."""
        return self.config.is_file()


def trial_columns(schema: Schema) -> list[str]:
    """trials.csv's columns."""
    return schema.columns(TRIALS)


def final_columns(schema: Schema, ablation_columns: Iterable[str] | None = None) -> list[str]:
    """final.csv's columns: a search's, or with `ablation_columns` (the task's) an ablation's."""
    lead = [*ABLATION_KEYS, *ablation_columns] if ablation_columns is not None else []
    return list(dict.fromkeys(lead + schema.columns(FINAL)))


def write_yaml(path: Path, value: Mapping[str, Any]) -> Path:
    """Atomically write a mapping as YAML."""
    return atomic_write(path, lambda f: f.write(yaml.safe_dump(dict(value), sort_keys=False)), binary=False)


def write_table(path: Path, rows: Iterable[Mapping[str, Any]], columns: list[str]) -> Path:
    """Atomically write rows with the given leading columns (extra keys follow)."""
    return write_csv(path, rows, columns)


STAGE_KEYS = ("stage1", "stage2", "ablation")  # summary.json's stage statuses: strings where present
# the schema's numeric columns, and `score` (a fidelity job's score; the faces metric in final.csv)
NUMBERS = frozenset({"score", *(f.name for f in FIELDS if isinstance(f, Field) and f.numeric)})


def _check_numbers(path: Path, line: int, row: Mapping[str, str]) -> None:
    """RunFileError naming the file, line and column where a numeric column of the schema holds no number."""
    for key, value in row.items():
        if value and (key in NUMBERS or key.startswith("proxy_")):
            try:
                float(value)
            except ValueError:
                raise RunFileError(f"{path}: line {line}: {key} is {value!r}, not a number") from None


def read_table(path: Path, check: bool = True) -> list[dict[str, str]]:
    """Rows of a CSV table written by `write_table` (empty where the file does not exist yet); RunFileError naming
    the file and row where it was cut short (every table the toolkit writes ends with a newline) or is ragged,
    and, for a search's trials.csv (with `check`), where its rows disagree with the run's study (`check_trials`)."""
    path = Path(path)
    if not path.is_file():
        return []
    text = path.read_text()  # a UnicodeDecodeError is for the caller: not a text table at all
    if text and not text.endswith("\n"):
        raise RunFileError(f"{path}: cut short in line {text.count(chr(10)) + 1} (the file does not end with a newline)")
    if not text:
        raise RunFileError(f"{path}: empty (not even its header line)")
    rows = list(csv.DictReader(text.splitlines()))
    for i, row in enumerate(rows, start=2):
        if None in row or any(v is None for v in row.values()):
            raise RunFileError(f"{path}: line {i} has {'more' if None in row else 'fewer'} cells than the header")
        _check_numbers(path, i, row)
    if check and path.name == "trials.csv":
        check_trials(RunDir(path.parent), rows)
    return rows


def study_file(run: RunDir) -> tuple[Path, str] | None:
    """The SQLite file and name of a search run's Optuna study, where both can be known and the file is there
    (None also for a run folder copied without its study)."""
    found = study_location(run)
    return found if found is not None and found[0].is_file() else None


def study_location(run: RunDir) -> tuple[Path, str] | None:
    """Where a search run's SQLite study should be, and its name: None for another command's run, an unreadable
    config.yaml (its reader says so) or a study in a database server (not contacted to read a table)."""
    try:
        config = read_config(run.config)
    except ValueError:
        return None
    if config.get("command") not in (None, "nas-search"):
        return None
    storage = config.get("storage")
    if storage:
        if not isinstance(storage, str) or not storage.startswith("sqlite:///"):
            return None
        db = Path(storage[len("sqlite:///"):].split("?", 1)[0])
        if not db.is_absolute():
            return None  # relative to where the driver ran, which is unknown here
    else:
        db = run.root / "study.db"
    name = config.get("name") or run.root.name
    return db, str(name)


def check_trials(run: RunDir, rows: list[dict[str, str]] | None = None) -> None:
    """RunFileError naming trials.csv where its rows disagree with the run's study: a trial the study does not hold,
    listed twice, or with another status or proxy score (the study may hold more: see `nas.study`)."""
    found = study_file(run)
    if found is None:
        return
    rows = read_table(run.trials, check=False) if rows is None else rows
    from nas.study import check_trials_table
    check_trials_table(run.trials, rows, *found)


def read_config(path: Path) -> dict[str, Any]:
    """config.yaml as a mapping (empty where missing); ValueError, in one line, where it is not valid YAML
    or not a mapping."""
    if not path.is_file():
        return {}
    try:
        return read_mapping(path, "config.yaml")
    except ConfigError as exc:
        raise ValueError(str(exc).split(": ", 1)[-1]) from None


def read_summary(path: Path) -> dict[str, Any]:
    """summary.json, or an empty dict; ValueError naming the file where it is not a JSON object."""
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunFileError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise RunFileError(f"{path}: not a JSON object of a run's summary")
    for key in STAGE_KEYS:
        if value.get(key) is not None and not isinstance(value[key], str):
            raise RunFileError(f"{path}: {key!r} is {value[key]!r}, not a stage status (done, running, partial, ...)")
    return value


def update_summary(path: Path, **values: Any) -> dict[str, Any]:
    """Merge `values` into summary.json atomically."""
    summary = {**read_summary(path), **values}
    write_json(path, summary)
    return summary


def rank_correlation(rows: Iterable[Mapping[str, Any]], proxy: str = "proxy_score",
                     full: str = "score") -> dict[str, Any]:
    """Kendall tau and Spearman rho between a proxy column and the full scores of the models that have both."""
    from scipy import stats
    pairs = [(float(r[proxy]), float(r[full])) for r in rows
             if r.get(proxy) not in (None, "") and r.get(full) not in (None, "")
             and math.isfinite(float(r[proxy])) and math.isfinite(float(r[full]))]
    if len(pairs) < 3:
        return {"models": len(pairs), "kendall_tau": None, "spearman_rho": None}
    proxies, scores = zip(*pairs)
    return {"models": len(pairs), "kendall_tau": float(stats.kendalltau(proxies, scores).statistic),
            "spearman_rho": float(stats.spearmanr(proxies, scores).statistic)}
