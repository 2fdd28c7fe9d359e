"""The report as `report.md` (figures beside it) and a self-contained `report.html` (figures embedded as base64),
with the CSV tables: both renderings come from the same sections, so they say the same thing."""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from reports.fidelity import fidelity_table, full_gpu_s, goal, models_table, proxy_label, reference_table
from reports.fidelity_figures import make_fidelity_figures
from reports.fidelity_narrative import fidelity_narrative
from reports.figures import FigureFile, make_figures
from reports.files import write_file
from reports.narrative import is_toy, narrative, toy_banner
from reports.provenance import provenance
from reports.proxy_words import described as proxy_described, higher_is_better, in_mm, number as proxy_number
from reports.paper import LEADERBOARD_JMLR
from reports.tables import Run, comparison, failures, reference, run_status, table1, trials_table
from reports.verdicts import where_scored

FORMATS = ("md", "html")
Cell = Callable[[pd.Series], str]


@dataclass
class Table:
    """A table as display strings: a title, headers, rows, and a note under it."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class Report:
    """Everything both renderings show."""

    title: str
    subtitle: str
    partial: bool
    paragraphs: list[str]
    tables: list[Table] = field(default_factory=list)
    figures: list[FigureFile] = field(default_factory=list)
    csv: list[Path] = field(default_factory=list)
    provenance: list[str] = field(default_factory=list)  # the first lines: data, subjects, seeds, device


def _num(v: Any, digits: int = 2) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def _mean_sd(r: pd.Series, col: str) -> str:
    sd = r.get(f"{col}_sd")
    return _num(r[col]) + (f" ± {sd:.2f}" if sd is not None and pd.notna(sd) else "")


def _delta(d: Any, pct: Any) -> str:
    return "-" if pd.isna(d) else f"{d:+.2f} ({pct:+.1f}%)"


def _display(frame: pd.DataFrame, columns: dict[str, Cell]) -> tuple[list[str], list[list[str]]]:
    return list(columns), [[cell(r) for cell in columns.values()] for _, r in frame.iterrows()]


def _pct_interval(r: pd.Series) -> str:
    lo, hi = r.get("pct_lo"), r.get("pct_hi")
    return "-" if lo is None or hi is None or pd.isna(lo) or pd.isna(hi) else f"{lo:+.1f} to {hi:+.1f}%"


def _p(r: pd.Series) -> str:
    p = r.get("p")
    if p is None or pd.isna(p):
        return "-"
    return f"{p:.2g} ({'paired t' if r.get('test') == 'paired t' else 'Welch'})"


def _verdict(r: pd.Series, toy: bool) -> str:
    v = r.get("verdict")
    if v is None or (isinstance(v, float) and np.isnan(v)) or v == "":
        return "-"
    return "- (toy run)" if toy and v != "reference" else str(v)


def comparison_table(run: Run) -> Table:
    """The final comparison in the leaderboard's form: score and its three terms (mean ± sd over seeds), the
    difference to the reference baseline (ResNet-34d where the run trained it) with its 95 % interval, p and
    verdict."""
    ref, toy = reference(run), is_toy(run)
    cols: dict[str, Cell] = {
        "network": lambda r: str(r["network"]), "kind": lambda r: str(r["kind"]), "GFLOPs": lambda r: _num(r["gflops"]),
        "params (M)": lambda r: _num(r["params_m"]), "proxy": lambda r: proxy_number(r["proxy_score"]),
        "score (mm)": lambda r: _mean_sd(r, "score"), "|V1-V2|": lambda r: _mean_sd(r, "v1_v2"),
        "|V1-V3|": lambda r: _mean_sd(r, "v1_v3"), "10 |V1-V4|": lambda r: _mean_sd(r, "v1_v4_x10"),
        f"vs {ref}": lambda r: _delta(r["delta_vs_reference"], r["delta_pct"]), "95% interval": _pct_interval,
        "p": _p, "verdict": lambda r: _verdict(r, toy),
        "seeds": lambda r: str(int(r["seeds"])), "status": lambda r: str(r["status"])}
    if run.kind == "ablation":
        cols.pop("proxy")
    headers, rows = _display(comparison(run), cols)
    note = (f"Held-out WCPA score in mm (lower is better) = |V1-V2| + |V1-V3| + 10 |V1-V4|, {where_scored(run)}; "
            f"mean ± sd over seeds where there are several. vs {ref}: the difference of the means; 95% interval: its "
            f"bootstrap interval in percent of {ref}'s score; p: Welch's t-test, or the paired t-test where both were trained "
            "under the same seeds; verdict: better or worse only where the interval excludes zero (no interval with "
            f"one seed: undecided). proxy: {proxy_described(run)}; kind control: an architecture drawn at random "
            "from the same window.")
    return Table("Final comparison", headers, rows, note)


def _ratio(v: Any) -> str:
    return _num(v) if v is not None and pd.notna(v) else "-"


def _latency(r: pd.Series) -> str:
    iqr = r.get("latency_ms_b1_iqr")
    return _num(r["latency_ms_b1"]) + (f" (IQR {iqr:.2f})" if iqr is not None and pd.notna(iqr) else "")


def speed_table(run: Run) -> Table | None:
    """Each model's measured speed (alone on the GPU) beside its FLOPs, and the ratios to the reference's; None
    for a run that measured none."""
    table = comparison(run)
    if "infer_img_s" not in table or not table["infer_img_s"].notna().any():
        return None
    ref = reference(run)
    headers, rows = _display(table, {
        "network": lambda r: str(r["network"]), "kind": lambda r: str(r["kind"]), "GFLOPs": lambda r: _num(r["gflops"]),
        "train img/s": lambda r: _num(r["train_img_s"], 0), f"train x {ref}": lambda r: _ratio(r["train_x"]),
        "infer img/s (b256)": lambda r: _num(r["infer_img_s"], 0), f"infer x {ref}": lambda r: _ratio(r["infer_x"]),
        "latency b1 (ms)": _latency, f"latency x {ref}": lambda r: _ratio(r["latency_x"]),
        "device": lambda r: str(r["speed_device"] or "-")})
    note = (f"Measured with each model alone on the GPU: training images/s, inference images/s at batch 256 and the "
            f"batch-1 latency (median of repeats, with its interquartile range). x {ref}: ratio to {ref}'s (img/s: "
            "above 1 is faster; latency: below 1 is faster). One measurement per model, not per seed.")
    return Table("Measured speed", headers, rows, note)


def table1_table(run: Run) -> Table:
    """Table 1 of the paper, this run's numbers (with each change's 95 % interval and p) beside the paper's, and
    whether the change goes the paper's way (only where its interval excludes zero)."""
    headers, rows = _display(table1(run), {
        "Aug": lambda r: r["aug"], "Network": lambda r: r["network"], "Loss": lambda r: r["loss"],
        "GFLOPs": lambda r: _num(r["gflops"]), "paper GFLOPs": lambda r: _num(r["paper_gflops"]),
        "score (mm)": lambda r: _mean_sd(r, "score"),
        "vs ResNet34": lambda r: _delta(r["delta_vs_reference"], r["delta_pct"]), "95% interval": _pct_interval,
        "p": _p, "seeds": lambda r: "-" if pd.isna(r["seeds"]) else str(int(r["seeds"])),
        "paper score": lambda r: _num(r["paper_score"]),
        "paper vs ResNet34": lambda r: _delta(r["paper_delta"], r["paper_delta_pct"]),
        "direction": lambda r: str(r["direction"] or "-")})
    lb = LEADERBOARD_JMLR
    note = ("The paper's scores are on 40 held-out WCPA training subjects, ours on this run's held-out subjects: compare "
            f"the changes, not the absolute values. For scale, the paper's final entry scored {lb['score']:.2f} = "
            f"{lb['v1_v2']:.2f} + {lb['v1_v3']:.2f} + {lb['v1_v4_x10']:.2f} on the challenge test set (Table 2). "
            "95% interval: the bootstrap interval of the change over seeds; direction: the paper's or opposite only "
            "where that interval excludes zero.")
    return Table("Table 1: this run beside the paper", headers, rows, note)


def top_trials_table(run: Run, n: int = 10) -> Table | None:
    """The best stage-1 trials by proxy score."""
    if run.trials.empty:
        return None
    done = run.trials[run.trials["status"] == "complete"]
    t = done.nlargest(n, "proxy_score") if higher_is_better(run) else done.nsmallest(n, "proxy_score")
    if t.empty:
        return None
    headers, rows = _display(t, {
        "#": lambda r: str(int(r["number"])), "architecture": lambda r: str(r["arch"]),
        "GFLOPs": lambda r: _num(r["gflops"]), "params (M)": lambda r: _num(r["params_m"]),
        "proxy (mm)" if in_mm(run) else "proxy": lambda r: proxy_number(r["proxy_score"]),
        "epochs": lambda r: _num(r.get("epochs"), 0),
        "wall (s)": lambda r: _num(r.get("wall_s"), 1)})
    return Table(f"Best {len(t)} stage-1 trials", headers, rows, "Every trial is in tables/trials.csv.")


def failures_table(run: Run) -> Table | None:
    """Failures grouped by reason."""
    f = failures(run)
    if f.empty:
        return None
    headers, rows = _display(f, {"stage": lambda r: r["stage"], "reason": lambda r: r["reason"],
                                 "count": lambda r: str(r["count"]), "examples": lambda r: r["examples"]})
    return Table("Failures", headers, rows)


def _interval(r: pd.Series, col: str) -> str:
    lo, hi = r[f"{col}_lo"], r[f"{col}_hi"]
    return _num(r[col]) if pd.isna(lo) or pd.isna(hi) else f"{r[col]:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def fidelity_display(run: Run) -> Table:
    """The proxies by Kendall tau against full training, with intervals, repeatability, cost and the goal."""
    full_s = full_gpu_s(run)
    verdict = {True: "met", False: "not met", None: "ranking met; cost unknown"}
    cols: dict[str, Cell] = {
        "proxy": proxy_label, "Kendall tau [95%]": lambda r: _interval(r, "kendall"),
        "Spearman rho [95%]": lambda r: _interval(r, "spearman"), "repeat tau": lambda r: _num(r["repeat_kendall"]),
        "GPU-s / arch": lambda r: _num(r["gpu_s_per_arch"], 0)}
    if full_s:
        cols["% of full"] = lambda r: _num(100 * r["gpu_s_per_arch"] / full_s, 1)
    refs = set(reference_table(run)["proxy"])
    cols["goal"] = lambda r: ("reference (no training)" if r["proxy"] in refs else
                              "-" if pd.isna(r["kendall"]) else verdict[goal(r, full_s).meets])
    headers, rows = _display(pd.concat([fidelity_table(run), reference_table(run)], ignore_index=True), cols)
    note = ("Kendall tau and Spearman rho of each proxy's ranking against full training's (positive: the same "
            "order), with bootstrap 95% intervals over architectures; repeat tau: between the proxy's two seeds. "
            "Goal: tau >= 0.6, the interval's lower end above 0.3, at <= 10% of one full training's GPU time"
            + (f" ({full_s:,.0f} GPU-s per architecture)." if full_s else " (not recorded in summary.json)."))
    return Table("Proxy fidelity", headers, rows, note)


def _settings(run: Run) -> str:
    c = run.config
    if run.kind == "ablation":
        keys = [("epochs", "epochs"), ("seeds", "seeds"), ("res", "input"), ("searched", "searched")]
    elif run.kind == "fidelity":
        keys = [("budget", "budget"), ("archs", "architectures"), ("full_epochs", "full epochs"),
                ("full_seeds", "full seeds"), ("proxies", "proxies"), ("proxy_seeds", "proxy seeds"),
                ("space", "space"), ("preset", "preset")]
    else:
        keys = [("preset", "preset"), ("space", "space"), ("budget", "budget"), ("trials", "trials"),
                ("sampler", "sampler"), ("scheduler", "scheduler"), ("proxy_score", "proxy"),
                ("proxy_epochs", "proxy epochs"), ("proxy_res", "proxy px"), ("final_epochs", "final epochs"),
                ("final_res", "final px"), ("baselines", "baselines")]
    parts = [f"{name} {', '.join(map(str, c[k])) if isinstance(c[k], list) else c[k]}" for k, name in keys
             if c.get(k) not in (None, "")]
    return " · ".join(parts + [_data(c)] if run.kind == "search" else parts)


def _data(c: dict) -> str:
    """Which data the run trained on: a path, or the embedded synthetic set and its size."""
    if c.get("data"):
        return f"data {c['data']}"
    if c.get("synth_subjects"):
        frames = int(c["synth_subjects"]) * int(c.get("synth_frames_per_subject") or 0)
        return (f"data: synthetic procedural faces, {c['synth_subjects']} subjects x "
                f"{c.get('synth_frames_per_subject')} frames ({frames:,})")
    return "data: unknown"


def write_csv_tables(run: Run, out: Path) -> list[Path]:
    """comparison.csv, and table1.csv (ablation) or trials.csv (search), and failures.csv; for a fidelity run
    fidelity.csv (sorted by Kendall tau) and models.csv (with the means over seeds)."""
    if run.kind == "fidelity":
        frames = {"fidelity": pd.concat([fidelity_table(run), reference_table(run)], ignore_index=True),
                  "models": models_table(run)}
        return [write_file(out / f"{name}.csv", df.to_csv(index=False)) for name, df in frames.items()]
    frames = {"comparison": comparison(run), "failures": failures(run)}
    frames.update({"table1": table1(run)} if run.kind == "ablation" else {"trials": trials_table(run)})
    return [write_file(out / f"{name}.csv", df.to_csv(index=False)) for name, df in frames.items()]


def build_fidelity(run: Run, out: Path) -> Report:
    """A nas-fidelity run's report: the proxy table, its two figures, models.csv and fidelity.csv."""
    return Report(title=f"Report: proxy fidelity (nas-fidelity) `{run.name}`", subtitle=_settings(run),
                  partial=run_status(run).partial,
                  paragraphs=[toy_banner(run)] * is_toy(run) + fidelity_narrative(run), tables=[fidelity_display(run)],
                  figures=make_fidelity_figures(run, out / "figures"), csv=write_csv_tables(run, out / "tables"),
                  provenance=provenance(run))


def build(run: Run, out: Path) -> Report:
    """Write the figures and CSV tables into `out` and assemble the report's sections."""
    if run.kind == "fidelity":
        return build_fidelity(run, out)
    what = "ablation (nas-ablate)" if run.kind == "ablation" else "search (nas-search)"
    tables = [table1_table(run)] if run.kind == "ablation" else []
    tables += [comparison_table(run), speed_table(run), top_trials_table(run), failures_table(run)]
    return Report(title=f"Report: {what} `{run.name}`", subtitle=_settings(run), partial=run_status(run).partial,
                  paragraphs=narrative(run), tables=[t for t in tables if t is not None],
                  figures=make_figures(run, out / "figures"), csv=write_csv_tables(run, out / "tables"),
                  provenance=provenance(run))


NUMBER = re.compile(r"^([-+]?\d+(\.\d+)?(\s.*)?|-)$")


def numeric_columns(t: Table) -> list[bool]:
    """Which columns hold numbers (right-aligned): every cell starts with a number, or is '-'."""
    return [bool(t.rows) and all(NUMBER.match(row[i]) for row in t.rows) for i in range(len(t.headers))]


def _md_table(t: Table) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")
    lines = ["| " + " | ".join(esc(h) for h in t.headers) + " |",
             "|" + "|".join("---:" if num else "---" for num in numeric_columns(t)) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines) + (f"\n\n{t.note}" if t.note else "")


def to_markdown(r: Report, out: Path) -> str:
    """report.md: figures linked relative to `out`."""
    lines = "\n".join(f"- {line}" for line in r.provenance)
    parts = [f"# {r.title}", lines, f"_{r.subtitle}_" if r.subtitle else "", "## What this run shows", *r.paragraphs]
    for t in r.tables:
        parts += [f"## {t.title}", _md_table(t)]
    parts.append("## Figures")
    for f in r.figures:
        parts += [f"### {f.title}", f"![{f.title}]({f.path.relative_to(out).as_posix()})", f.caption]
    parts += ["## Files", "Tables as CSV: " + ", ".join(f"`{p.relative_to(out).as_posix()}`" for p in r.csv) + "."]
    return "\n\n".join(p for p in parts if p) + "\n"


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _html_paragraph(text: str) -> str:
    blocks = []
    for block in text.split("\n\n"):
        lines = block.split("\n")
        head = [ln for ln in lines if not ln.startswith("- ")]
        items = [ln[2:] for ln in lines if ln.startswith("- ")]
        if head:
            cls = ' class="partial"' if head[0].startswith("**Partial run**") else ""
            blocks.append(f"<p{cls}>{_inline(' '.join(head))}</p>")
        if items:
            blocks.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
    return "\n".join(blocks)


def _html_table(t: Table) -> str:
    align = [' class="num"' if num else "" for num in numeric_columns(t)]
    head = "".join(f"<th{a}>{html.escape(h)}</th>" for h, a in zip(t.headers, align))
    body = "".join("<tr>" + "".join(f"<td{a}>{html.escape(c)}</td>" for c, a in zip(row, align)) + "</tr>"
                   for row in t.rows)
    note = f'<p class="note">{_inline(t.note)}</p>' if t.note else ""
    return f"<h2>{html.escape(t.title)}</h2>\n<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


CSS = """body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1180px;margin:2em auto;
padding:0 1.2em;color:#222}h1{font-size:1.6em;margin-bottom:.1em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.sub{color:#666;margin-top:0}table{border-collapse:collapse;font-size:13px;margin:.6em 0}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;white-space:nowrap}th{background:#f3f3f3}
.num{text-align:right}tbody tr:nth-child(even){background:#fafafa}
.note{color:#555;font-size:13px}.partial{background:#fff3cd;border:1px solid #e0c36a;padding:.5em .8em}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:13px}
code{background:#f4f4f4;padding:0 3px}.provenance{margin:.4em 0 .8em;padding-left:1.2em}"""


def to_html(r: Report) -> str:
    """report.html: one file, figures embedded as base64 PNGs, no external resources."""
    figs = []
    for f in r.figures:
        data = base64.b64encode(f.path.read_bytes()).decode("ascii")
        figs.append(f'<figure><h3>{html.escape(f.title)}</h3><img alt="{html.escape(f.title)}" '
                    f'src="data:image/png;base64,{data}"><figcaption>{_inline(f.caption)}</figcaption></figure>')
    lines = "".join(f"<li>{_inline(line)}</li>" for line in r.provenance)
    body = [f"<h1>{_inline(r.title)}</h1>", f'<ul class="provenance">{lines}</ul>' if lines else "",
            f'<p class="sub">{_inline(r.subtitle)}</p>', "<h2>What this run shows</h2>",
            *(_html_paragraph(p) for p in r.paragraphs), *(_html_table(t) for t in r.tables), "<h2>Figures</h2>", *figs]
    title = html.escape(r.title.replace("`", ""))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(run: Run, out: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write figures, CSV tables and report.md / report.html into `out`; returns the report files."""
    report = build(run, out)
    written = []
    if "md" in formats:
        written.append(write_file(out / "report.md", to_markdown(report, out)))
    if "html" in formats:
        written.append(write_file(out / "report.html", to_html(report)))
    return written
