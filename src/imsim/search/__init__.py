"""Nearest-neighbour search: one ``Index`` protocol, four methods.

Every index: ``fit(X)``, ``search(Q, k) -> (D, I)``, ``save(path)``,
``Index.load(path)``, ``name``, ``ntotal``. See :mod:`imsim.search.base`.
"""
from .base import Index
from .exact import ExactIndex
from .hnsw import HNSWIndex
from .lsh import LSHIndex
from .reduced import ReducedIndex

__all__ = ["ExactIndex", "HNSWIndex", "Index", "LSHIndex", "ReducedIndex"]
