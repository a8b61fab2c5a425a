"""The search comparison: how much each method costs in accuracy and buys in speed.

Every result is measured in the original space against the exact ground truth:
approximation factor (mean d_method / d_true of the first answer), tie-aware
recall@1 and recall@10, milliseconds per query (whole batch on all cores, build
excluded) and build seconds. Functions return plain data; nothing prints.

* :func:`ground_truth` -- exact k-NN, computed once per (data, queries, k, metric)
  and cached in memory (and on disk with ``cache_dir``).
* :func:`evaluate` -- a sweep: records keyed by (dataset, method, params), as
  ann-benchmarks keeps them; one build serves all query-time settings.
* :func:`compare` -- the ``imsim search`` run: one setting per method, the
  answers themselves, and :func:`to_report` for the assignment's output file.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import atomic_path
from .._progress import progress as _progress
from .._validation import check_array, check_k, check_metric, check_same_dims
from ..distances import distances_at
from ..formats.search import TRUE, SearchReport
from ..search import Index, LatentTable
from .metrics import approximation_factor, recall_at_k

METHODS = ("reduced", "lsh", "hnsw", "exact")
LABELS = {"reduced": "Reduced", "lsh": "LSH", "hnsw": "HNSW", "exact": TRUE}
_CHUNK = 1000  # queries per progress step

_gt_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _digest(A: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{A.dtype.str}{A.shape}".encode())
    h.update(np.ascontiguousarray(A).data)
    return h.hexdigest()


def ground_truth(X, Q, k: int = 10, metric: str = "l1", *, cache_dir=None, engine=None):
    """Exact k nearest neighbours of the queries, cached.

    Parameters
    ----------
    X : ndarray of shape (n, d); Q : ndarray of shape (nq, d)
    k : int, at most n
    cache_dir : path, optional
        Also keep the result in ``cache_dir/gt-<hash>.npz`` for later runs.
    engine : None, "local", "dask" or :class:`imsim.engine.Engine`
        Where the exact search runs (:func:`imsim.search.sharded.exact_knn`); same result.

    Returns
    -------
    D : ndarray of shape (nq, k), float32; I : ndarray of shape (nq, k), int64
    """
    X = check_array(X, name="data")
    Q = check_array(Q, name="queries")
    metric = check_metric(metric)
    key = (_digest(X), _digest(Q), int(k), metric)
    if key in _gt_cache:
        return _gt_cache[key]
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"gt-{'-'.join(map(str, key))}.npz"
        if path.is_file():
            with np.load(path) as f:
                _gt_cache[key] = (f["D"], f["I"])
                return _gt_cache[key]
    from ..search.sharded import exact_knn

    D, I = exact_knn(Q, X, k, metric, engine=engine)
    if path is not None:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, D=D, I=I)
    _gt_cache[key] = (D, I)
    return D, I


def _new_index(method: str, build: dict | None, metric: str, encode):
    """``Index.create(method, metric=..., **build)``, given ``encode`` if it takes one."""
    params = {"metric": metric, **(build or {})}
    if encode is not None and "encode" in Index.class_for(method).build_params:
        params.setdefault("encode", encode)
    return Index.create(method, **params)


def timed_search(index, Q, k: int, *, progress: bool = False, **query_params):
    """Search in chunks (for the progress bar).

    Returns D, I, wall milliseconds per query and CPU milliseconds per query (all
    threads of this process: on a shared machine, CPU time divided by the cores
    used is closer to what a quiet machine's wall clock shows).
    """
    D = np.empty((len(Q), k), dtype=np.float32)
    I = np.empty((len(Q), k), dtype=np.int64)
    elapsed = cpu = 0.0
    bar = _progress(total=len(Q), desc=index.name, unit="query", show=None if progress else False)
    with bar:
        for a in range(0, len(Q), _CHUNK):
            b = min(len(Q), a + _CHUNK)
            t0, c0 = time.perf_counter(), time.process_time()
            D[a:b], I[a:b] = index.search(Q[a:b], k, **query_params)
            elapsed += time.perf_counter() - t0
            cpu += time.process_time() - c0
            bar.update(b - a)
    return D, I, 1e3 * elapsed / max(1, len(Q)), 1e3 * cpu / max(1, len(Q))


def score(X, Q, I, D_true, metric: str = "l1") -> dict:
    """Quality of answers ``I`` (nq, k) against the exact distances ``D_true`` (nq, k).

    Returns approx_factor, n_excluded (queries left out of the factor), n_not_found
    and recall_at_1 / recall_at_10 (where k allows).
    """
    D = distances_at(Q, X, I, metric)
    factor, excluded = approximation_factor(D[:, 0], D_true[:, 0])
    out = {"approx_factor": factor, "n_excluded": excluded,
           "n_not_found": int((I[:, 0] < 0).sum())}
    for k in (1, 10):
        if I.shape[1] >= k and D_true.shape[1] >= k:
            out[f"recall_at_{k}"] = recall_at_k(D, D_true, k)
    return out


def _check_inputs(X, Q, Zx, Zq):
    """Validated (X, Q, encode): ``encode`` is a LatentTable of the given latents, or None."""
    X = check_array(X, name="data")
    Q = check_array(Q, name="queries")
    check_same_dims(Q, X, "queries", "data")
    if (Zx is None) != (Zq is None):
        raise ValueError("give latent vectors for both the data and the queries, or neither")
    if Zx is not None:
        Zx = check_array(Zx, name="data latents", dtype=np.float32)
        Zq = check_array(Zq, name="query latents", dtype=np.float32)
        if len(Zx) != len(X):
            raise ValueError(f"the data latent file holds {len(Zx)} vectors but the data "
                             f"holds {len(X)}")
        if len(Zq) != len(Q):
            raise ValueError(f"the query latent file holds {len(Zq)} vectors but the "
                             f"queries are {len(Q)}")
        check_same_dims(Zq, Zx, "query latents", "data latents")
        return X, Q, LatentTable((X, Zx), (Q, Zq))
    return X, Q, None


def evaluate(X, Q, specs: list[dict], *, dataset: str = "data", metric: str = "l1",
             Zx=None, Zq=None, k: int = 10, cache_dir=None, progress: bool = False,
             on_fit=None) -> list[dict]:
    """Run a sweep of methods and parameters; one record per (method, params).

    Parameters
    ----------
    X, Q : ndarrays (n, d) and (nq, d), the original vectors
    specs : list of dict
        ``{"method": "lsh", "build": {"n_hashes": 8, "n_tables": 40},
        "query": [{"max_candidates": 2000}, {}]}``; ``method`` is an
        :meth:`Index.create` kind, ``build`` goes to the constructor, each ``query``
        dict to one timed search (default ``[{}]``).
    Zx, Zq : latent vectors of the data and queries, for ``"reduced"`` (given to it
        as a :class:`~imsim.search.LatentTable` encoder)
    k : int, neighbours asked of every method (recall@10 needs 10)
    on_fit : callable(spec, index), optional
        Called with each fitted index before its searches, so a caller can ask it
        more (the demo's example queries) without building it again.

    Returns
    -------
    list of dict with keys dataset, method, name, params, build_s, ms_per_query,
    cpu_ms_per_query, recall_at_1, recall_at_10, approx_factor, n_excluded,
    n_not_found, n_queries
    """
    X, Q, encode = _check_inputs(X, Q, Zx, Zq)
    metric = check_metric(metric)
    gt = ground_truth(X, Q, k, metric, cache_dir=cache_dir)
    records = []
    for spec in specs:
        method = spec["method"]
        if method == "reduced" and encode is None:
            raise ValueError("method 'reduced' needs latent vectors (Zx, Zq)")
        index = _new_index(method, spec.get("build"), metric, encode)
        t0 = time.perf_counter()
        index.fit(X)
        build_s = time.perf_counter() - t0
        if on_fit is not None:
            on_fit(spec, index)
        for query in spec.get("query") or [{}]:
            _, I, ms, cpu_ms = timed_search(index, Q, k, progress=progress, **query)
            records.append({"dataset": dataset, "method": method, "name": index.name,
                            "params": {**(spec.get("build") or {}), **query},
                            "build_s": build_s, "ms_per_query": ms, "cpu_ms_per_query": cpu_ms,
                            "n_queries": len(Q),
                            **score(X, Q, I, gt[0], metric)})
    return records


@dataclass
class MethodRun:
    """One method's answers in a :func:`compare` run.

    ``distances`` are in the original space whatever the method searched in;
    ``ids`` are -1 (and distances +inf) where nothing was found.
    """

    method: str
    name: str
    ids: np.ndarray
    distances: np.ndarray
    ms_per_query: float
    build_s: float
    quality: dict


def compare(X, Q, methods=("reduced", "lsh", "exact"), *, n_neighbors: int = 1,
            metric: str = "l1", Zx=None, Zq=None, lsh: dict | None = None,
            hnsw: dict | None = None, lsh_query: dict | None = None,
            hnsw_query: dict | None = None, rerank: int = 0,
            progress: bool = False, engine=None) -> list[MethodRun]:
    """Answer every query with each method and measure it: the ``imsim search`` run.

    The exact search always runs (it is the reference) and comes last.

    Parameters
    ----------
    X, Q : ndarrays (n, d), (nq, d)
    methods : any of "reduced", "lsh", "hnsw", "exact"
    n_neighbors : int, answers per query (the ``-N`` option)
    Zx, Zq : latent vectors, needed for "reduced"
    lsh, hnsw : build parameters; lsh_query, hnsw_query : search parameters
    rerank : int, for "reduced"
    engine : :class:`imsim.engine.Engine`, optional
        Run the exact search (the reference) there (:func:`imsim.search.sharded.exact_knn`).

    Returns
    -------
    list of :class:`MethodRun`, in the order of ``methods`` with "exact" last
    """
    X, Q, encode = _check_inputs(X, Q, Zx, Zq)
    metric = check_metric(metric)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method {unknown[0]!r}, expected any of {', '.join(METHODS)}")
    if "reduced" in methods and encode is None:
        raise ValueError("method 'reduced' needs the latent files of the data and queries")
    n_neighbors = check_k(n_neighbors, len(X), name="n_neighbors", what="the data")
    order = [m for m in methods if m != "exact"] + ["exact"]
    k = max(n_neighbors, 10) if len(X) >= 10 else n_neighbors
    build = {"lsh": lsh or {}, "hnsw": hnsw or {}, "reduced": {"rerank": rerank}, "exact": {}}
    query = {"lsh": lsh_query or {}, "hnsw": hnsw_query or {}}
    # every parameter checked before the first build
    indexes = {m: _new_index(m, build[m], metric, encode).check_params() for m in order}
    answers = {}
    for method, index in indexes.items():
        if method == "exact" and engine is not None:  # the reference, on the engine's workers
            from ..search.sharded import exact_knn

            t0 = time.perf_counter()
            _, I = exact_knn(Q, X, k, metric, engine=engine)
            answers[method] = (f"Exact({metric})", I, 1e3 * (time.perf_counter() - t0) / len(Q), 0.0)
            continue
        t0 = time.perf_counter()
        index.fit(X)
        build_s = time.perf_counter() - t0
        _, I, ms, _ = timed_search(index, Q, k, progress=progress,
                                   **query.get(method, {}))
        answers[method] = (index.name, I, ms, build_s)
    gt_D = distances_at(Q, X, answers["exact"][1], metric)
    runs = []
    for method in order:
        name, I, ms, build_s = answers[method]
        D = distances_at(Q, X, I, metric)
        runs.append(MethodRun(method, name, I[:, :n_neighbors], D[:, :n_neighbors], ms, build_s,
                              score(X, Q, I, gt_D, metric)))
    return runs


def to_report(runs: list[MethodRun], query_ids=None) -> SearchReport:
    """The assignment's output file contents for a :func:`compare` run."""
    nq = len(runs[0].ids)
    labels = [LABELS[r.method] for r in runs]
    report = SearchReport(
        methods=labels,
        query_ids=np.arange(nq, dtype=np.int64) if query_ids is None else np.asarray(query_ids),
        ids={LABELS[r.method]: r.ids for r in runs},
        distances={LABELS[r.method]: r.distances.astype(np.float64) for r in runs},
        times_ms={LABELS[r.method]: r.ms_per_query for r in runs},
    )
    for r in runs:
        label = LABELS[r.method]
        if r.method != "exact":
            report.factors[label] = r.quality["approx_factor"]
        if r.method == "lsh" or r.quality["n_not_found"]:
            report.not_found[label] = r.quality["n_not_found"]
    return report
