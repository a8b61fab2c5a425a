"""Brute-force references for the tests: one place for exact k-NN and its tie-aware check.

``brute_knn`` computes every distance with SciPy (float64) and orders each row by
(distance, id). ``check_knn_with_ties`` compares a method's answers with it the way
FAISS contrib's ``check_ref_knn_with_draws`` does: the distances must agree, and
for every distance value in a row, except the last one (where the k-th neighbour
may be any of several tied ones), the *set* of ids at that distance must agree.
Pixel L1 has many ties, so an id-by-id comparison would test the tie-break rule,
not the search.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

SCIPY_METRIC = {"l1": "cityblock", "l2": "euclidean", "cosine": "cosine"}


def brute_distances(Q, X, metric: str = "l1") -> np.ndarray:
    """All distances (len(Q), len(X)) in float64 by SciPy; exact integers for uint8 L1.

    A zero vector is at cosine distance 1 from everything (imsim's convention;
    SciPy would give NaN).
    """
    Q64, X64 = np.asarray(Q, dtype=np.float64), np.asarray(X, dtype=np.float64)
    if metric == "l1" and Q64.size and X64.size:
        # integer sums: exact whatever the order
        return np.abs(Q64[:, None, :] - X64[None, :, :]).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        full = cdist(Q64, X64, SCIPY_METRIC[metric])
    return np.where(np.isnan(full), 1.0, full)


def brute_knn(Q, X, k: int, metric: str = "l1") -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``X`` per query: float64 distances and int64 ids,
    ascending by (distance, id)."""
    return topk_of(brute_distances(Q, X, metric), k)


def topk_of(full: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` smallest of each row of a distance matrix, ascending by (distance, id)."""
    ids = np.arange(full.shape[1])
    I = np.array([np.lexsort((ids, row))[:k] for row in full], dtype=np.int64).reshape(-1, k)
    return np.take_along_axis(full, I, 1), I


def check_knn_with_ties(D_ref, I_ref, D, I, *, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Raise AssertionError unless (D, I) is a correct k-NN answer given the reference.

    Distances must match to ``rtol``/``atol``; ids must be unique per row and, at every
    distance value of a row but the last, be the same set as the reference's.
    """
    D_ref, D = np.asarray(D_ref, dtype=np.float64), np.asarray(D, dtype=np.float64)
    I_ref, I = np.asarray(I_ref), np.asarray(I)
    assert D.shape == D_ref.shape and I.shape == I_ref.shape, \
        f"shapes {D.shape}, {I.shape}; expected {D_ref.shape}"
    np.testing.assert_allclose(D, D_ref, rtol=rtol, atol=atol)
    for row, (dr, ir, i) in enumerate(zip(D_ref, I_ref, I)):
        assert len(np.unique(i)) == len(i), f"row {row}: ids repeat: {i}"
        if np.array_equal(ir, i):
            continue
        tol = atol + rtol * np.abs(dr).max()
        for value in np.unique(dr):
            if abs(value - dr[-1]) <= tol:  # the k-th distance: its ties are cut anywhere
                continue
            at = np.abs(dr - value) <= tol
            assert set(ir[at]) == set(i[at]), \
                f"row {row}: ids at distance {value:g} are {sorted(i[at])}, " \
                f"expected {sorted(ir[at])}"
