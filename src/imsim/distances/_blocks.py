"""The numpy building blocks of :mod:`imsim.distances.kernels`: distance blocks, top-k merges.

Distances are computed block by block so temporaries stay bounded (``_BLOCK``
elements); uint8 L1 sums are exact int32, float32 L1 adds the dimensions in the
order the C kernel does (same bits), L2 and cosine go through float64 Gram blocks
(squared L2 until :func:`_finish`). Selection keeps ties by the smaller id.
"""
from __future__ import annotations

import numpy as np

_BLOCK = 1 << 22           # elements per temporary block in the numpy paths
_DATA_BLOCK = 8192         # data rows per float64 block for L2 / cosine


def _l1_block(Q: np.ndarray, X: np.ndarray) -> np.ndarray:
    """L1 distances (len(Q), len(X)): int32 for uint8, float32 for float32.

    Float sums run over the dimensions in order, as the C kernel adds them, so the
    two give the same bits.
    """
    d = Q.shape[1]
    if Q.dtype == np.uint8:
        out = np.empty((len(Q), len(X)), dtype=np.int32)
        rows = max(1, _BLOCK // max(1, d * len(X)))
        cols = max(1, _BLOCK // (d * rows))
        for i in range(0, len(Q), rows):
            q = Q[i:i + rows, None, :]
            for j in range(0, len(X), cols):
                x = X[None, j:j + cols, :]
                # |a - b| = max - min, exact in uint8
                out[i:i + rows, j:j + cols] = (np.maximum(q, x) - np.minimum(q, x)).sum(
                    axis=2, dtype=np.int32)
        return out
    XT = np.ascontiguousarray(X.T)
    acc = np.zeros((len(Q), len(X)), dtype=np.float32)
    tmp = np.empty_like(acc)
    for j in range(d):
        np.subtract(XT[j][None, :], Q[:, j:j + 1], out=tmp)
        np.abs(tmp, out=tmp)
        acc += tmp
    return acc


def _gram_block(Q64, q_sq, X64, x_sq, metric: str) -> np.ndarray:
    """float64 squared-L2 distances or cosine distances between two float64 blocks
    (``q_sq``, ``x_sq``: squared row norms)."""
    dot = Q64 @ X64.T
    if metric == "l2":
        return np.maximum(q_sq[:, None] + x_sq[None, :] - 2.0 * dot, 0.0)
    norms = np.sqrt(q_sq)[:, None] * np.sqrt(x_sq)[None, :]
    # a zero vector has no direction: call it orthogonal to everything
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(norms > 0, dot / norms, 0.0)
    return 1.0 - np.clip(cos, -1.0, 1.0)


def _gram_blocks(Q: np.ndarray, X: np.ndarray, metric: str):
    """Yield (first query, first data row, float64 block) covering len(Q) x len(X),
    data blocks outermost so each is converted to float64 once."""
    Q64 = Q.astype(np.float64)
    q_sq = np.einsum("ij,ij->i", Q64, Q64)
    rows = max(1, _BLOCK // _DATA_BLOCK)
    for x0 in range(0, len(X), _DATA_BLOCK):
        X64 = X[x0:x0 + _DATA_BLOCK].astype(np.float64)
        x_sq = np.einsum("ij,ij->i", X64, X64)
        for q0 in range(0, len(Q), rows):
            yield q0, x0, _gram_block(Q64[q0:q0 + rows], q_sq[q0:q0 + rows], X64, x_sq, metric)


def _finish(D64: np.ndarray, metric: str) -> np.ndarray:
    """float64 working distances -> float32 user distances (sqrt for L2)."""
    return (np.sqrt(D64) if metric == "l2" else D64).astype(np.float32)


def _select(block: np.ndarray, k: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Smallest ``k`` per row of ``block``, ascending, ties by smaller column.

    Returns float64 distances and int64 ids (column + ``offset``), both (rows, k).
    """
    b, m = block.shape
    if k < m:
        kth = np.partition(block, k - 1, axis=1)[:, k - 1:k]
        less = block < kth
        eq = block == kth
        # all values below the k-th, then the leftmost of those equal to it
        room = k - less.sum(axis=1, keepdims=True)
        take = less | (eq & (np.cumsum(eq, axis=1) <= room))
        cols = np.nonzero(take)[1].reshape(b, k)
    else:
        cols = np.broadcast_to(np.arange(m), (b, m))
    vals = np.take_along_axis(block, cols, axis=1).astype(np.float64)
    order = np.argsort(vals, axis=1, kind="stable")
    return (np.take_along_axis(vals, order, axis=1),
            np.take_along_axis(cols, order, axis=1).astype(np.int64) + offset)


def _merge(D1, I1, D2, I2, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` of two (distance, id) lists per row, ties by smaller id."""
    D = np.concatenate([D1, D2], axis=1)
    I = np.concatenate([I1, I2], axis=1)
    order = np.lexsort((I, D), axis=1)[:, :k]
    return np.take_along_axis(D, order, axis=1), np.take_along_axis(I, order, axis=1)
