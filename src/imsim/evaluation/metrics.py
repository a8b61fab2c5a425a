"""Quality measures for nearest-neighbour results: pure functions of (D, I).

As FAISS contrib's evaluation helpers: they return numbers and never print.
Missing results are id -1 with distance +inf, as :class:`imsim.search.Index` returns.
"""
from __future__ import annotations

import numpy as np


def approximation_factor(d_method, d_true) -> tuple[float, int]:
    """Mean over queries of ``d_method / d_true`` for the nearest neighbour.

    Parameters
    ----------
    d_method : ndarray of shape (nq,)
        Distance of each query's answer, measured in the ground-truth space
        (+inf or NaN where the method found nothing).
    d_true : ndarray of shape (nq,)
        Exact nearest-neighbour distance of each query.

    Returns
    -------
    factor : float
        Mean ratio over the queries with an answer (NaN when none has). A query whose
        true distance is 0 counts as 1 when the method's is also 0; when the method's
        is larger it is left out of the mean (the ratio is unbounded) and counted.
    n_excluded : int
        Queries left out: no answer, or a true distance of 0 with a non-zero answer.
    """
    d = np.asarray(d_method, dtype=np.float64).ravel()
    t = np.asarray(d_true, dtype=np.float64).ravel()
    if d.shape != t.shape:
        raise ValueError(f"d_method has {d.size} queries, d_true has {t.size}")
    found = np.isfinite(d)
    zero = t == 0
    ratio = np.ones_like(d)
    ok = found & ~zero
    ratio[ok] = d[ok] / t[ok]
    valid = found & (~zero | (d == 0))
    if not valid.any():
        return float("nan"), int(d.size)
    return float(ratio[valid].mean()), int(d.size - valid.sum())


def recall_at_k(D, D_true, k: int, *, rtol: float = 1e-6) -> float:
    """Tie-aware recall@k: the share of the first ``k`` answers that are true k-NN.

    An answer counts as a true neighbour when its distance (measured in the
    ground-truth space) is at most the true k-th distance, so that any of several
    equally near images is right (pixel L1 has many ties).

    Parameters
    ----------
    D : ndarray of shape (nq, >=k)
        Distances of each method's answers in the ground-truth space, ascending;
        +inf where the method returned nothing.
    D_true : ndarray of shape (nq, >=k)
        Exact k-NN distances, ascending.

    Returns
    -------
    float in [0, 1]
    """
    D = np.asarray(D, dtype=np.float64)
    D_true = np.asarray(D_true, dtype=np.float64)
    if D.ndim != 2 or D_true.ndim != 2 or len(D) != len(D_true):
        raise ValueError(f"D {D.shape} and D_true {D_true.shape} must be (nq, k) for the same nq")
    if D.shape[1] < k or D_true.shape[1] < k:
        raise ValueError(f"recall@{k} needs {k} columns, got {D.shape[1]} and {D_true.shape[1]}")
    kth = D_true[:, k - 1:k]
    hits = D[:, :k] <= kth * (1 + rtol) + 1e-9
    return float(hits.mean())


def label_accuracy(I, data_labels, query_labels, k: int | None = None) -> float:
    """Mean over queries of the share of the ``k`` neighbours that carry the query's label.

    This is the assignment's "Average Correct Search Results": with 10 neighbours
    a query with 7 same-label neighbours scores 0.7 (a fraction, not an integer
    division). Missing answers (id -1) count as wrong.

    Parameters
    ----------
    I : ndarray of shape (nq, >=k), int64 neighbour ids (row positions in the data)
    data_labels : ndarray of shape (n,)
    query_labels : ndarray of shape (nq,)
    k : int, optional (default: all columns of ``I``)
    """
    I = np.asarray(I)
    data_labels = np.asarray(data_labels)
    query_labels = np.asarray(query_labels)
    if I.ndim != 2 or len(I) != len(query_labels):
        raise ValueError(f"I has shape {I.shape}, expected ({len(query_labels)}, k)")
    k = I.shape[1] if k is None else k
    I = I[:, :k]
    valid = I >= 0
    neighbour_labels = np.where(valid, data_labels[np.where(valid, I, 0)], -1)
    return float((neighbour_labels == query_labels[:, None]).mean())
