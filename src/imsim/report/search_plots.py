"""Plot of the search comparison: what each method pays in time for its accuracy.

Drawn from the records of :func:`imsim.evaluation.search.evaluate` (no pyplot
state; the PNG is written atomically).
"""
from __future__ import annotations

import math
from pathlib import Path

from .._io import atomic_path

__all__ = ["plot_time_vs_approximation", "time_vs_approximation_figure"]

_ORDER = ("exact", "faiss-flat", "hnsw", "lsh", "reduced")
# LSH's parameters by the assignment's names (the table and `imsim search -k -L` use them),
# which also keeps the labels short enough to sit beside their points
_SHORT = {"n_hashes": "k", "n_tables": "L"}


def _labels(records: list[dict]) -> list[str]:
    """Each record's parameters, keeping only those that differ between the records."""
    keys = []
    for r in records:
        keys += [k for k in r.get("params", {}) if k not in keys]
    varying = [k for k in keys if len({repr(r.get("params", {}).get(k)) for r in records}) > 1]
    shown = varying if len(records) > 1 else keys
    return [", ".join(f"{_SHORT.get(k, k)}={r['params'][k]}" for k in shown
                      if r.get("params", {}).get(k) is not None) for r in records]


def plot_time_vs_approximation(records, path, *, title: str = "Search: time vs accuracy",
                               annotate: bool = True) -> Path:
    """Milliseconds per query (log axis) against approximation factor, one point per record.

    Each method gets one colour; its points are joined along its Pareto front
    (no other setting of that method is both faster and more exact). Labels are placed
    where they overlap no other label or point; the legend sits outside the axes.

    Parameters
    ----------
    records : list of dict
        With keys ``method``, ``params``, ``ms_per_query``, ``approx_factor``.
    path : str or Path, PNG
    annotate : bool, label every point with the parameters that vary within its method

    Returns
    -------
    Path
    """
    fig = time_vs_approximation_figure(records, title=title, annotate=annotate)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, facecolor="white")
    return path


def time_vs_approximation_figure(records, *, title: str = "Search: time vs accuracy",
                                 annotate: bool = True):
    """The figure of :func:`plot_time_vs_approximation`, drawn but not saved."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ._axes import place_labels, readable_log_axis

    points = [r for r in records
              if r["ms_per_query"] > 0 and not math.isnan(r.get("approx_factor", math.nan))]
    if not points:
        raise ValueError("no record has both a time and an approximation factor to plot")
    fig = Figure(figsize=(8.0, 5.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    methods = sorted({r["method"] for r in points},
                     key=lambda m: (_ORDER.index(m) if m in _ORDER else len(_ORDER), m))
    labels = []
    for c, method in enumerate(methods):
        mine = sorted((r for r in points if r["method"] == method),
                      key=lambda r: (r["ms_per_query"], r["approx_factor"]))
        color = colormaps["tab10"](c % 10)
        xs = [r["approx_factor"] for r in mine]
        ys = [r["ms_per_query"] for r in mine]
        ax.scatter(xs, ys, color=color, label=method, zorder=3, s=28)
        front, best = [], math.inf
        for r in mine:  # fastest first: keep each point more exact than all faster ones
            if r["approx_factor"] < best:
                front.append(r)
                best = r["approx_factor"]
        if len(front) > 1:
            ax.plot([r["approx_factor"] for r in front], [r["ms_per_query"] for r in front],
                    color=color, linewidth=1, alpha=0.6, zorder=2)
        if annotate:
            labels += [(r["approx_factor"], r["ms_per_query"], label, color)
                       for r, label in zip(mine, _labels(mine)) if label]
    ax.set_yscale("log")
    # room around the points for their labels
    ax.margins(x=0.12, y=0.12)
    ax.set_xlabel("approximation factor (mean d_method / d_true, 1 = exact)")
    ax.set_ylabel("milliseconds per query (log scale)")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    fig.legend(loc="outside right upper", fontsize=9)
    readable_log_axis(ax, "y")
    if labels:
        place_labels(ax, labels)
    return fig
