"""Plots of training runs: loss curves, a sweep's val loss against the varied value,
and originals beside their reconstructions.

Inputs are plain data (a :class:`~imsim.models.History` or its ``to_dict()``, a
:class:`~imsim.models.sweep.SweepResult`), so this module never loads torch.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._io import atomic_path
from ._axes import integer_axis, readable_log_axis
from .grid import image_grid

__all__ = ["plot_history", "plot_sweep", "reconstruction_grid"]


def _epochs(history) -> list[dict]:
    return history.epochs if hasattr(history, "epochs") else history["epochs"]


def _save(fig, path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return path


def _figure(figsize=(6.4, 4.2)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def plot_history(histories, path, *, title: str | None = None) -> Path:
    """Loss per epoch: training loss dashed, validation loss solid, log scale.

    Parameters
    ----------
    histories : History, its dict, or {label: History} for several runs in one plot
    path : path-like
        Output PNG (written atomically).
    """
    if hasattr(histories, "epochs") or (isinstance(histories, dict) and "epochs" in histories):
        histories = {"": histories}
    fig, ax = _figure()
    for i, (label, history) in enumerate(histories.items()):
        records = _epochs(history)
        color = f"C{i % 10}"
        x = [r["epoch"] for r in records]
        name = f"{label} " if label else ""
        ax.plot(x, [r["train_loss"] for r in records], "--", color=color, alpha=0.7,
                label=f"{name}train")
        if any(r["val_loss"] is not None for r in records):
            ax.plot(x, [r["val_loss"] for r in records], "-", color=color, marker="o",
                    markersize=3, label=f"{name}validation")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (MSE per pixel, pixels in [0, 1])")
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    integer_axis(ax, "x")
    readable_log_axis(ax, "y")
    ax.legend(fontsize=7, ncol=2 if len(histories) > 3 else 1)
    ax.set_title(title or "training")
    return _save(fig, path)


def reconstruction_grid(originals, reconstructions, path, *, labels=None) -> Path:
    """Originals on the first row, each model's reconstructions on the rows below.

    Parameters
    ----------
    originals : ndarray of shape (k, H, W) or (k, H, W, C), dtype uint8
    reconstructions : ndarray of the same shape, or a list of them (one per model)
    labels : list of str, optional
        One name per reconstruction row, shown above its images.
    """
    rows = [reconstructions] if isinstance(reconstructions, np.ndarray) else list(reconstructions)
    k = len(originals)
    if labels is None:
        labels = ["reconstruction"] if len(rows) == 1 else [f"model {i + 1}" for i in range(len(rows))]
    if len(labels) != len(rows):
        raise ValueError(f"{len(labels)} labels for {len(rows)} rows of reconstructions")
    images, titles = list(originals), ["original"] * k
    for label, rec in zip(labels, rows):
        images += list(rec)
        titles += [str(label)] * k
    return image_grid(images, path, titles=titles, ncols=k)


def plot_sweep(result, out_dir) -> list[Path]:
    """The three plots of a sweep, written into ``out_dir``.

    Returns
    -------
    list of Path: ``loss_curves.png`` (every run), ``val_loss_vs_<param>.png`` and
    ``reconstructions.png`` (validation originals, then one row per value).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    param = result.param
    names = [f"{param}={_text(r['value'])}" for r in result.records]
    curves = plot_history({n: r["history"] for n, r in zip(names, result.records)},
                          out_dir / "loss_curves.png", title=f"loss curves, varying {param}")

    fig, ax = _figure()
    values = [r["value"] for r in result.records]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    x = values if numeric else list(range(len(values)))
    for key, style, label in (("best_val_loss", "o-", "best validation"),
                              ("final_train_loss", "s--", "final training")):
        ax.plot(x, [r[key] for r in result.records], style, label=label)
    if not numeric:
        ax.set_xticks(x, [_text(v) for v in values])
    ax.set_xlabel(param)
    ax.set_ylabel("MSE per pixel")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    readable_log_axis(ax, "y")
    ax.legend(fontsize=8)
    ax.set_title(f"loss against {param}")
    vs = _save(fig, out_dir / f"val_loss_vs_{param}.png")

    paths = [curves, vs]
    if result.originals is not None and len(result.reconstructions):
        paths.append(reconstruction_grid(result.originals, result.reconstructions,
                                         out_dir / "reconstructions.png", labels=names))
    return paths


def _text(value) -> str:
    return "-".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
