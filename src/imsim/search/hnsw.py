"""Hierarchical navigable small-world graphs (Malkov & Yashunin 2018) via FAISS.

FAISS ``IndexHNSWFlat`` holds the vectors as float32 (uint8 pixels convert
exactly, and their L1 sums stay exact integers below 2**24) and supports L1
directly. L2 distances come back squared from FAISS and are returned as true
distances; cosine runs as inner product on unit vectors (a zero vector stays
zero: distance 1, as in :func:`imsim.distances.pairwise`).

uint8 vectors under L1 (pixels) get their graph from the C extension
``_hnswbuild``: FAISS's construction algorithm on the uint8 rows with the SIMD sum
of absolute differences, a quarter of the bytes FAISS's float32 distances read.
Levels are drawn with FAISS's probabilities from ``seed``; the finished graph is
handed to the FAISS index, which searches, saves and loads it unchanged. Without
the extension (no compiler at install time), and for other inputs, FAISS builds.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_int, check_positive_int
from .base import Index, sort_rows

try:
    from . import _hnswbuild as _C
except ImportError:  # no compiler at install time: FAISS builds the graph
    _C = None


def _faiss():
    import faiss  # heavy: loaded when an HNSW index is built or read

    return faiss


def _prepare(X: np.ndarray, metric: str) -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=np.float32)
    if metric == "cosine":
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        X = np.ascontiguousarray(X / np.where(norms > 0, norms, 1.0), dtype=np.float32)
    return X


def _levels(hnsw, n: int, seed: int):
    """Each point's level, drawn with the probabilities FAISS uses for this M, the
    first neighbour slot of each point and the slots below each level (FAISS's
    ``offsets`` and ``cum_nneighbor_per_level``)."""
    faiss = _faiss()
    probas = faiss.vector_to_array(hnsw.assign_probas)
    cum = faiss.vector_to_array(hnsw.cum_nneighbor_per_level).astype(np.int64)
    f = np.random.default_rng(seed).random(n)
    level = np.minimum(np.searchsorted(np.cumsum(probas), f, side="right"),
                       len(probas) - 1).astype(np.int32)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(cum[level + 1], out=offsets[1:])
    return level, offsets, cum


def _build_u8_l1(faiss, index, X: np.ndarray, ef_construction: int, seed: int) -> None:
    """Build ``index``'s graph on uint8 ``X`` in C and give FAISS graph and vectors."""
    X = np.ascontiguousarray(X)
    hnsw = index.hnsw
    level, offsets, cum = _levels(hnsw, len(X), seed)
    neighbors = np.full(int(offsets[-1]), -1, dtype=np.int32)
    entry, max_level = _C.build(X, X.shape[1], level, offsets, cum, neighbors, ef_construction)
    faiss.copy_array_to_vector(level + 1, hnsw.levels)  # FAISS counts levels from 1
    faiss.copy_array_to_vector(offsets.astype(np.uint64), hnsw.offsets)
    faiss.copy_array_to_vector(neighbors, hnsw.neighbors)
    hnsw.entry_point = entry
    hnsw.max_level = max_level
    index.storage.add(X.astype(np.float32))
    index.ntotal = len(X)


class HNSWIndex(Index, kind="hnsw"):
    """Approximate nearest neighbours on a navigable small-world graph.

    Parameters
    ----------
    M : int, default 16
        Graph neighbours per node (memory and build time grow with it).
    ef_construction : int, default 100
        Candidate list size while building (quality of the graph).
    metric : {"l1", "l2", "cosine"}, default "l1"
    ef_search : int, default 64
        Default candidate list size while searching; ``search(..., ef=...)``
        overrides it per call (larger: slower, more exact).
        ``search(..., return_stats=True)`` reports ``mean_checked=None``: FAISS
        counts distance computations only in a process-wide, unsynchronised counter.
    seed : int, default 0
        Seeds the random level of each node.

    Attributes
    ----------
    index_ : faiss.IndexHNSWFlat
    """

    def __init__(self, M: int = 16, ef_construction: int = 100, *, metric: str = "l1",
                 ef_search: int = 64, seed: int = 0):
        self.M = M
        self.ef_construction = ef_construction
        self.metric = metric
        self.ef_search = ef_search
        self.seed = seed

    @property
    def name(self) -> str:
        metric = getattr(self, "metric_", self.metric)
        return f"HNSW(M={self.M}, efC={self.ef_construction}, {metric})"

    def _check_params(self) -> None:
        check_positive_int(self.M, "M")
        check_positive_int(self.ef_construction, "ef_construction")
        check_positive_int(self.ef_search, "ef_search")
        check_int(self.seed, "seed", low=None)

    def _fit(self, X: np.ndarray) -> None:
        faiss = _faiss()
        kind = {"l1": faiss.METRIC_L1, "l2": faiss.METRIC_L2,
                "cosine": faiss.METRIC_INNER_PRODUCT}[self.metric_]
        index = faiss.IndexHNSWFlat(X.shape[1], int(self.M), kind)
        index.hnsw.efConstruction = self.ef_construction
        index.hnsw.rng = faiss.RandomGenerator(int(self.seed))
        if _C is not None and self.metric_ == "l1" and X.dtype == np.uint8 and len(X):
            _build_u8_l1(faiss, index, X, int(self.ef_construction), int(self.seed))
        else:
            index.add(_prepare(X, self.metric_))
        self.index_ = index

    def _search(self, Q: np.ndarray, k: int, ef: int | None = None):
        faiss = _faiss()
        ef = check_positive_int(self.ef_search if ef is None else ef, "ef")
        # FAISS finds at most ef candidates per query
        params = faiss.SearchParametersHNSW(efSearch=max(ef, k))
        D, I = self.index_.search(_prepare(Q, self.metric_), k, params=params)
        if self.metric_ == "l2":
            D = np.sqrt(np.maximum(D, 0))
        elif self.metric_ == "cosine":
            D = 1.0 - D
        D = np.where(I < 0, np.inf, D).astype(np.float32)
        return (*sort_rows(D, I), None)

    def _state(self) -> dict:
        return {"faiss": _faiss().serialize_index(self.index_)}

    def _set_state(self, arrays: dict) -> None:
        self.index_ = _faiss().deserialize_index(arrays["faiss"])
