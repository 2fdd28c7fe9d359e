"""The run folder `runs/NAME/`: its layout, and the tables written into it atomically.

    config.yaml    every setting (re-run with `nas-search --name NAME --resume`)
    study.db       the Optuna study (unless --storage names another database)
    trials.csv     one row per finished stage-1 trial, exported from the study after each trial
    final.csv      one row per stage-2 model (top-k searched + baselines): proxy and full scores
    summary.json   stage status and the proxy-to-full rank correlations
    ray/           Ray Tune's own results, one experiment per stage and session
    final/LABEL/   each final training's checkpoint (last.pt), history.csv and metrics.json

`nas-ablate` leaves the same layout without trials.csv and study.db: its config.yaml says
`command: nas-ablate`, and final.csv holds one row per Table-1 experiment and seed (ABLATION_COLUMNS).
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from scipy import stats

from kit.atomic import atomic_write, write_csv, write_json

TRIAL_COLUMNS = ["number", "arch", "depths", "widths", "gflops", "params_m", "status", "proxy_score", "score",
                 "v1_v2", "v1_v3", "v1_v4_x10", "tse", "epochs", "failure", "wall_s", "gpu", "node",
                 "images_per_s", "host_rss_gb", "gpu_reserved_gb", "gpu_peak_gb"]
FINAL_COLUMNS = ["label", "arch", "kind", "gflops", "params_m", "proxy_score", "proxy_final", "proxy_tse",
                 "score", "v1_v2", "v1_v3", "v1_v4_x10", "epochs", "wall_s", "images_per_s", "gpu", "node",
                 "checkpoint", "status", "failure"]
# Table 1 of the paper, in its order: the `experiment` column of an ablation's final.csv
ABLATION_EXPERIMENTS = ("resnet34d", "resnet34d-noflip", "resnet18d", "resnet50d", "searched", "resnet34d-noedge",
                        "ensemble")
ABLATION_COLUMNS = ["experiment", "seed", "flip", "loss_weights", *FINAL_COLUMNS]
ABLATE_COMMAND = "nas-ablate"


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


def write_yaml(path: Path, value: Mapping[str, Any]) -> Path:
    """Atomically write a mapping as YAML."""
    return atomic_write(path, lambda f: f.write(yaml.safe_dump(dict(value), sort_keys=False)), binary=False)


def write_table(path: Path, rows: Iterable[Mapping[str, Any]], columns: list[str]) -> Path:
    """Atomically write rows with the given leading columns (extra keys follow)."""
    rows = [{**{c: None for c in columns}, **row} for row in rows]
    if not rows:
        return atomic_write(path, lambda f: f.write(",".join(columns) + "\n"), binary=False)
    return write_csv(path, rows)


def read_table(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV table written by `write_table` (empty where the file does not exist yet)."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_config(path: Path) -> dict[str, Any]:
    """config.yaml as a mapping (empty where missing); ValueError, with the parser's first line, where it
    is not valid YAML or not a mapping."""
    if not path.is_file():
        return {}
    try:
        value = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(first) from None
    if not isinstance(value, dict):
        raise ValueError("not a mapping of settings")
    return value


def read_summary(path: Path) -> dict[str, Any]:
    """summary.json, or an empty dict."""
    return json.loads(path.read_text()) if path.is_file() else {}


def update_summary(path: Path, **values: Any) -> dict[str, Any]:
    """Merge `values` into summary.json atomically."""
    summary = {**read_summary(path), **values}
    write_json(path, summary)
    return summary


def rank_correlation(rows: Iterable[Mapping[str, Any]], proxy: str = "proxy_score") -> dict[str, Any]:
    """Kendall tau and Spearman rho between a proxy column and the full scores of the models that have both."""
    pairs = [(float(r[proxy]), float(r["score"])) for r in rows
             if r.get(proxy) not in (None, "") and r.get("score") not in (None, "")
             and math.isfinite(float(r[proxy])) and math.isfinite(float(r["score"]))]
    if len(pairs) < 3:
        return {"models": len(pairs), "kendall_tau": None, "spearman_rho": None}
    proxies, full = zip(*pairs)
    return {"models": len(pairs), "kendall_tau": float(stats.kendalltau(proxies, full).statistic),
            "spearman_rho": float(stats.spearmanr(proxies, full).statistic)}
