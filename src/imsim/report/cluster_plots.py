"""Plots for clustering: silhouette profile, correct/incorrect per label, elbow curve.

Each function draws one PNG from library results (no pyplot state; written
atomically) and returns its path.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._io import atomic_path

__all__ = ["plot_silhouette", "plot_label_counts", "plot_elbow"]


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, facecolor="white")
    return path


def plot_silhouette(result, labels, path, *, title: str = "Silhouette") -> Path:
    """The classic silhouette plot: each cluster's sorted s(i) as a band of bars.

    Parameters
    ----------
    result : SilhouetteResult
        From :func:`imsim.cluster.silhouette`.
    labels : ndarray of shape (N,), int, the labelling it was computed for
    path : str or Path, PNG
    title : str
    """
    labels = np.asarray(labels)
    s = np.asarray(result.samples)
    if labels.shape != s.shape:
        raise ValueError(f"labels have shape {labels.shape}, the silhouette {s.shape}")
    fig = _figure(5.6, 4.6)  # beside the label counts, at half the page width
    ax = fig.add_subplot()
    k = len(result.per_cluster)
    from matplotlib import colormaps

    colors = [colormaps["tab10"](c % 10) for c in range(k)]
    gap = max(1, len(s) // 100)
    y = 0
    for c in range(k):
        vals = np.sort(s[labels == c])
        if not len(vals):
            continue
        # a band per cluster, widest at the top; drawn as a filled profile, which
        # stays fast for 60,000 samples where a bar per sample would not
        ys = np.arange(y, y + len(vals))
        ax.fill_betweenx(ys, 0, vals, color=colors[c], linewidth=0)
        ax.text(-0.02, y + len(vals) / 2, str(c + 1), ha="right", va="center", fontsize=8,
                transform=ax.get_yaxis_transform())
        y += len(vals) + gap
    ax.axvline(result.total, color="red", linestyle="--", linewidth=1,
               label=f"mean {result.total:.3f}")
    ax.set_xlim(min(-0.1, float(s.min()) - 0.02), 1.0)
    ax.set_ylim(0, max(y, 1))
    ax.set_yticks([])
    ax.set_xlabel("silhouette s(i) (L1, original space)")
    ax.set_ylabel("clusters (sorted within each)", labelpad=18)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_label_counts(scores, path, *, title: str = "Found label per true label") -> Path:
    """Bar chart: images found with the right / a wrong label, per true label.

    Parameters
    ----------
    scores : LabelScores
        From :func:`imsim.evaluation.clustering.label_scores`.
    path : str or Path, PNG
    """
    values = np.asarray(scores.label_values)
    x = np.arange(len(values))
    fig = _figure(max(5.6, 0.4 * len(values) + 2), 4.6)
    ax = fig.add_subplot()
    ax.bar(x - 0.2, scores.correct, width=0.4, color="tab:green", label="correct")
    ax.bar(x + 0.2, scores.incorrect, width=0.4, color="tab:red", label="incorrect")
    ax.set_xticks(x, [str(v) for v in values])
    ax.set_xlabel("true label")
    ax.set_ylabel("images")
    ax.set_title(f"{title} (purity {scores.purity:.3f})")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_elbow(result, path, *, title: str | None = None) -> Path:
    """The objective against k, with the knee marked.

    Parameters
    ----------
    result : ElbowResult
        From :func:`imsim.cluster.elbow`.
    path : str or Path, PNG
    """
    fig = _figure(5.5, 4)
    ax = fig.add_subplot()
    ax.plot(result.ks, result.inertias, marker="o", color="tab:blue")
    if result.knee is not None:
        i = int(np.flatnonzero(result.ks == result.knee)[0])
        ax.axvline(result.knee, color="red", linestyle="--", linewidth=1)
        ax.plot([result.knee], [result.inertias[i]], marker="o", color="red",
                label=f"knee: k = {result.knee}")
        ax.legend(fontsize=8)
    ax.set_xlabel("k (clusters)")
    ax.set_ylabel("objective (sum of distances to centres)")
    ax.set_title(title or f"Elbow ({result.method})")
    return _save(fig, path)
