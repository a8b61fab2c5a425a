"""The EMD sweep as a table and a plot: correctness and time against window size.

Both take the list that :func:`imsim.evaluation.emd.emd_sweep` returns. The plot
is one PNG (no pyplot state; written atomically).
"""
from __future__ import annotations

from pathlib import Path

from .._io import atomic_path
from ._axes import readable_log_axis

__all__ = ["sweep_table", "plot_emd_sweep"]


def sweep_table(results) -> str:
    """A Markdown table: one row per window, EMD against Manhattan.

    Parameters
    ----------
    results : sequence of EMDCorrectness

    Returns
    -------
    str
        Columns: window (pixels), bins per image, correctness of each method,
        time of each method (seconds), exact EMDs per query.
    """
    rows = ["| window | bins | EMD correct | Manhattan correct | EMD time (s) "
            "| Manhattan time (s) | exact EMD / query |",
            "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        rows.append(f"| {r.window} | {r.bins} | {r.emd_correct:.4f} | {r.manhattan_correct:.4f} "
                    f"| {r.emd_seconds:.2f} | {r.manhattan_seconds:.2f} | {r.exact_per_query:.1f} |")
    return "\n".join(rows) + "\n"


def plot_emd_sweep(results, path, *, title: str | None = None) -> Path:
    """Correctness (left) and search time (right, log scale) against window size.

    Parameters
    ----------
    results : sequence of EMDCorrectness
        Any order; plotted by increasing window.
    path : str or Path, PNG
    title : str, optional (default: sizes and ground distance)

    Returns
    -------
    Path
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    results = sorted(results, key=lambda r: r.window)
    if not results:
        raise ValueError("no sweep results to plot")
    windows = [r.window for r in results]
    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    acc, tim = fig.subplots(1, 2)
    acc.plot(windows, [r.emd_correct for r in results], "o-", label=f"EMD ({results[0].ground})")
    acc.plot(windows, [r.manhattan_correct for r in results], "s--", label="Manhattan (pixels)")
    acc.set(xlabel="window side (pixels)", ylabel=f"average correct of {results[0].k} nearest",
            title="Correctness")
    tim.plot(windows, [r.emd_seconds for r in results], "o-", label="EMD")
    tim.plot(windows, [r.manhattan_seconds for r in results], "s--", label="Manhattan")
    tim.set(xlabel="window side (pixels)", ylabel="search time (s)", yscale="log",
            title="Time for all queries")
    for ax in (acc, tim):
        ax.set_xticks(windows)
        ax.grid(alpha=0.3)
        ax.legend()
    readable_log_axis(tim, "y")
    r0 = results[0]
    fig.suptitle(title or f"EMD vs Manhattan: {r0.n_queries:,} queries, {r0.n_data:,} images")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, facecolor="white")
    return path
