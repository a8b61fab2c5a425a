"""Exact EMD k-nearest neighbours: lower bounds prune, the network simplex decides.

For each query, every data image gets the cheap lower bounds of
:func:`imsim.distances.emd.lower_bounds` (why they hold is written there); images
are then visited in the order of their bounds and solved exactly only while a bound
can still beat the k-th distance found. The result is the exact k-NN under EMD.
Queries are spread over worker processes (``n_jobs``).
"""
from __future__ import annotations

import heapq
import math
import multiprocessing
import time
from dataclasses import dataclass

import numpy as np

from .._progress import progress
from .._threads import kernel_threads
from .._validation import check_array, check_ground, check_k, check_positive_int
from ..engine import n_tasks, using
from ..engine.blocks import row_ranges
from .emd import _Bounds, _emd_network, _load_emd_c, ground_distance, signatures

# Bounds may exceed a computed EMD by rounding; prune only beyond this relative slack.
_BOUND_RTOL = 1e-9

__all__ = ["EMDKnnStats", "emd_knn"]


@dataclass(frozen=True)
class EMDKnnStats:
    """What an :func:`emd_knn` run cost.

    Attributes
    ----------
    n_exact : ndarray of shape (nq,), int64
        Exact EMDs solved per query (the rest were pruned by bounds, or not in
        the L1 shortlist).
    n_data : int
        Images searched.
    seconds : float
        Wall time of the search (signatures, bounds and solves), seconds.
    pruned : float
        Share of (query, image) pairs not solved exactly, in [0, 1].
    """

    n_exact: np.ndarray
    n_data: int
    seconds: float

    @property
    def pruned(self) -> float:
        return 1.0 - float(self.n_exact.mean()) / self.n_data


class _Searcher:
    """Data signatures and everything a query needs, built once per search.

    Worker processes receive it at start-up (inherited when the platform forks); a
    Dask worker receives it pickled, in the compact form of :meth:`__reduce__`.
    ``totals`` (float64 (n,), optional) are the images' total intensities when
    they are integers: the weights times them are the integer window sums.
    """

    def __init__(self, weights: np.ndarray, positions: np.ndarray, ground: str,
                 totals: np.ndarray | None = None) -> None:
        self.weights = weights
        self.positions, self.ground, self.totals = positions, ground, totals
        self.M = ground_distance(positions, ground=ground)
        self.bounds = _Bounds(positions, ground)
        self.axes_cdf = self.bounds.axes.cdf(weights)

    def __reduce__(self):
        """Pickle only what the other fields are computed from, and integer images'
        weights as their window sums (uint16 for 8-bit images: a quarter of the float64
        bytes a Dask job sends to each worker); unpickling divides them by the totals
        again, the very division :func:`signatures` made, so the weights are equal bit
        for bit (checked here before packing)."""
        sums = None
        if self.totals is not None:
            sums = np.rint(self.weights * self.totals[:, None])
            top = float(sums.max(initial=0.0))
            if top < 2**32 and np.array_equal(_divided(sums, self.totals), self.weights):
                sums = sums.astype(np.min_scalar_type(int(top)))
            else:
                sums = None
        if sums is None:
            return _Searcher, (self.weights, self.positions, self.ground)
        return _unpacked, (sums, self.totals, self.positions, self.ground)

    def exact(self, q: np.ndarray, j: int) -> float:
        """EMD between signature ``q`` and data image ``j``.

        Mass that both hold in the same bin stays there: with a metric ground
        distance some optimal flow keeps ``min(a_i, b_i)`` in place (sending it
        elsewhere and bringing other mass in never costs less, by the triangle
        inequality), so only the positive and negative parts of ``a - b`` are
        transported, a problem with fewer and disjoint bins.
        """
        d = q - self.weights[j]
        src, dst = np.flatnonzero(d > 0), np.flatnonzero(d < 0)
        if src.size == 0 or dst.size == 0:
            return 0.0
        return _emd_network(d[src], -d[dst], self.M[src[:, None], dst])

    def pruned(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Exact k-NN of one signature: solve in bound order, stop past the k-th distance."""
        first = self.bounds.first(self.bounds.axes.emds(self.axes_cdf - self.bounds.axes.cdf(q)))
        n = first.size
        # The first block (the smallest marginal bounds) sets a k-th distance; after
        # it only the few images whose bound is below that distance are sorted.
        size = min(max(64, k), n)
        head = np.argpartition(first, size - 1)[:size] if size < n else np.arange(n)
        heap: list[tuple[float, int]] = []  # the k best so far as (-d, -id): worst on top
        n_exact = self._visit(q, head, first, heap, k)
        if size < n:
            rest = first <= self._limit(heap, k)
            rest[head] = False
            todo = np.flatnonzero(rest)
            todo = todo[np.argsort(first[todo], kind="stable")]
            for start in range(0, todo.size, 512):
                block = todo[start:start + 512]
                if first[block[0]] > self._limit(heap, k):
                    break
                n_exact += self._visit(q, block, first, heap, k)
        return (*_sorted_heap(heap), n_exact)

    @staticmethod
    def _limit(heap, k: int) -> float:
        """Largest bound that can still beat the k-th best (inf until there are k)."""
        return -heap[0][0] * (1 + _BOUND_RTOL) + _BOUND_RTOL if len(heap) == k else math.inf

    def _visit(self, q, block, first, heap, k) -> int:
        """Solve the images of ``block`` that the sliced bound cannot rule out; update ``heap``."""
        limit = self._limit(heap, k)
        block = block[first[block] <= limit]
        second = self.bounds.sliced(self.weights[block] - q, first[block])
        n_exact = 0
        for t in np.argsort(second, kind="stable"):
            if second[t] > limit:
                break
            j = int(block[t])
            d = self.exact(q, j)
            n_exact += 1
            if len(heap) < k:
                heapq.heappush(heap, (-d, -j))
            elif (d, j) < (-heap[0][0], -heap[0][1]):
                heapq.heapreplace(heap, (-d, -j))
            else:
                continue
            if len(heap) == k:
                limit = self._limit(heap, k)
        return n_exact

    def rerank(self, q: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Exact EMD of ``q`` to each candidate id; the k best by (distance, id)."""
        d = np.array([self.exact(q, int(j)) for j in cand])
        order = np.lexsort((cand, d))[:k]
        return d[order], cand[order].astype(np.int64), len(cand)


def _divided(sums: np.ndarray, totals: np.ndarray) -> np.ndarray:
    weights = sums.astype(np.float64)
    weights /= totals[:, None]  # as signatures() normalizes
    return weights


def _unpacked(sums: np.ndarray, totals: np.ndarray, positions: np.ndarray, ground: str) -> _Searcher:
    return _Searcher(_divided(sums, totals), positions, ground, totals)


def _sorted_heap(heap) -> tuple[np.ndarray, np.ndarray]:
    pairs = sorted((-nd, -nj) for nd, nj in heap)
    return (np.array([p[0] for p in pairs], dtype=np.float64),
            np.array([p[1] for p in pairs], dtype=np.int64))


_WORKER: _Searcher | None = None


def _init_worker(searcher: _Searcher) -> None:
    from threadpoolctl import threadpool_limits

    global _WORKER
    _WORKER = searcher
    # the products here are small: threaded BLAS only fights the other workers for cores
    threadpool_limits(1)


def _run_chunk(searcher: _Searcher | None, Q: np.ndarray, cands, k: int):
    s = _WORKER if searcher is None else searcher
    if cands is None:
        return [s.pruned(q, k) for q in Q]
    return [s.rerank(q, c, k) for q, c in zip(Q, cands)]


def _n_workers(n_jobs) -> int:
    if n_jobs is None:
        return kernel_threads()
    return check_positive_int(n_jobs, "n_jobs")


def emd_knn(queries, data, k: int = 10, window: int = 4, ground: str = "euclidean",
            shortlist: int | None = None, n_jobs: int | None = None,
            return_stats: bool = False, *, engine=None):
    """The k nearest images under EMD, exactly (or re-ranked from an L1 shortlist).

    Exact mode visits the images in increasing order of a lower bound (the
    marginal bound for all images at once, then the sliced bound for those that
    survive it) and solves the transport problem only until the bound exceeds
    the current k-th distance: the result equals a brute-force EMD search,
    equal distances broken by the smaller id. Each solve moves only the mass
    that differs between the two signatures (mass in the same bin stays, see
    ``_Searcher.exact``), so EMDs that are equal in exact arithmetic may differ
    from :func:`emd` in the last bits and tied images come in either order.
    Queries run in ``n_jobs`` worker processes with a progress bar.

    Parameters
    ----------
    queries : ndarray of shape (nq, H, W), uint8 or float, non-negative
    data : ndarray of shape (n, H, W), same H and W
    k : int, 1 <= k <= n
    window : int
        Window side in pixels for the signatures (see :func:`signatures`).
    ground : {"euclidean", "manhattan"}
    shortlist : int, optional
        When given, approximate: take the ``shortlist`` nearest images by pixel
        L1 (:func:`imsim.distances.topk`) and re-rank them by exact EMD;
        ``k <= shortlist <= n``.
    n_jobs : int, optional
        Worker processes for the queries (default: ``IMSIM_THREADS`` or every
        usable core, see :mod:`imsim._threads`).
    return_stats : bool
        Also return an :class:`EMDKnnStats`.
    engine : None, "local", "dask" or :class:`imsim.engine.Engine`
        A distributed engine runs the query chunks on its workers instead of
        ``n_jobs`` local processes; same result.

    Returns
    -------
    D : ndarray of shape (nq, k), float32, EMD in pixels, ascending per row
    I : ndarray of shape (nq, k), int64, row positions in ``data``
    stats : EMDKnnStats, only when ``return_stats``
    """
    _load_emd_c()  # a one-time import, not part of the search time
    start = time.perf_counter()
    ground = check_ground(ground)
    queries = check_array(queries, name="queries", ndim=3)
    data = check_array(data, name="data", ndim=3)
    if queries.shape[1:] != data.shape[1:]:
        raise ValueError(f"queries are {queries.shape[1]}x{queries.shape[2]} images, "
                         f"data are {data.shape[1]}x{data.shape[2]}")
    k = check_k(k, len(data), what="the data")
    cands = None
    if shortlist is not None:
        shortlist = check_k(shortlist, len(data), name="shortlist", what="the data")
        if shortlist < k:
            raise ValueError(f"shortlist={shortlist} is smaller than k={k}")
        from .kernels import topk

        _, cands = topk(queries.reshape(len(queries), -1), data.reshape(len(data), -1),
                        shortlist, metric="l1")
    n_jobs = min(_n_workers(n_jobs), len(queries))
    Wq, _ = signatures(queries, window, name="query")
    Wx, positions = signatures(data, window, name="data image")
    totals = data.reshape(len(data), -1).sum(axis=1, dtype=np.float64) if data.dtype.kind in "ui" else None
    searcher = _Searcher(Wx, positions, ground, totals)

    size = max(1, min(16, len(queries) // (4 * n_jobs)))
    chunks = [slice(i, i + size) for i in range(0, len(queries), size)]
    results = [None] * len(chunks)
    with using(engine) as eng, progress(total=len(queries), desc="EMD k-NN", unit="query") as bar:
        if eng.distributed:
            results = [_emd_chunks(eng, searcher, Wq, cands, k)]
            bar.update(len(queries))
        elif n_jobs == 1:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(1):
                for c, sl in enumerate(chunks):
                    results[c] = _run_chunk(searcher, Wq[sl], None if cands is None else cands[sl], k)
                    bar.update(len(results[c]))
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed

            # fork shares the data signatures without pickling them; spawn elsewhere
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            with ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context(method),
                                     initializer=_init_worker, initargs=(searcher,)) as pool:
                futures = {pool.submit(_run_chunk, None, Wq[sl],
                                       None if cands is None else cands[sl], k): c
                           for c, sl in enumerate(chunks)}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update(len(results[futures[fut]]))
    flat = [r for chunk in results for r in chunk]
    D = np.stack([r[0] for r in flat]).astype(np.float32)
    I = np.stack([r[1] for r in flat])
    if not return_stats:
        return D, I
    stats = EMDKnnStats(n_exact=np.array([r[2] for r in flat], dtype=np.int64),
                        n_data=len(data), seconds=time.perf_counter() - start)
    return D, I, stats


def _emd_task(task, searcher, k: int):
    from threadpoolctl import threadpool_limits

    Q, cands = task
    with threadpool_limits(1):  # the products are small: one BLAS thread per worker
        return _run_chunk(searcher, Q, cands, k)


def _emd_chunks(engine, searcher, Wq: np.ndarray, cands, k: int) -> list:
    """Per-query results ``(d, ids, n_exact)`` of the EMD k-NN, queries split into
    chunks; the data signatures (``searcher``) are sent once to each worker."""
    chunks = row_ranges(len(Wq), max(n_tasks(engine), len(Wq) // 16))
    tasks = [(Wq[a:b], None if cands is None else cands[a:b]) for a, b in chunks]
    return [r for part in engine.map(_emd_task, tasks, engine.put(searcher), k) for r in part]
