"""The elbow method: the objective for a range of k, and the k where it bends.

The knee finder is Kneedle (Satopaa et al. 2011) for a falling, convex curve:
both axes are scaled to [0, 1], and the knee is the point farthest below the
straight line from the first point to the last. A curve that stays within
``min_bend`` of that line (0.1 of the scaled axes by default) has no knee: it
falls evenly, typically because the range of k ends before the data's number of
groups. On 15 families of 20 photos, k = 2..15 bends by 0.04 (no knee) and
k = 2..30 by 0.48, at k = 15.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_positive_int
from .kmedians import KMedians
from .kmedoids import KMedoids

__all__ = ["ElbowResult", "elbow", "find_knee"]


@dataclass(frozen=True)
class ElbowResult:
    """Objective per k.

    Attributes
    ----------
    ks : ndarray of shape (m,), int64, ascending
    inertias : ndarray of shape (m,), float64
        The clustering objective (sum of distances to the centres) for each k.
    times : ndarray of shape (m,), float64, seconds per fit
    knee : int or None
        The k at the bend (None when the curve does not bend).
    method : str
    """

    ks: np.ndarray
    inertias: np.ndarray
    times: np.ndarray
    knee: int | None
    method: str


def find_knee(x, y, *, min_bend: float = 0.1) -> float | None:
    """The x at the knee of a falling, convex curve (Kneedle), or None if it has none.

    Parameters
    ----------
    x : array of shape (m,), strictly increasing
    y : array of shape (m,)
    min_bend : float, default 0.1
        How far below the chord (in the [0, 1]-scaled units) the knee must lie;
        0 accepts any bend.

    Returns
    -------
    The element of ``x`` farthest below the chord from ``(x[0], y[0])`` to
    ``(x[-1], y[-1])`` after scaling both axes to [0, 1]; None with fewer than 3
    points, a flat curve, or no point more than ``min_bend`` below the chord.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length, got {x.shape} and {y.shape}")
    if len(x) < 3:
        return None
    if np.any(np.diff(x) <= 0):
        raise ValueError("x must be strictly increasing")
    span = y.max() - y.min()
    if span == 0:
        return None
    xn = (x - x[0]) / (x[-1] - x[0])
    yn = (y - y.min()) / span
    chord = yn[0] + (yn[-1] - yn[0]) * xn
    below = chord - yn
    i = int(below.argmax())
    return x[i].item() if below[i] > max(min_bend, 1e-12) else None


def elbow(X, k_range, *, method: str = "kmedians", n_init: int = 3, seed=0,
          random_state=None, progress: bool = True, **params) -> ElbowResult:
    """Fit one clustering per k and find the knee of the objective.

    Parameters
    ----------
    X : ndarray of shape (N, d), uint8 pixels or float latents
    k_range : iterable of int
        The k values to try (e.g. ``range(2, 16)``); sorted, duplicates dropped.
    method : {"kmedians", "kmedoids"}
    n_init : int, default 3
        k-medians runs per k (the best is kept); k-medoids takes one run.
    seed : int, numpy Generator or None, default 0
        Seeds every fit, so the curve is reproducible.
    random_state : alias of ``seed`` (scikit-learn's name); wins when given
    progress : bool, default True
        Report the fits on stderr (:func:`imsim._progress.progress`: a bar on a
        terminal, a line every 10 s elsewhere, nothing with ``IMSIM_PROGRESS=0``).
    **params
        More parameters for :class:`KMedians` or :class:`KMedoids` (e.g. ``max_iter``).

    Returns
    -------
    ElbowResult
        Plot it with :func:`imsim.report.cluster_plots.plot_elbow`.
    """
    X = check_array(X, name="X")
    ks = np.unique(np.asarray(list(k_range), dtype=np.int64))
    if len(ks) == 0:
        raise ValueError("k_range is empty")
    if ks[0] < 1 or ks[-1] > len(X):
        raise ValueError(f"k values must be in 1..{len(X)} (the number of points), got "
                         f"{ks[0]}..{ks[-1]}")
    n_init = check_positive_int(n_init, "n_init")
    if method not in ("kmedians", "kmedoids"):
        raise ValueError(f"method must be 'kmedians' or 'kmedoids', got {method!r}")
    from .._progress import progress as progress_of

    inertias, times = [], []
    for k in progress_of(ks, desc=f"elbow ({method}, k={ks[0]}..{ks[-1]})", unit="k value",
                         show=None if progress else False):
        seeds = {"seed": seed, "random_state": random_state}
        if method == "kmedians":
            est = KMedians(int(k), n_init=n_init, **seeds, **params)
        else:
            est = KMedoids(int(k), **seeds, **params)
        t0 = time.perf_counter()
        est.fit(X)
        times.append(time.perf_counter() - t0)
        inertias.append(est.inertia_)
    inertias = np.asarray(inertias, dtype=np.float64)
    knee = find_knee(ks, inertias)
    return ElbowResult(ks=ks, inertias=inertias, times=np.asarray(times),
                       knee=None if knee is None else int(knee), method=method)
