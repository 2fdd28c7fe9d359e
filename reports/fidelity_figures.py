"""A nas-fidelity run's figures, in figures.py's style: each proxy's Kendall tau against its GPU cost, and the
best proxies' scores against the full training's."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reports.fidelity import FULL, GOAL_COST, GOAL_TAU, MEAN, direction_sign, fidelity_table, full_gpu_s, \
    models_table, reference_table
from reports.figures import DPI, FigureFile, _annotate, _log_if_wide, plt, save_png
from reports.run import Run

KIND_STYLE = {"window": dict(marker="o", s=40, color="#1f77b4", label="window (random)"),
              "baseline": dict(marker="*", s=160, color="#2ca02c", edgecolors="black", label="baseline")}
OTHER_STYLE = dict(marker="s", s=40, color="#9e9e9e", label="other")


def _reference_lines(ax: plt.Axes, run: Run) -> None:
    """The noise ceiling, the goal's tau and its cost limit."""
    ceiling = run.summary.get("noise_ceiling_kendall")
    if ceiling is not None:
        ax.axhline(ceiling, color="#d62728", lw=1.2, label=f"noise ceiling (full seeds' tau {ceiling:+.2f})")
    ax.axhline(GOAL_TAU, color="black", lw=0.8, ls=":", label=f"goal: tau >= {GOAL_TAU}")
    colors = ("#8c564b", "#7f7f7f", "#bcbd22", "#17becf")
    for i, (_, ref) in enumerate(reference_table(run).dropna(subset=["kendall"]).iterrows()):
        ax.axhline(ref["kendall"], color=colors[i % len(colors)], lw=1.0, ls="-.",
                   label=f"{ref['proxy']}: size alone, no training (tau {ref['kendall']:+.2f})")
    full_s = full_gpu_s(run)
    if full_s:
        ax.axvline(GOAL_COST * full_s, color="black", lw=0.8, ls="--",
                   label=f"goal: {100 * GOAL_COST:.0f}% of a full training ({GOAL_COST * full_s:.0f} GPU-s)")


def fidelity_vs_cost(run: Run) -> Figure | None:
    """Each proxy's Kendall tau (95% interval as error bar) against its GPU-seconds per architecture (log x)."""
    t = fidelity_table(run)
    t = t[t["kendall"].notna() & (t["gpu_s_per_arch"] > 0)]
    if t.empty:
        return None
    fig, ax = plt.subplots(figsize=(11.5, 5), dpi=DPI)
    lo = (t["kendall"] - t["kendall_lo"]).clip(lower=0).fillna(0)
    hi = (t["kendall_hi"] - t["kendall"]).clip(lower=0).fillna(0)
    ax.errorbar(t["gpu_s_per_arch"], t["kendall"], yerr=[lo, hi], fmt="o", color="#1f77b4", ecolor="#7f9fbf",
                capsize=3, zorder=3, label="proxy (bars: 95% interval)")
    best = t[t["proxy"] == run.summary.get("recommended_proxy")]
    if len(best):
        ax.scatter(best["gpu_s_per_arch"], best["kendall"], s=260, facecolors="none", edgecolors="#ff7f0e", lw=2,
                   zorder=4, label="recommended")
    _annotate(ax, t["gpu_s_per_arch"], t["kendall"], t["proxy"])
    _reference_lines(ax, run)
    ax.set_xscale("log")
    _log_if_wide(ax, t["gpu_s_per_arch"].to_numpy(float), axis="x")
    missing = len(fidelity_table(run)) - len(t)
    note = f" ({missing} without a tau or GPU time not shown)" if missing else ""
    ax.set(xlabel="GPU-seconds per architecture (log)", ylabel="Kendall tau against full training",
           ylim=(min(-0.1, np.nanmin([*t[["kendall", "kendall_lo"]].to_numpy(float).ravel(),
                                      *reference_table(run)["kendall"].dropna()]) - 0.05), 1.02),
           title=f"proxy fidelity against cost{note}")
    ax.margins(x=0.15)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: it hid the points
    fig.tight_layout()
    return fig


def _panel(ax: plt.Axes, models: pd.DataFrame, row: pd.Series) -> None:
    """One proxy's mean score against the mean full score, by kind of architecture."""
    x, y = row["proxy"] + MEAN, FULL + MEAN
    both = models[models[x].notna() & models[y].notna()]
    for kind, g in both.groupby(both["kind"].fillna("").astype(str)):
        style = {**KIND_STYLE.get(kind, OTHER_STYLE)}
        style["label"] = style["label"] if kind in KIND_STYLE or not kind else kind
        ax.scatter(g[x], g[y], zorder=3, **style)
    base = both[both["kind"] == "baseline"]
    _annotate(ax, base[x], base[y], base["arch"])
    interval = "" if pd.isna(row["kendall_lo"]) else f" [{row['kendall_lo']:+.2f}, {row['kendall_hi']:+.2f}]"
    ax.set_title(f"{row['proxy']}: tau {row['kendall']:+.2f}{interval}", fontsize=10)
    better = {1: "; lower is better", -1: "; higher is better"}.get(direction_sign(row), "")
    ax.set_xlabel(f"{row['proxy']} (mean over seeds{better})")
    ax.margins(0.12)
    if len(both) == 0:
        ax.text(0.5, 0.5, "no architecture has both scores yet", ha="center", transform=ax.transAxes)


def proxy_vs_full(run: Run) -> Figure | None:
    """The three best proxies by Kendall tau: each one's mean score against the mean full score."""
    top = fidelity_table(run)
    top = top[top["kendall"].notna()].head(3)
    models = models_table(run)
    if top.empty or models.empty or not models[FULL + MEAN].notna().any():
        return None
    fig, axes = plt.subplots(1, len(top), figsize=(4.2 * len(top) + 0.6, 4.4), dpi=DPI, squeeze=False)
    for ax, (_, row) in zip(axes[0], top.iterrows()):
        _panel(ax, models, row)
    axes[0][0].set_ylabel("full score (mm, mean over seeds; lower is better)")
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle("best proxies against full training", fontsize=11)
    fig.tight_layout()
    return fig


FIDELITY_FIGURES: dict[str, tuple[Callable[[Run], Figure | None], str, str]] = {
    "fidelity_vs_cost": (fidelity_vs_cost, "Proxy fidelity against cost",
                         "Each proxy's Kendall tau against full training (bars: 95% bootstrap interval over "
                         "architectures) against its GPU-seconds per architecture. Red line: the noise ceiling "
                         "(tau between two full-training seeds); dotted and dashed lines: the goal (tau >= 0.6 at "
                         "<= 10% of a full training's GPU time); dash-dotted lines: size alone as a reference (depth, "
                         "parameters: no training, never recommended); ring: the recommended proxy."),
    "proxy_vs_full": (proxy_vs_full, "Best proxies against full training",
                      "For the three proxies with the highest Kendall tau: each architecture's proxy score (mean "
                      "over the proxy's seeds) against its full-training score (mean over seeds)."),
}


def make_fidelity_figures(run: Run, out: Path) -> list[FigureFile]:
    """Write every figure the fidelity run has data for into `out`; returns them in report order."""
    written = []
    for name, (draw, title, caption) in FIDELITY_FIGURES.items():
        fig = draw(run)
        if fig is not None:
            written.append(FigureFile(name, save_png(fig, out / f"{name}.png"), title, caption))
    return written
