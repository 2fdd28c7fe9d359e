"""A run folder read into pandas tables: trials, the final comparison (mean +- sd over seeds), Table 1 beside
the paper, and whether the run is complete or partial (a nas-fidelity run's tables: `reports.fidelity_tables`).
Reads through `nas.runs`, the layout's one owner, with the columns and statuses of the one result schema
(`nas.schema`)."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit.errors import ToolkitError
from nas.runs import ABLATE_COMMAND, RunDir, final_columns, rank_correlation, read_config, read_summary, read_table, \
    trial_columns
from nas.schema import Schema, Status, run_schema
from reports.fidelity_tables import FIDELITY_COMMAND, fidelity_status, load_fidelity
from reports.paper import TABLE1, TABLE1_REFERENCE
from reports.proxy_words import higher_is_better
from reports.run import ReportError, Run, RunStatus, is_toy, state_text
from reports.versus import RATIOS, REFERENCE_VERDICT, SPEED, add_ratios, completed, scored_on, speed_columns, \
    stat_columns
from search_spaces import DEFAULT_SPACE, SearchSpaceError, create_space, parse_budget

REFERENCE = "resnet34d"
TERMS = ("v1_v2", "v1_v3", "v1_v4_x10")
TRIAL_REQUIRED = ("number", "arch", "gflops", "status", "proxy_score")
FINAL_REQUIRED = ("label", "arch", "kind", "score", "status")
EXTRA_NUMBERS = ("seed", "tse")  # final.csv's seed; trials.csv's tse in runs written before proxy_tse


def _frame(path: Path, numbers: list[str], required: tuple[str, ...], columns: list[str]) -> pd.DataFrame:
    """A table of the run folder, numbers as floats; with every known column even where it has no row yet."""
    try:
        rows = read_table(path)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ReportError(f"{path}: not a readable CSV table ({exc})") from None
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=float if c in numbers else object) for c in columns})
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ReportError(f"{path}: not a table of nas-search (no column {', '.join(missing)})")
    for col in numbers:
        if col in frame.columns:
            frame[col] = pd.to_numeric(frame[col].replace("", np.nan), errors="coerce")
    if "status" in frame.columns:  # one vocabulary, whatever version wrote the table
        frame["status"] = [s.value if (s := Status.parse(v)) else v for v in frame["status"]]
    return frame


def _design(trials: pd.DataFrame, space_name: str) -> tuple[pd.DataFrame, list[str]]:
    """Add the space's numeric design variables (e.g. d1..d4, w1..w4) of each trial's architecture."""
    try:
        space = create_space(space_name)
    except SearchSpaceError:
        return trials, []
    rows = []
    for arch in (trials["arch"] if not trials.empty else []):
        try:
            rows.append(space.design(space.parse(str(arch))))
        except SearchSpaceError:
            rows.append({})
    names = list(dict.fromkeys(k for r in rows for k in r))  # first-seen order
    for name in names:
        trials[name] = pd.Series([r.get(name, np.nan) for r in rows], index=trials.index, dtype=float)
    return trials, names


def load_run(path: "str | Path") -> Run:
    """Read a run folder of nas-search, nas-ablate or nas-fidelity; ReportError where it is missing or
    unreadable."""
    root = Path(path)
    if not root.is_dir():
        raise ReportError(f"{path}: no such run folder")
    run = RunDir(root.resolve())
    if not run.exists():
        raise ReportError(f"{path}: not a run folder of nas-search, nas-ablate or nas-fidelity (no config.yaml)")
    try:
        config = read_config(run.config)
    except ValueError as exc:
        raise ReportError(f"{run.config}: not a valid config.yaml ({exc})") from None
    try:
        summary = read_summary(run.summary)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportError(f"{run.summary}: not valid JSON ({exc})") from None
    if not isinstance(summary, dict):
        raise ReportError(f"{run.summary}: not a JSON object (got {type(summary).__name__})")
    if config.get("command") == FIDELITY_COMMAND:
        return load_fidelity(run, config, summary)
    kind = "ablation" if config.get("command") == ABLATE_COMMAND else "search"
    space, task = str(config.get("space") or DEFAULT_SPACE), str(config.get("task") or "faces")
    try:
        schema: Schema = run_schema(task, space)
    except ToolkitError as exc:
        raise ReportError(f"{run.config}: {exc}") from None
    numbers = [*schema.numeric(), *EXTRA_NUMBERS]
    trials, design = _design(_frame(run.trials, numbers, TRIAL_REQUIRED, trial_columns(schema)), space)
    final = _frame(run.final, numbers, FINAL_REQUIRED, final_columns(schema, ("flip", "loss_weights")))
    return Run(run.root, kind, config, summary, trials, final, design)


def run_status(run: Run) -> RunStatus:
    """Complete, or partial with one sentence per unfinished part."""
    if run.kind == "fidelity":
        return fidelity_status(run)
    notes = []
    final_done = int((run.final.get("status") == "complete").sum()) if not run.final.empty else 0
    if run.kind == "ablation":
        if run.summary.get("ablation") != "done":
            notes.append(f"the ablation is {state_text(run.summary.get('ablation'))}: "
                         f"{final_done} of {len(run.final)} rows done")
        return RunStatus(bool(notes), notes)
    if run.summary.get("stage1") != "done":
        expected = run.config.get("trials")
        of = f" of {expected}" if expected else ""
        notes.append(f"stage 1 is {state_text(run.summary.get('stage1'))}: {len(run.trials)}{of} proxy trials finished")
    if run.summary.get("stage2") != "done":
        notes.append(f"stage 2 is {state_text(run.summary.get('stage2'))}: {final_done} of {len(run.final)} "
                     "final trainings done")
    return RunStatus(bool(notes), notes)


def _group_key(run: Run) -> str:
    return "experiment" if run.kind == "ablation" and "experiment" in run.final.columns else "label"


def reference(run: Run) -> str:
    """The baseline every difference is taken against: resnet34d (the paper's reference) where the run trained it,
    else the run's baseline nearest the budget in FLOPs (e.g. a RegNet search's nearest named RegNet)."""
    base = run.final[run.final["kind"] == "baseline"] if not run.final.empty else run.final
    if run.kind == "ablation" or base.empty or REFERENCE in set(base["label"]):
        return REFERENCE
    try:
        budget = parse_budget(run.config.get("budget", "5G")) / 1e9
    except SearchSpaceError:
        return REFERENCE
    return str(base.loc[(base["gflops"] - budget).abs().idxmin(), "label"])


STATS = ("delta_lo", "delta_hi", "pct_lo", "pct_hi", "p", "test", "verdict")
SPEED_COLUMNS = (*SPEED, "speed_device", *RATIOS)
COMPARISON = ["network", "arch", "kind", "gflops", "params_m", "proxy_score", "score", "score_sd",
              *[c for t in TERMS for c in (t, f"{t}_sd")], "seeds", "status", "scored_on", "delta_vs_reference",
              "delta_pct", *STATS, *SPEED_COLUMNS]


def _model_row(name: Any, g: pd.DataFrame, ref: pd.DataFrame, is_reference: bool) -> dict[str, Any]:
    """One model's (or experiment's) row: means and sds over its finished seeds, its statistics against the
    reference, its measured speed."""
    done = completed(g)
    row: dict[str, Any] = {"network": name, "arch": g["arch"].iloc[0], "kind": g["kind"].iloc[0],
                           "gflops": g["gflops"].iloc[0], "params_m": g["params_m"].iloc[0],
                           "proxy_score": g["proxy_score"].mean() if "proxy_score" in g else np.nan}
    for col in ("score", *TERMS):
        row[col] = done[col].mean() if len(done) else np.nan
        row[f"{col}_sd"] = done[col].std(ddof=1) if len(done) > 1 else np.nan
    row["seeds"] = len(done)
    statuses = sorted(set(g["status"]))
    row["status"] = "complete" if statuses == ["complete"] else ", ".join(
        f"{(g['status'] == s).sum()} {s}" for s in statuses)
    row["scored_on"] = scored_on(g)
    return {**row, **stat_columns(g, ref, is_reference), **speed_columns(g)}


def comparison(run: Run) -> pd.DataFrame:
    """The final comparison: one row per model (or experiment) with mean and sd over seeds; its difference to the
    reference (resnet34d) with the bootstrap 95 % interval, the Welch or paired-by-seed p and the verdict
    (`nas.compare.verdict`); the measured speed and its ratios to the reference's."""
    cached = run.__dict__.get("_comparison")
    if cached is not None and cached[0] is run.final:  # every section asks; the bootstrap runs once per run
        return cached[1].copy()
    table = _comparison(run)
    run.__dict__["_comparison"] = (run.final, table)
    return table.copy()


def _comparison(run: Run) -> pd.DataFrame:
    """`comparison`, computed."""
    if run.final.empty:
        return pd.DataFrame(columns=COMPARISON)
    key, ref_name = _group_key(run), reference(run)
    groups = dict(list(run.final.groupby(key, sort=False)))
    ref = groups.get(ref_name, run.final.iloc[:0])
    table = pd.DataFrame([_model_row(name, g, ref, name == ref_name) for name, g in groups.items()])
    table = table.reindex(columns=[c for c in COMPARISON if c not in ("delta_vs_reference", "delta_pct")])
    ref_score = table.loc[table["network"] == ref_name, "score"]
    ref_score = float(ref_score.iloc[0]) if len(ref_score) and pd.notna(ref_score.iloc[0]) else math.nan
    table["delta_vs_reference"] = table["score"] - ref_score
    table["delta_pct"] = 100 * table["delta_vs_reference"] / ref_score
    table = add_ratios(table, ref_name)[COMPARISON]
    if run.kind == "ablation":
        order = {k: i for i, k in enumerate(TABLE1)}
        return table.sort_values("network", key=lambda s: s.map(order).fillna(len(order))).reset_index(drop=True)
    return table.sort_values("score", na_position="last").reset_index(drop=True)


def paper_direction(row: Any, paper_delta: float, toy: bool = False) -> str:
    """How an experiment's change compares with the paper's: `the paper's direction` or `opposite to the paper`
    only where its 95 % interval excludes zero; else the verdict (`no measurable difference`, `undecided`)."""
    verdict = row["verdict"] if row is not None else "undecided"
    if verdict == REFERENCE_VERDICT:
        return REFERENCE_VERDICT
    if toy:
        return "not meaningful (toy run)"
    if verdict not in ("better", "worse") or not paper_delta:
        return str(verdict)
    return "the paper's direction" if (row["delta_vs_reference"] < 0) == (paper_delta < 0) else "opposite to the paper"


def table1(run: Run) -> pd.DataFrame:
    """The ablation laid out as the paper's Table 1, our numbers beside the paper's, with each change's 95 %
    interval, p and whether it goes the paper's way (interval-based: `paper_direction`)."""
    ours = comparison(run).set_index("network")
    ref = TABLE1[TABLE1_REFERENCE].score
    rows = []
    for key, paper in TABLE1.items():
        mine = ours.loc[key] if key in ours.index else None
        rows.append({"experiment": key, "aug": paper.aug, "network": paper.network, "loss": paper.loss,
                     "arch": mine["arch"] if mine is not None else "",
                     "gflops": mine["gflops"] if mine is not None else np.nan, "paper_gflops": paper.gflops,
                     **{c: (mine[c] if mine is not None else np.nan) for c in
                        ("score", "score_sd", "seeds", "delta_vs_reference", "delta_pct", *STATS)},
                     "paper_score": paper.score, "paper_delta": paper.score - ref,
                     "paper_delta_pct": 100 * (paper.score - ref) / ref,
                     "direction": paper_direction(mine, paper.score - ref, is_toy(run)) if mine is not None else ""})
    return pd.DataFrame(rows)


def trials_table(run: Run) -> pd.DataFrame:
    """The stage-1 trials with per-stage depth and width columns."""
    return run.trials.copy()


def per_model(run: Run, proxy: str = "proxy_score") -> pd.DataFrame:
    """One row per finished stage-2 model: label, kind, `proxy` and the mean full score over its seeds (a rank
    correlation must count a model once, however many seeds it has)."""
    f = run.final
    if f.empty or proxy not in f.columns:
        return pd.DataFrame(columns=["label", "kind", proxy, "score"])
    rows = [{"label": label, "kind": g["kind"].iloc[0], proxy: g[proxy].mean(), "score": g["score"].mean()}
            for label, g in completed(f).groupby("label", sort=False)]
    return pd.DataFrame(rows, columns=["label", "kind", proxy, "score"])


def proxy_fidelity(run: Run, proxy: str = "proxy_score") -> dict[str, Any]:
    """Kendall tau and Spearman rho between a proxy column and the full scores (mean over seeds) of the stage-2
    models, oriented so that a positive value means the proxy ranks as full training does (the scores of a proxy
    for which higher is better, such as SynFlow, are negated: the full score is lower-is-better)."""
    rows = per_model(run, proxy).to_dict("records")
    flip = proxy == "proxy_score" and higher_is_better(run)
    clean = [{k: (None if isinstance(v, float) and math.isnan(v) else -v if flip and k == proxy else v)
              for k, v in r.items()} for r in rows]
    fit = rank_correlation(clean, proxy)
    fit.update(_tau_uncertainty(clean, proxy) if fit["kendall_tau"] is not None else {})
    return fit


# below this many models a percentile bootstrap of tau collapses (resamples repeat models, whose tied pairs tau-b
# drops: 3 models in perfect order give the interval 1.00 to 1.00), so only the exact p-value is given
MIN_TAU_BOOTSTRAP = 8


def _tau_uncertainty(rows: list[dict[str, Any]], proxy: str) -> dict[str, float | None]:
    """Kendall tau's two-sided p-value (scipy: exact for few models without ties) and, from MIN_TAU_BOOTSTRAP
    models on, its percentile bootstrap 95 % interval resampling models."""
    from scipy import stats

    from nas.stats import bootstrap_interval, kendall
    kept = [r for r in rows if r.get(proxy) is not None and r.get("score") is not None
            and math.isfinite(float(r[proxy])) and math.isfinite(float(r["score"]))]  # as rank_correlation keeps
    x, y = [r[proxy] for r in kept], [r["score"] for r in kept]
    lo, hi = bootstrap_interval(x, y, kendall) if len(kept) >= MIN_TAU_BOOTSTRAP else (math.nan, math.nan)
    return {"kendall_p": float(stats.kendalltau(x, y).pvalue),
            "kendall_lo": None if math.isnan(lo) else lo, "kendall_hi": None if math.isnan(hi) else hi}


def failures(run: Run) -> pd.DataFrame:
    """Failed trials and final trainings grouped by reason: stage, reason, count, examples."""
    parts = []
    for stage, frame, name, bad in (("stage 1", run.trials, "arch", "failed"), ("final", run.final, "label", "failed")):
        if frame.empty or "failure" not in frame.columns:
            continue
        failed = frame[frame["status"] == bad]
        for reason, g in failed.groupby(failed["failure"].replace("", "no reason recorded").fillna("no reason recorded")):
            parts.append({"stage": stage, "reason": reason, "count": len(g), "examples": ", ".join(g[name].head(3))})
    return pd.DataFrame(parts, columns=["stage", "reason", "count", "examples"])

