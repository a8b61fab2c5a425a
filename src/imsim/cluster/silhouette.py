"""Exact silhouette coefficients (Rousseeuw 1987), blocked so memory stays bounded.

For sample ``i`` in cluster ``A``, ``a(i)`` is its mean distance to the other members
of ``A`` and ``b(i)`` the smallest mean distance to the members of another cluster;
``s(i) = (b(i) - a(i)) / max(a(i), b(i))``, and 0 for a sample alone in its cluster
(the scikit-learn convention).

Everything comes from one quantity, the per-cluster distance sums
``S[i, c] = sum_{j in c} d(i, j)``. The points are sorted by cluster, so each
cluster is a contiguous range of columns, and the sums are accumulated block by
block over the upper triangle of the distance matrix: row block ``[s, e)`` is
compared with the rows ``[s, N)`` only (one call to
:func:`imsim.distances.pairwise`), and each block serves twice: its column ranges
summed per row (``np.add.reduceat``) give the block's own rows, and its rows
summed per column give the rows after it. That halves the distance work and
never holds more than one block of ``rows x N`` distances. uint8 L1 distances are
int32 and the sums int64, so they are exact.

Several labellings of the same data (:func:`silhouettes`) share one pass: the
points are sorted by the *joint* cluster (the tuple of their clusters in every
labelling), the sums are taken per joint cluster, and each labelling's sums are
sums of those columns.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._progress import progress
from .._validation import check_array, check_labels, check_metric
from ..distances import pairwise
from ..engine import n_tasks, using

__all__ = ["SilhouetteResult", "silhouette", "silhouettes"]

_BLOCK_ELEMENTS = 1 << 23  # distances per block (32 MB of int32)
_MAX_JOINT = 1 << 26       # N x (joint clusters) sums kept at most (512 MB of int64)


@dataclass(frozen=True)
class SilhouetteResult:
    """Silhouette of one labelling.

    Attributes
    ----------
    samples : ndarray of shape (N,), float64
        ``s(i)`` per sample, in [-1, 1].
    per_cluster : ndarray of shape (K,), float64
        Mean ``s(i)`` over the members of each cluster; NaN for an empty cluster.
    total : float
        Mean ``s(i)`` over all samples (scikit-learn's ``silhouette_score``).
    """

    samples: np.ndarray
    per_cluster: np.ndarray
    total: float


def silhouettes(X, labelings, metric: str = "l1", n_clusters=None, *,
                engine=None) -> list[SilhouetteResult]:
    """Exact silhouettes of several labellings of the same data, sharing the distances.

    Parameters
    ----------
    X : ndarray of shape (N, d), uint8 pixels or float latents
    labelings : sequence of ndarray of shape (N,), int
        Cluster of every sample, numbered 0..K-1 (K may differ per labelling).
    metric : {"l1", "l2", "cosine"}
        Distance; "l1" (Manhattan) is the project's.
    n_clusters : int or sequence of int, optional
        K per labelling, so empty clusters keep their place in ``per_cluster``
        (default: largest label + 1).
    engine : None, "local", "dask" or :class:`imsim.engine.Engine`
        Where the row blocks run (:mod:`imsim.engine`); the result is the same.

    Returns
    -------
    list of SilhouetteResult, one per labelling

    Notes
    -----
    Cost: ``N * (N + 1) / 2`` distances, computed once for all labellings, in blocks
    of about 8 million, plus (N, J) sums for the J joint clusters (when those would
    pass 512 MB, the labellings take one pass each). For uint8 L1 the result equals
    ``sklearn.metrics.silhouette_samples(X, labels, metric="manhattan")`` up to the
    last bit of the final division.
    """
    metric = check_metric(metric)
    X = check_array(X, name="X")
    n = len(X)
    labelings = list(labelings)
    if not labelings:
        raise ValueError("no labellings given")
    if n_clusters is None or np.isscalar(n_clusters):
        n_clusters = [n_clusters] * len(labelings)
    if len(n_clusters) != len(labelings):
        raise ValueError(f"{len(n_clusters)} values of n_clusters for {len(labelings)} labellings")
    checked = []
    for i, (lab, k) in enumerate(zip(labelings, n_clusters)):
        name = f"labels[{i}]" if len(labelings) > 1 else "labels"
        lab, k = check_labels(lab, n, k, name)
        used = np.count_nonzero(np.bincount(lab, minlength=k))
        if not 2 <= used <= n - 1:
            raise ValueError(f"the silhouette needs 2 to N-1 = {n - 1} non-empty clusters, "
                             f"{name} has {used}")
        checked.append((lab, k))
    stacked = np.stack([lab for lab, _ in checked])
    joint, joint_id = np.unique(stacked, axis=1, return_inverse=True)
    if len(checked) > 1 and joint.shape[1] * n > _MAX_JOINT:  # sums too large: pass by pass
        return [silhouettes(X, [lab], metric, k, engine=engine)[0] for lab, k in checked]
    joint_id = joint_id.ravel()
    order = np.argsort(joint_id, kind="stable")
    sums = np.empty((n, joint.shape[1]), dtype=np.float64)
    with using(engine) as eng:
        sums[order] = _cluster_sums(X[order], joint_id[order], joint.shape[1], metric, eng)
    results = []
    for row, (lab, k) in zip(joint, checked):
        merge = np.zeros((joint.shape[1], k))  # joint cluster -> its cluster here
        merge[np.arange(joint.shape[1]), row] = 1.0
        results.append(_finish(sums @ merge, lab, k))
    return results


def silhouette(X, labels, metric: str = "l1", n_clusters=None, *, engine=None) -> SilhouetteResult:
    """Exact silhouette of one labelling: per sample, per cluster and in total.

    Parameters
    ----------
    X : ndarray of shape (N, d), uint8 pixels or float latents
    labels : ndarray of shape (N,), int, clusters numbered 0..K-1
    metric : {"l1", "l2", "cosine"}
    n_clusters : int, optional
        K, so empty clusters keep their place in ``per_cluster`` (NaN there).
    engine : None, "local", "dask" or :class:`imsim.engine.Engine`

    Returns
    -------
    SilhouetteResult

    Raises
    ------
    ValueError
        Unless 2 <= (number of non-empty clusters) <= N - 1, as scikit-learn.

    See Also
    --------
    silhouettes : several labellings for the price of one.
    """
    return silhouettes(X, [labels], metric=metric, n_clusters=n_clusters, engine=engine)[0]


def _cluster_sums(X: np.ndarray, labels: np.ndarray, k: int, metric: str, engine=None) -> np.ndarray:
    """Sums ``S[i, c]`` of shape (N, k) for ``X`` sorted so that ``labels`` is
    non-decreasing (every cluster non-empty); int64 for integer distances."""
    n = len(X)
    rows = max(1, _BLOCK_ELEMENTS // n)
    if engine is not None and engine.distributed:
        return _cluster_sums_on(engine, X, labels, k, metric, rows)
    sums = None
    with progress(total=n * (n + 1) // 2, desc="silhouette", unit="pair") as bar:
        for s in range(0, n, rows):
            e = min(n, s + rows)
            sums = _add_block(sums, X, labels, k, s, e, metric)
            bar.update((e - s) * (n - s) - (e - s) * (e - s - 1) // 2)
    return sums


def _add_block(sums, X: np.ndarray, labels: np.ndarray, k: int, s: int, e: int, metric: str):
    """Add row block ``[s, e)`` against rows ``[s, N)`` to ``sums`` (None: a new array)."""
    n = len(X)
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])  # cluster ranges
    ends = np.r_[starts[1:], n]
    D = pairwise(X[s:e], X[s:], metric=metric)
    acc = np.int64 if D.dtype.kind == "i" else np.float64
    if sums is None:
        sums = np.zeros((n, k), dtype=acc)
    if metric != "l1":  # rounding leaves tiny self-distances; they are 0
        np.fill_diagonal(D[:, :e - s], 0)
    # rows [s, e) against the clusters whose ranges reach into columns [s, N)
    seg = np.searchsorted(ends, s, side="right")
    local = np.maximum(starts[seg:] - s, 0)
    sums[s:e, labels[starts[seg:]]] += np.add.reduceat(D, local, axis=1, dtype=acc)
    # the same block by column: rows [s, e), a few clusters, seen from rows [e, N)
    if e < n:
        for r0, r1 in _runs(labels[s:e]):
            sums[e:, labels[s + r0]] += D[r0:r1, e - s:].sum(axis=0, dtype=acc)
    return sums


def _runs(labels: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of equal values in a sorted array."""
    cut = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    bounds = np.r_[0, cut, len(labels)]
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def _finish(sums: np.ndarray, labels: np.ndarray, k: int) -> SilhouetteResult:
    n = len(labels)
    sizes = np.bincount(labels, minlength=k)
    own = sums[np.arange(n), labels]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = own / (sizes[labels] - 1)
        means = sums / sizes  # mean distance to each cluster; inf/nan for empty ones
    means[:, sizes == 0] = np.inf
    means[np.arange(n), labels] = np.inf
    b = means.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (b - a) / np.maximum(a, b)
    s = np.nan_to_num(s)  # singletons (0/0) and duplicates of a whole cluster: 0
    s[sizes[labels] == 1] = 0.0
    with np.errstate(invalid="ignore"):
        per_cluster = np.bincount(labels, weights=s, minlength=k) / sizes
    per_cluster[sizes == 0] = np.nan
    return SilhouetteResult(samples=s, per_cluster=per_cluster, total=float(s.mean()))


def _sums_task(ranges, X, labels, k: int, metric: str):
    sums = None
    for s, e in ranges:
        sums = _add_block(sums, X, labels, k, s, e, metric)
    return sums


def _cluster_sums_on(engine, X: np.ndarray, labels: np.ndarray, k: int, metric: str,
                 rows: int) -> np.ndarray:
    """The silhouette's sums ``S[i, c]`` (N, k) on ``engine``: the row blocks of ``rows``
    rows are dealt to tasks of about equal work (the upper triangle makes early blocks
    dearer); each task returns its (N, k) partial sums, added in task order."""
    n = len(X)
    starts = list(range(0, n, rows))
    work = np.array([(min(n, s + rows) - s) * (n - s) for s in starts], dtype=np.float64)
    cut = np.searchsorted(np.cumsum(work), np.linspace(0, work.sum(), n_tasks(engine) + 1)[1:-1])
    groups = [g for g in np.split(np.arange(len(starts)), cut) if len(g)]
    tasks = [[(starts[i], min(n, starts[i] + rows)) for i in g] for g in groups]
    parts = engine.map(_sums_task, tasks, engine.put(X), engine.put(labels), k, metric)
    total = parts[0]
    for p in parts[1:]:
        total += p
    return total
