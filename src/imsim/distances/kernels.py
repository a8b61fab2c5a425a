"""L1 (Manhattan), L2 (Euclidean) and cosine distances, blocked so memory stays bounded.

Public functions validate their inputs; ``_pairwise_block`` computes. uint8 L1 is
exact integer arithmetic (returned as int32 by :func:`pairwise`; float32 by
:func:`topk`, which is exact below 2**24, far above 784 * 255).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from .._validation import check_array, check_k, check_same_dims

METRICS = ("l1", "l2", "cosine")
_CDIST = {"l1": "cityblock", "l2": "euclidean", "cosine": "cosine"}
_BLOCK_ELEMENTS = 1 << 24  # distances per block: bounds memory at ~128 MB of float64


def _check_metric(metric: str) -> str:
    m = str(metric).lower()
    m = {"manhattan": "l1", "euclidean": "l2"}.get(m, m)
    if m not in METRICS:
        raise ValueError(f"unknown metric {metric!r}, expected one of {', '.join(METRICS)}")
    return m


def _pairwise_block(Q: np.ndarray, X: np.ndarray, metric: str) -> np.ndarray:
    """Distances of shape (len(Q), len(X)), float64 (exact for uint8 L1)."""
    return cdist(Q.astype(np.float64), X.astype(np.float64), metric=_CDIST[metric])


def pairwise(X, Y=None, metric: str = "l1") -> np.ndarray:
    """All distances between the rows of ``X`` and the rows of ``Y``.

    Parameters
    ----------
    X : ndarray of shape (n, d), uint8 pixels or float latents
    Y : ndarray of shape (m, d), optional (default ``X``)
    metric : {"l1", "l2", "cosine"}

    Returns
    -------
    ndarray of shape (n, m)
        int32 for uint8 inputs with ``metric="l1"`` (exact, in pixel-intensity
        units), float32 otherwise. Cosine distance is ``1 - cos(x, y)``.
    """
    metric = _check_metric(metric)
    X = check_array(X, name="X")
    Y = X if Y is None else check_array(Y, name="Y")
    check_same_dims(X, Y, "X", "Y")
    exact_int = metric == "l1" and X.dtype == np.uint8 and Y.dtype == np.uint8
    out = np.empty((len(X), len(Y)), dtype=np.int32 if exact_int else np.float32)
    rows = max(1, _BLOCK_ELEMENTS // max(1, len(Y)))
    for start in range(0, len(X), rows):
        block = _pairwise_block(X[start:start + rows], Y, metric)
        out[start:start + rows] = block
    return out


def topk(Q, X, k: int, metric: str = "l1") -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``X`` for every row of ``Q``, exactly.

    Ties are broken by the smaller id, so results are deterministic.

    Parameters
    ----------
    Q : ndarray of shape (nq, d)
    X : ndarray of shape (n, d)
    k : int, 1 <= k <= n
    metric : {"l1", "l2", "cosine"}

    Returns
    -------
    distances : ndarray of shape (nq, k), float32, ascending per row
    ids : ndarray of shape (nq, k), int64, row positions in ``X``
    """
    metric = _check_metric(metric)
    Q = check_array(Q, name="queries")
    X = check_array(X, name="data")
    check_same_dims(Q, X, "queries", "data")
    k = check_k(k, len(X), what="the data")
    D = np.empty((len(Q), k), dtype=np.float32)
    I = np.empty((len(Q), k), dtype=np.int64)
    rows = max(1, _BLOCK_ELEMENTS // len(X))
    for start in range(0, len(Q), rows):
        block = _pairwise_block(Q[start:start + rows], X, metric)
        d, i = _select_topk(block, k)
        D[start:start + rows] = d
        I[start:start + rows] = i
    return D, I


def _select_topk(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Smallest ``k`` per row, ascending, ties by smaller column index."""
    n = block.shape[1]
    if k < n:
        # include every column tied with the k-th value so the id tie-break is exact
        kth = np.partition(block, k - 1, axis=1)[:, k - 1:k]
        cand_mask = block <= kth
        out_d = np.empty((len(block), k))
        out_i = np.empty((len(block), k), dtype=np.int64)
        for r in range(len(block)):
            cols = np.flatnonzero(cand_mask[r])
            order = np.lexsort((cols, block[r, cols]))[:k]
            out_i[r] = cols[order]
            out_d[r] = block[r, cols[order]]
        return out_d, out_i
    order = np.lexsort((np.broadcast_to(np.arange(n), block.shape), block), axis=1)
    return np.take_along_axis(block, order, axis=1), order.astype(np.int64)
