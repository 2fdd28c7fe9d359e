"""The stage-2 figures' parts (issue 15): each fully trained model as one point (its mean over seeds, with one sd
as an error bar where it has two or more seeds), searched picks, random controls and baselines drawn apart; and
score against measured batch-1 latency and inference throughput, beside score against FLOPs."""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from reports.plotting import DPI, _annotate, _front, plt
from reports.tables import Run, comparison

KIND_STYLE = {"searched": dict(marker="o", s=50, color="#1f77b4", label="searched (proxy's top-k)"),
              "control": dict(marker="s", s=50, color="#ff7f0e", label="random control"),
              "baseline": dict(marker="*", s=170, color="#2ca02c", label="baseline"),
              "ensemble": dict(marker="D", s=50, color="#9467bd", label="ensemble")}
SCORE_LABEL = "held-out score (mm, lower is better)"


def finished_models(run: Run, column: str | None = None) -> pd.DataFrame:
    """The comparison's models with a full score (and a value in `column`)."""
    table = comparison(run)
    keep = table["score"].notna() & (table[column].notna() if column else True)
    return table[keep]


def has_bars(table: pd.DataFrame) -> bool:
    """Whether any model has two or more seeds and so an sd to draw."""
    return bool(((table["seeds"] >= 2) & table["score_sd"].notna()).any())


def model_points(ax: plt.Axes, table: pd.DataFrame, x_col: str) -> None:
    """Each model's mean score against `x_col`, styled by kind; error bars: one sd over seeds (two or more)."""
    for kind, style in KIND_STYLE.items():
        k = table[table["kind"] == kind]
        if not len(k):
            continue
        ax.scatter(k[x_col], k["score"], edgecolors="black", zorder=3, **style)
        bars = k[(k["seeds"] >= 2) & k["score_sd"].notna()]
        if len(bars):
            ax.errorbar(bars[x_col], bars["score"], yerr=bars["score_sd"], fmt="none", ecolor=style["color"],
                        capsize=3, lw=1, zorder=2)


def stage2_panel(ax: plt.Axes, table: pd.DataFrame, x_col: str, xlabel: str, title: str,
                 higher_x_better: bool = False) -> None:
    """One panel of stage-2 models: points by kind, labels, the Pareto front of the means, or a note."""
    if table.empty:
        ax.text(0.5, 0.5, "no full training finished yet", ha="center", transform=ax.transAxes)
    else:
        model_points(ax, table, x_col)
        _annotate(ax, table[x_col], table["score"], table["network"])
        _front(ax, table[x_col].to_numpy(float), table["score"].to_numpy(float), higher_x_better)
        ax.legend(fontsize=8, loc="best")
    ax.set(xlabel=xlabel, ylabel=SCORE_LABEL, title=title)


def _device(table: pd.DataFrame) -> str:
    devices = sorted({str(d) for d in table.get("speed_device", pd.Series(dtype=str)) if str(d) not in ("", "nan")})
    return ", ".join(devices) or "the device"


def score_vs_latency(run: Run) -> Figure | None:
    """Left: each model's full score against its measured batch-1 latency; right: against its inference
    throughput at batch 256. None for a run that measured no speed."""
    lat, inf = finished_models(run, "latency_ms_b1"), finished_models(run, "infer_img_s")
    if lat.empty and inf.empty:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6), dpi=DPI)
    stage2_panel(left, lat, "latency_ms_b1", "batch-1 latency (ms, median of repeats; lower is faster)",
                 "score against latency")
    stage2_panel(right, inf, "infer_img_s", "inference images/s at batch 256 (higher is faster)",
                 "score against throughput", higher_x_better=True)
    fig.suptitle(f"measured alone on {_device(pd.concat([lat, inf]))}", fontsize=10)
    fig.tight_layout()
    return fig


def bars_note(run: Run) -> str:
    """What the stage-2 figures' error bars are, or that there are none."""
    table = finished_models(run)
    if table.empty:
        return ""
    if has_bars(table):
        return f"Points: mean over seeds; bars: one sd over seeds (up to {int(table['seeds'].max())} seeds)."
    return "Each model was trained under one seed, so there are no error bars."


def kind_note(run: Run) -> str:
    """Which kinds of stage-2 model the figures show."""
    kinds = set(finished_models(run)["kind"])
    text = "Circles: the proxy's top-k; stars: baselines"
    if "control" in kinds:
        text += "; squares: random controls drawn from the same window, independent of the proxy"
    return text + "."


def speed_caption(run: Run) -> str:
    """The score-vs-latency figure's caption."""
    return ("Each fully trained model's held-out score against its measured speed (alone on the GPU): left, the "
            "batch-1 latency; right, inference images/s at batch 256; the red line is the Pareto front. FLOPs are "
            f"not speed: compare with the FLOPs figure. {kind_note(run)} {bars_note(run)}").strip()


def flops_caption(run: Run) -> str:
    """The score-vs-FLOPs figure's caption."""
    return ("Left: each sampled architecture's proxy score (stage 1) against its FLOPs, the baselines' (stars) and "
            "random controls' (squares) proxy scores, and the Pareto front of the complete ones. Right: the held-out "
            f"score of each fully trained model. {kind_note(run)} {bars_note(run)}").strip()


__all__ = ["KIND_STYLE", "bars_note", "flops_caption", "has_bars", "kind_note", "model_points", "score_vs_latency",
           "speed_caption", "stage2_panel"]
