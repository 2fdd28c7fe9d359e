"""What every report figure shares: matplotlib on Agg, the figure record, Pareto fronts, labels beside points,
log axes where values spread widely, and writing a PNG atomically."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display, and the same pixels everywhere
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from reports.files import write_file  # noqa: E402

DPI = 100


@dataclass
class FigureFile:
    """One figure written for the report."""

    name: str
    path: Path
    title: str
    caption: str


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats in both x and y (lower is better), by increasing x."""
    order = np.lexsort((y, x))
    front, best = [], np.inf
    for i in order:
        if y[i] < best:
            front.append(i)
            best = y[i]
    return np.asarray(front, dtype=int)


def _log_if_wide(ax: plt.Axes, values: np.ndarray, axis: str = "y") -> None:
    values = values[np.isfinite(values) & (values > 0)]
    if len(values) and values.max() / values.min() > 4:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        target = ax.yaxis if axis == "y" else ax.xaxis
        decades = np.log10(values.max() / values.min())
        # 1-2-5 ticks over a few decades; over many (SynFlow spans ~200) that locator returns none at all
        target.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)) if decades <= 6
                                 else ticker.LogLocator(numticks=8))
        target.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        target.set_minor_formatter(ticker.NullFormatter())


def _annotate(ax: plt.Axes, xs: "pd.Series", ys: "pd.Series", labels: "pd.Series") -> None:
    """Label points beside them, away from the right edge, staggering labels of points close in y."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    if not len(x):
        return
    mid, span = (x.min() + x.max()) / 2, (y.max() - y.min()) or 1.0
    last, below = -np.inf, False
    for i in np.argsort(y):
        below = not below if y[i] - last < 0.04 * span else False
        right = len(x) > 1 and x[i] > mid
        ax.annotate(_short(str(list(labels)[i])), (x[i], y[i]), xytext=(-7 if right else 7, -11 if below else 5),
                    textcoords="offset points", ha="right" if right else "left", fontsize=8)
        last = y[i]


def _short(label: str) -> str:
    return label if len(label) <= 28 else label[:26] + "..."


def _front(ax: plt.Axes, x: np.ndarray, y: np.ndarray, higher_x_better: bool = False,
           higher_y_better: bool = False) -> None:
    """The Pareto front of (x, y), each lower-is-better unless said otherwise."""
    idx = pareto_front(-x if higher_x_better else x, -y if higher_y_better else y)
    if len(idx) > 1:
        ax.plot(x[idx], y[idx], drawstyle="steps-post", color="#d62728", lw=1.2, zorder=1, label="Pareto front")
    elif len(idx) == 1:
        ax.scatter(x[idx], y[idx], s=160, facecolors="none", edgecolors="#d62728", label="Pareto front")


def save_png(fig: Figure, path: Path) -> Path:
    """Write a figure as PNG atomically, and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return write_file(path, buf.getvalue())
