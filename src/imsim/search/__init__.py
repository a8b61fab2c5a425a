"""Nearest-neighbour search: one ``Index`` protocol, four methods (and
``ShardedIndex``: row-range shards of any of them).

Every index: ``fit(X)``, ``search(Q, k) -> (D, I)``, ``save(path)``,
``Index.load(path)``, ``name``, ``ntotal``; ``Index.create(kind, **params)`` makes
one by name. See :mod:`imsim.search.base`.
"""
from .base import Index, SearchStats
from .exact import ExactIndex
from .hnsw import HNSWIndex
from .lsh import LSHIndex
from .reduced import LatentTable, ReducedIndex
from .sharded import ShardedIndex

__all__ = ["ExactIndex", "HNSWIndex", "Index", "LSHIndex", "LatentTable", "ReducedIndex",
           "SearchStats", "ShardedIndex"]
