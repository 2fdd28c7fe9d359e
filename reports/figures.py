"""The report's figures as PNGs (matplotlib, Agg): score against FLOPs and against measured speed with the Pareto
front, the EDF of proxy scores, proxy against full score, design trends, the three error terms, and the ablation
beside the paper. Shared helpers: `reports.plotting`; the stage-2 panels: `reports.final_figures`."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from reports.final_figures import KIND_STYLE, finished_models, flops_caption, score_vs_latency, speed_caption, \
    stage2_panel
from reports.proxy_words import axis_label, higher_is_better
from reports.plotting import DPI, FigureFile, _annotate, _front, _log_if_wide, _short, pareto_front, plt, save_png
from reports.tables import TERMS, Run, comparison, per_model, proxy_fidelity, table1

__all__ = ["DPI", "FigureFile", "_annotate", "_log_if_wide", "pareto_front", "plt", "save_png", "make_figures"]
STATUS_STYLE = {"complete": dict(color="#1f77b4", marker="o", label="complete"),
                "pruned": dict(color="#9e9e9e", marker="o", label="stopped early (ASHA; last score)", alpha=0.6)}
TERM_COLOURS = {"v1_v2": "#4c72b0", "v1_v3": "#dd8452", "v1_v4_x10": "#55a868"}
TERM_NAMES = {"v1_v2": "|V1-V2| (shape and pose)", "v1_v3": "|V1-V3| (pose)", "v1_v4_x10": "10 |V1-V4| (shape)"}


def _stage1_panel(ax: plt.Axes, run: Run) -> None:
    """Every trial's proxy score against GFLOPs, the baselines' and controls' proxies, the front, the failures."""
    t, f = run.trials, run.final
    points_x, points_y = [], []
    for status, style in STATUS_STYLE.items():
        s = t[(t["status"] == status) & t["proxy_score"].notna()] if not t.empty else t
        if len(s):
            ax.scatter(s["gflops"], s["proxy_score"], s=22, **style)
        if status == "complete" and len(s):
            points_x += list(s["gflops"])
            points_y += list(s["proxy_score"])
    for kind in ("baseline", "control"):
        k = f[(f["kind"] == kind) & f["proxy_score"].notna()].drop_duplicates("label") if not f.empty else f
        if len(k):
            style = {**KIND_STYLE[kind], "label": f"{KIND_STYLE[kind]['label']} (its proxy)"}
            ax.scatter(k["gflops"], k["proxy_score"], edgecolors="black", zorder=3, **style)
            if kind == "baseline":
                _annotate(ax, k["gflops"], k["proxy_score"], k["label"])
                points_x += list(k["gflops"])
                points_y += list(k["proxy_score"])
    if points_x:
        _front(ax, np.asarray(points_x, float), np.asarray(points_y, float), higher_y_better=higher_is_better(run))
    failed = t[t["status"] == "failed"] if not t.empty else t
    if len(failed):
        ax.scatter(failed["gflops"], np.full(len(failed), 0.97), transform=ax.get_xaxis_transform(),
                   marker="x", color="#d62728", label=f"failed ({len(failed)}, no score)")
    _log_if_wide(ax, t["proxy_score"].to_numpy(float) if not t.empty else np.array([]))
    ax.set(xlabel="GFLOPs (256x256)", ylabel=axis_label(run), title="stage 1: proxy scores")
    ax.legend(fontsize=8, loc="upper left")


def score_vs_flops(run: Run) -> Figure | None:
    """Left: every trial's proxy score against GFLOPs; right: the full score of the stage-2 models (mean over
    seeds, one sd as bars where there are two or more), controls apart from searched picks and baselines."""
    if run.trials.empty and run.final.empty:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6), dpi=DPI)
    _stage1_panel(left, run)
    stage2_panel(right, finished_models(run), "gflops", "GFLOPs (256x256)", "stage 2: full trainings")
    fig.tight_layout()
    return fig


def proxy_edf(run: Run) -> Figure | None:
    """The empirical distribution function of the sampled architectures' proxy scores (RegNet-style)."""
    t = run.trials
    if t.empty or not t["proxy_score"].notna().any():
        return None
    fig, ax = plt.subplots(figsize=(8, 4.4), dpi=DPI)
    for subset, style, name in ((t[t["status"] == "complete"], "-", "complete trials"),
                                (t, "--", "all trials (stopped ones: last score)")):
        v = np.sort(subset["proxy_score"].dropna().to_numpy(float))
        if len(v):
            ax.step(np.r_[v[0], v], np.r_[0, np.arange(1, len(v) + 1) / len(v)], where="post", ls=style,
                    label=f"{name} (n={len(v)})")
    if not run.final.empty:
        base = run.final[(run.final["kind"] == "baseline") & run.final["proxy_score"].notna()].drop_duplicates("label")
        for k, (_, r) in enumerate(base.sort_values("proxy_score").iterrows()):
            ax.axvline(r["proxy_score"], color="#2ca02c", ls=":", lw=1)
            ax.text(r["proxy_score"], 0.55 + 0.12 * k, f" {r['label']}", fontsize=8, color="#2ca02c")
    _log_if_wide(ax, t["proxy_score"].to_numpy(float), axis="x")
    ax.set(xlabel=axis_label(run), ylabel="fraction of architectures with a lower score", ylim=(0, 1.02),
           title="EDF of proxy scores")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def proxy_vs_full(run: Run) -> Figure | None:
    """Proxy score against full score (mean over seeds) of the stage-2 models, with Kendall tau and Spearman rho."""
    both = per_model(run).dropna(subset=["proxy_score", "score"])
    if both.empty:
        return None
    fit = proxy_fidelity(run)
    fig, ax = plt.subplots(figsize=(7, 4.8), dpi=DPI)
    for kind, style in KIND_STYLE.items():
        k = both[both["kind"] == kind]
        if len(k):
            ax.scatter(k["proxy_score"], k["score"], edgecolors="black", zorder=3, **style)
    _annotate(ax, both["proxy_score"], both["score"], both["label"])
    if fit["kendall_tau"] is None:
        title = f"proxy against full score ({fit['models']} models: too few for a rank correlation)"
    else:
        title = (f"Kendall tau = {fit['kendall_tau']:+.2f}, Spearman rho = {fit['spearman_rho']:+.2f} "
                 f"({fit['models']} models{'; + = agrees' if higher_is_better(run) else ''})")
    ax.set(xlabel=axis_label(run), ylabel="full score (mm, mean over seeds)", title=title)
    ax.margins(0.15)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def design_trends(run: Run) -> Figure | None:
    """Proxy score against each design variable of the search space (ResNet-d: each stage's depth and width;
    RegNet: d, w0, wa, wm, g, b); rho over complete trials."""
    t, names = run.trials, run.design
    if t.empty or not names or not t["proxy_score"].notna().any():
        return None
    cols = 4
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.8 * rows), dpi=DPI, sharey=True, squeeze=False)
    complete = t[t["status"] == "complete"]
    stopped = t[(t["status"] != "complete") & t["proxy_score"].notna()]
    for ax, col in zip(axes.flat, names):
        ax.scatter(stopped[col], stopped["proxy_score"], s=16, facecolors="none", edgecolors="#9e9e9e",
                   label="stopped early")
        ax.scatter(complete[col], complete["proxy_score"], s=22, color="#1f77b4", label="complete")
        rho = ""
        if len(complete) >= 3 and complete[col].nunique() > 1:
            rho = f"  (rho {stats.spearmanr(complete[col], complete['proxy_score']).statistic:+.2f})"
        ax.set_title(f"{col}{rho}", fontsize=9)
        ax.set_xlabel(col, fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    _log_if_wide(axes[0][0], t["proxy_score"].to_numpy(float))
    for row in axes:
        row[0].set_ylabel("proxy score")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("design trends: proxy score against each design variable of the space "
                 "(rho: Spearman, complete trials)", fontsize=10)
    fig.tight_layout()
    return fig


def error_terms(run: Run) -> Figure | None:
    """The three error terms of each final model (mean over seeds) as stacked horizontal bars."""
    table = comparison(run)
    table = table[table["score"].notna()]
    if table.empty:
        return None
    table = table.iloc[::-1]  # best at the top
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.45 * len(table)), dpi=DPI)
    y = np.arange(len(table))
    left = np.zeros(len(table))
    for term in TERMS:
        v = table[term].to_numpy(float)
        ax.barh(y, v, left=left, color=TERM_COLOURS[term], label=TERM_NAMES[term], height=0.65)
        left += np.nan_to_num(v)
    sd = table["score_sd"].to_numpy(float)
    if np.isfinite(sd).any():
        ax.errorbar(left, y, xerr=np.nan_to_num(sd), fmt="none", color="black", capsize=3, lw=1)
    for yi, total, e in zip(y, table["score"], np.nan_to_num(sd)):
        ax.text(total + e, yi, f"  {total:.2f}", va="center", fontsize=8)
    ax.set_yticks(y, [_short(str(n)) for n in table["network"]], fontsize=8)
    ax.set_xlim(0, (left + np.nan_to_num(sd)).max() * 1.15)
    ax.set(xlabel="held-out score (mm) = sum of the three terms")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    fig.tight_layout()
    return fig


def ablation_vs_paper(run: Run) -> Figure | None:
    """Each Table 1 experiment's change against ResNet34 with flip, in percent: ours beside the paper's."""
    t = table1(run)
    ref = t.loc[t["experiment"] == "resnet34d", "score"].iloc[0]
    t = t[t["experiment"] != "resnet34d"].iloc[::-1]
    if t["delta_pct"].isna().all():
        return None
    sd = np.nan_to_num(100 * t["score_sd"].to_numpy(float) / ref)
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=DPI)
    y = np.arange(len(t))
    label = "this run" + (" (bars: one sd)" if sd.any() else "")
    ax.barh(y + 0.2, t["delta_pct"], height=0.4, color="#4c72b0", label=label,
            xerr=sd if sd.any() else None, error_kw={"capsize": 3, "lw": 1})
    ax.barh(y - 0.2, t["paper_delta_pct"], height=0.4, color="#c44e52", label="paper (Table 1)")
    for yi, v, e in zip(y, t["delta_pct"], sd[::1]):
        if pd.notna(v):
            ax.text(max(v, 0) + e, yi + 0.2, f" {v:+.2f}%", va="center", fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [f"{a}, {n}, {lo}" for a, n, lo in zip(t["aug"], t["network"], t["loss"])], fontsize=8)
    ax.set(xlabel="score change against Flip + ResNet34 + L (%, lower is better)",
           title="Table 1: relative change, this run and the paper")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _terms_caption(run: Run) -> str:
    seeds = comparison(run)["seeds"]
    bars = "bars: one sd" if len(seeds) and seeds.max() >= 2 else "one seed each, so no error bars"
    return f"The three terms of the WCPA score of each final model (mean over seeds; {bars})."


def _ablation_caption(run: Run) -> str:
    seeds = comparison(run)["seeds"]
    bars = " Bars: one sd over seeds." if len(seeds) and seeds.max() >= 2 else " One seed each: no error bars."
    return ("Each experiment's score change against ResNet34 with flip and the full loss, in percent of that score: "
            "this run beside the paper's Table 1." + bars)


Caption = Callable[[Run], str]
FIGURES: dict[str, tuple[Callable[[Run], Figure | None], str, Caption]] = {
    "score_vs_flops": (score_vs_flops, "Score against FLOPs", flops_caption),
    "score_vs_latency": (score_vs_latency, "Score against measured speed", speed_caption),
    "proxy_edf": (proxy_edf, "Distribution of proxy scores",
                  lambda run: "Empirical distribution function of the proxy scores (RegNet-style): the fraction of "
                              "sampled architectures scoring below each value; dotted lines: the baselines' proxy "
                              "scores."),
    "proxy_vs_full": (proxy_vs_full, "Proxy against full score",
                      lambda run: "Each stage-2 model's proxy score against its full-training score (mean over "
                                  "seeds): how far the proxy ranking can be trusted."),
    "design_trends": (design_trends, "Design trends",
                      lambda run: "Proxy score against each stage's depth and width; filled: trials that ran all "
                                  "proxy epochs."),
    "error_terms": (error_terms, "Error terms", _terms_caption),
    "ablation_vs_paper": (ablation_vs_paper, "Ablation beside the paper", _ablation_caption),
}
SEARCH_FIGURES = ("score_vs_flops", "score_vs_latency", "proxy_edf", "proxy_vs_full", "design_trends", "error_terms")
ABLATION_FIGURES = ("error_terms", "ablation_vs_paper")


def make_figures(run: Run, out: Path) -> list[FigureFile]:
    """Write every figure the run has data for into `out`; returns them in report order."""
    written = []
    for name in ABLATION_FIGURES if run.kind == "ablation" else SEARCH_FIGURES:
        draw, title, caption = FIGURES[name]
        fig = draw(run)
        if fig is not None:
            written.append(FigureFile(name, save_png(fig, out / f"{name}.png"), title, caption(run)))
    return written
