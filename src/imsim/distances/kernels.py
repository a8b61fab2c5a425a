"""L1 (Manhattan), L2 (Euclidean) and cosine distances: pairwise, top-k, candidate lists.

uint8 L1 is the hot path of the project (search ground truth, k-medians,
silhouette). It runs in the C extension ``_l1kernel`` (SIMD sum of absolute
differences, AVX-512BW or AVX2 chosen at run time, portable C elsewhere), which
also serves float32 L1 (latent vectors). The extension releases the GIL and the
work is split over the available cores (``IMSIM_THREADS`` overrides the
count, see :mod:`imsim._threads`). Without the extension the same functions run in numpy and give
identical results: integer sums for uint8, and for float32 the same sequence of
float operations (``acc = acc + |x_j - q_j|`` for j = 0, 1, ...). Setting the
module attribute ``_C`` to None forces that fallback (the tests do).

L2 and cosine use float64 matrix products in numpy, blocked over data and
queries; for uint8 pixels the squared L2 distances are then exact integers.

Public functions validate their inputs; the ``_``-prefixed helpers trust theirs.
Memory stays bounded: results are built block by block, never an N x N float64
matrix. Top-k ties are broken by the smaller id, so results are deterministic.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._threads import kernel_threads
from .._validation import check_array, check_k, check_metric, check_positive_int, \
    check_same_dims

from ._blocks import _BLOCK, _finish, _gram_block, _gram_blocks, _l1_block, _merge, _select

try:
    from . import _l1kernel as _C
except ImportError:  # no compiler at install time: numpy fallback, same results
    _C = None

_PARALLEL_MIN = 1 << 23    # byte-operations below which one thread is faster
_MAX_U8_DIMS = (2**31 - 1) // 255  # int32 sums of 255 * d stay exact


def backend() -> str:
    """Which code computes L1 distances: ``"avx512"``, ``"avx2"``, ``"scalar"`` (the C
    extension with that instruction set) or ``"numpy"`` (extension missing)."""
    return "numpy" if _C is None else _C.isa()


# ------------------------------------------------------------------ threads

_pool: ThreadPoolExecutor | None = None
_pool_pid = -1
_pool_lock = threading.Lock()


def _run(tasks: list) -> None:
    """Run zero-argument callables at once (the C kernels release the GIL)."""
    global _pool, _pool_pid
    if len(tasks) == 1:
        tasks[0]()
        return
    with _pool_lock:
        # a pool inherited through fork has no threads behind it: make a new one
        if _pool is None or _pool_pid != os.getpid() or _pool._max_workers < len(tasks) - 1:
            _pool = ThreadPoolExecutor(max_workers=len(tasks) - 1,
                                       thread_name_prefix="imsim-distances")
            _pool_pid = os.getpid()
        pool = _pool
    futures = [pool.submit(t) for t in tasks[1:]]
    tasks[0]()
    for f in futures:
        f.result()


def _parts(n: int, work: int, align: int = 1) -> list[tuple[int, int]]:
    """Split range(n) into one contiguous part per thread (multiples of ``align``)."""
    if n == 0:
        return [(0, 0)]
    t = kernel_threads() if work >= _PARALLEL_MIN else 1
    t = max(1, min(t, n // align))
    step = -(-n // t)
    step = -(-step // align) * align
    return [(lo, min(n, lo + step)) for lo in range(0, n, step)] or [(0, n)]


# ---------------------------------------------------------- input handling

def _as_pair(Q: np.ndarray, X: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Both uint8 (the exact integer path) or both float32."""
    if Q.dtype == np.uint8 and X.dtype == np.uint8:
        if metric == "l1" and Q.shape[1] > _MAX_U8_DIMS:
            raise ValueError(f"uint8 L1 distances over {Q.shape[1]} dimensions overflow "
                             f"int32; at most {_MAX_U8_DIMS} are supported")
        return Q, X
    return (np.ascontiguousarray(Q, dtype=np.float32),
            np.ascontiguousarray(X, dtype=np.float32))


def _c_kind(Q: np.ndarray, metric: str) -> int | None:
    """The C kernel's data kind for this input, or None when numpy computes it."""
    if _C is None or metric != "l1":
        return None
    return _C.KIND_U8 if Q.dtype == np.uint8 else _C.KIND_F32


# ------------------------------------------------------------- computation

def _pairwise(Q: np.ndarray, X: np.ndarray, metric: str) -> np.ndarray:
    nq, n, d = len(Q), len(X), Q.shape[1]
    kind = _c_kind(Q, metric)
    if metric == "l1":
        out = np.empty((nq, n), dtype=np.int32 if Q.dtype == np.uint8 else np.float32)
        if nq == 0 or n == 0:
            return out
        if kind is not None:
            work = nq * n * d
            if nq >= 2 * kernel_threads():
                tasks = [(q0, q1, 0, n) for q0, q1 in _parts(nq, work, align=4)]
            else:
                tasks = [(0, nq, x0, x1) for x0, x1 in _parts(n, work)]
            _run([lambda t=t: _C.pairwise(kind, Q, X, d, out, n, *t) for t in tasks])
            return out
        rows = max(1, _BLOCK // max(1, n * d))
        tasks = _parts(nq, nq * n * d)
        _run([lambda lo=lo, hi=hi: _fill_l1(out, Q, X, lo, hi, rows) for lo, hi in tasks])
        return out
    out = np.empty((nq, n), dtype=np.float32)
    for q0, x0, block in _gram_blocks(Q, X, metric):
        out[q0:q0 + len(block), x0:x0 + block.shape[1]] = _finish(block, metric)
    return out


def _fill_l1(out, Q, X, lo, hi, rows) -> None:
    for i in range(lo, hi, rows):
        out[i:min(hi, i + rows)] = _l1_block(Q[i:min(hi, i + rows)], X)


def _topk(Q: np.ndarray, X: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """float64 distances (squared for L2) and int64 ids, (len(Q), k), k <= len(X)."""
    nq, n, d = len(Q), len(X), Q.shape[1]
    kind = _c_kind(Q, metric)
    if kind is not None:
        work = nq * n * d
        if nq >= 4 * kernel_threads():
            D = np.empty((nq, k))
            I = np.empty((nq, k), dtype=np.int64)
            parts = _parts(nq, work, align=4)
            _run([lambda a=a, b=b: _C.topk(kind, Q, X, d, k, D, I, a, b, 0, n) for a, b in parts])
            return D, I
        # few queries: split the data instead, then merge the per-part lists
        parts = _parts(n, work)
        res = [(np.empty((nq, k)), np.empty((nq, k), dtype=np.int64)) for _ in parts]
        _run([lambda r=r, a=a, b=b: _C.topk(kind, Q, X, d, k, r[0], r[1], 0, nq, a, b)
              for r, (a, b) in zip(res, parts)])
        D, I = res[0]
        for D2, I2 in res[1:]:
            D, I = _merge(D, I, D2, I2, k)
        return D, I
    D = np.empty((nq, k))
    I = np.empty((nq, k), dtype=np.int64)
    if metric == "l1":
        rows = max(1, _BLOCK // max(1, n))

        def work(lo, hi):
            for i in range(lo, hi, rows):
                e = min(hi, i + rows)
                D[i:e], I[i:e] = _select(_l1_block(Q[i:e], X), k)

        _run([lambda a=a, b=b: work(a, b) for a, b in _parts(nq, nq * n * d)])
        return D, I
    D[:] = np.inf
    I[:] = -1
    for q0, x0, block in _gram_blocks(Q, X, metric):
        Db, Ib = _select(block, min(k, block.shape[1]), offset=x0)
        rows = slice(q0, q0 + len(block))
        D[rows], I[rows] = _merge(D[rows], I[rows], Db, Ib, k)
    return D, I


def _topk_candidates(Q, X, indptr, ids, k: int, metric: str, cap: int):
    """float64 distances (squared for L2), int64 ids, int64 number checked."""
    nq, n, d = len(Q), len(X), Q.shape[1]
    D = np.empty((nq, k))
    I = np.empty((nq, k), dtype=np.int64)
    checked = np.zeros(nq, dtype=np.int64)
    kind = _c_kind(Q, metric)
    if kind is not None:
        parts = _parts(nq, int(indptr[-1]) * d)
        _run([lambda a=a, b=b: _C.candidates(kind, Q, X, d, k, indptr, ids, cap, D, I,
                                             checked, a, b) for a, b in parts])
        return D, I, checked
    if len(ids) and (ids.min() < 0 or ids.max() >= n):
        raise ValueError(f"candidate id out of range [0, {n})")
    D[:] = np.inf
    I[:] = -1
    for q in range(nq):
        cand = ids[indptr[q]:indptr[q + 1]]
        # distinct ids in order of first appearance, then the cap
        _, first = np.unique(cand, return_index=True)
        cand = cand[np.sort(first)]
        if cap >= 0:
            cand = cand[:cap]
        checked[q] = len(cand)
        if len(cand) == 0:
            continue
        if metric == "l1":
            dist = _l1_block(Q[q:q + 1], X[cand])[0].astype(np.float64)
        else:
            q64, x64 = Q[q:q + 1].astype(np.float64), X[cand].astype(np.float64)
            dist = _gram_block(q64, np.einsum("ij,ij->i", q64, q64), x64,
                               np.einsum("ij,ij->i", x64, x64), metric)[0]
        order = np.lexsort((cand, dist))[:k]
        D[q, :len(order)] = dist[order]
        I[q, :len(order)] = cand[order]
    return D, I, checked


# ------------------------------------------------------------------ public

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
        units), float32 otherwise. Cosine distance is ``1 - cos(x, y)``, with a
        zero vector taken as orthogonal to every vector (distance 1).

    Notes
    -----
    Uses every core. Callers that need a bounded memory footprint for large
    ``n * m`` call this on row blocks of ``X``.
    """
    metric = check_metric(metric)
    X = check_array(X, name="X")
    Y = X if Y is None else check_array(Y, name="Y")
    check_same_dims(X, Y, "X", "Y")
    X, Y = _as_pair(X, Y, metric)
    return _pairwise(X, Y, metric)


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
        uint8 L1 distances are integers, exact in float32 up to 2**24.
    ids : ndarray of shape (nq, k), int64, row positions in ``X``
    """
    metric = check_metric(metric)
    Q = check_array(Q, name="queries")
    X = check_array(X, name="data")
    check_same_dims(Q, X, "queries", "data")
    k = check_k(k, len(X), what="the data")
    Q, X = _as_pair(Q, X, metric)
    D, I = _topk(Q, X, k, metric)
    return _finish(D, metric), I


def topk_candidates(Q, X, indptr, ids, k: int, metric: str = "l1", *,
                    max_candidates: int | None = None):
    """The ``k`` nearest of each query's own candidate rows, by exact distance.

    This is the checking step of LSH and of a latent search with re-ranking: query
    ``i`` is compared only with ``X[ids[indptr[i]:indptr[i + 1]]]``.

    Parameters
    ----------
    Q : ndarray of shape (nq, d)
    X : ndarray of shape (n, d)
    indptr : ndarray of shape (nq + 1,), int64, non-decreasing offsets into ``ids``
    ids : ndarray of shape (indptr[-1],), int64, candidate rows of ``X``;
        duplicates are checked once
    k : int >= 1
    metric : {"l1", "l2", "cosine"}
    max_candidates : int, optional
        Check at most this many distinct candidates per query, in list order.

    Returns
    -------
    distances : ndarray of shape (nq, k), float32, ascending per row, +inf where
        a query had fewer than ``k`` candidates
    ids : ndarray of shape (nq, k), int64, -1 where missing; ties by smaller id
    n_checked : ndarray of shape (nq,), int64, distinct candidates checked
    """
    metric = check_metric(metric)
    Q = check_array(Q, name="queries", allow_empty=True)
    X = check_array(X, name="data")
    check_same_dims(Q, X, "queries", "data")
    k = check_positive_int(k, "k")
    cap = -1 if max_candidates is None else check_positive_int(max_candidates, "max_candidates")
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if indptr.shape != (len(Q) + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0) \
            or indptr[-1] != len(ids):
        raise ValueError(f"indptr must be {len(Q) + 1} non-decreasing offsets from 0 to "
                         f"len(ids)={len(ids)}")
    Q, X = _as_pair(Q, X, metric)
    D, I, checked = _topk_candidates(Q, X, indptr, ids, k, metric, cap)
    return _finish(D, metric), I, checked


def distances_at(Q, X, I, metric: str = "l1") -> np.ndarray:
    """Distance from each query to each of its listed rows: ``d(Q[i], X[I[i, j]])``.

    Used to measure any method's answers in the same space as the ground truth.

    Parameters
    ----------
    Q : ndarray of shape (nq, d)
    X : ndarray of shape (n, d)
    I : ndarray of shape (nq, k), int, row ids; -1 marks a missing answer

    Returns
    -------
    ndarray of shape (nq, k), float32; +inf where ``I`` is -1
    """
    metric = check_metric(metric)
    Q = check_array(Q, name="queries", allow_empty=True)
    X = check_array(X, name="data")
    check_same_dims(Q, X, "queries", "data")
    I = np.asarray(I, dtype=np.int64)
    if I.ndim != 2 or len(I) != len(Q):
        raise ValueError(f"I has shape {I.shape}, expected ({len(Q)}, k)")
    if I.size and (I.max() >= len(X) or I.min() < -1):
        raise ValueError(f"ids must be in [-1, {len(X)}), got {I.min()}..{I.max()}")
    Q, X = _as_pair(Q, X, metric)
    out = np.full(I.shape, np.inf, dtype=np.float32)
    for j in range(I.shape[1]):
        rows = np.flatnonzero(I[:, j] >= 0)
        if len(rows) == 0:
            continue
        q, x = Q[rows], X[I[rows, j]]
        if metric == "l1":
            if q.dtype == np.uint8:
                dist = (np.maximum(q, x) - np.minimum(q, x)).sum(axis=1, dtype=np.int64)
            else:
                dist = np.zeros(len(rows), dtype=np.float32)
                for c in range(q.shape[1]):  # in dimension order, as the kernels add
                    dist += np.abs(x[:, c] - q[:, c])
        else:
            q64, x64 = q.astype(np.float64), x.astype(np.float64)
            dot = np.einsum("ij,ij->i", q64, x64)
            q_sq, x_sq = np.einsum("ij,ij->i", q64, q64), np.einsum("ij,ij->i", x64, x64)
            if metric == "l2":
                dist = np.sqrt(np.maximum(q_sq + x_sq - 2.0 * dot, 0.0))
            else:
                norms = np.sqrt(q_sq * x_sq)
                with np.errstate(invalid="ignore", divide="ignore"):
                    dist = 1.0 - np.clip(np.where(norms > 0, dot / norms, 0.0), -1.0, 1.0)
        out[rows, j] = dist
    return out
