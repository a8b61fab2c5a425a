"""Plots of a classifier's results: the confusion matrix and example grids."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .grid import image_grid
from .training_plots import _figure, _save

__all__ = ["plot_confusion", "confusion_figure", "examples_grid"]


def plot_confusion(confusion, path, *, class_names=None, title: str | None = None) -> Path:
    """The confusion matrix as a PNG: counts in every cell, rows = true classes.

    Parameters
    ----------
    confusion : ndarray of shape (K, K), int
        ``confusion[t, p]`` = images of true class t predicted as p.
    class_names : list of str, optional
    """
    return _save(confusion_figure(confusion, class_names=class_names, title=title), path)


def confusion_figure(confusion, *, class_names=None, title: str | None = None):
    """The figure of :func:`plot_confusion`, drawn but not saved.

    Off-diagonal cells are shaded by their share of the row; each count is written in
    black or white, whichever contrasts more with its cell.
    """
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    from ._axes import text_color_on

    cm = np.asarray(confusion)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion must be a square matrix, got shape {cm.shape}")
    k = cm.shape[0]
    names = [str(n) for n in class_names] if class_names is not None else [str(i) for i in range(k)]
    fig, ax = _figure(figsize=(1.4 + 0.5 * k, 1.0 + 0.45 * k))
    # colour by row share so that the few errors stay visible beside the large diagonal
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    off = ~np.eye(k, dtype=bool)
    cmap, norm = colormaps["Reds"], Normalize(0, max(share[off].max(initial=0), 1e-9))
    ax.imshow(np.where(off, share, np.nan), cmap=cmap, norm=norm)
    for t in range(k):
        for p in range(k):
            background = cmap(norm(share[t, p])) if off[t, p] else (1.0, 1.0, 1.0)
            ax.text(p, t, str(int(cm[t, p])), ha="center", va="center", fontsize=8,
                    color=text_color_on(background),
                    fontweight="bold" if t == p else "normal")
    ax.set_xticks(range(k), names, fontsize=9)
    ax.set_yticks(range(k), names, fontsize=9)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(title or f"confusion matrix (accuracy {100 * accuracy:.2f}%)", fontsize=10)
    return fig


def examples_grid(images, true, predicted, path, *, correct: bool, n: int = 36,
                  class_names=None, seed: int = 0) -> Path | None:
    """A grid of correctly (or incorrectly) classified images, titled "true -> predicted".

    Parameters
    ----------
    images : ndarray of shape (N, H, W) or (N, H, W, C), dtype uint8
    true, predicted : ndarray of shape (N,), int
    correct : bool
        Which kind to show.
    n : int
        At most this many, a seeded sample in index order.

    Returns
    -------
    Path, or None when there is no image of that kind (nothing is written).
    """
    true, predicted = np.asarray(true), np.asarray(predicted)
    rows = np.flatnonzero((true == predicted) == correct)
    if len(rows) == 0:
        return None
    if len(rows) > n:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=n, replace=False))
    name = (lambda c: str(class_names[c])) if class_names is not None else str
    titles = [f"{name(true[i])}" if correct else f"{name(true[i])}->{name(predicted[i])}"
              for i in rows]
    return image_grid(np.asarray(images)[rows], path, titles=titles)
