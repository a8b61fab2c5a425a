"""Row-range shards of any index, searched scatter-gather with an exact merge.

Shard ``s`` indexes rows ``[lo_s, hi_s)`` of ``X`` with its own index of class
``base``; a search asks every shard for its ``k`` best, shifts the ids by ``lo_s``
and keeps the ``k`` best of all by (distance, id) -- for exact shards the very
answer of :class:`~imsim.search.ExactIndex`, ties included. With a distributed
engine (:mod:`imsim.engine`) each shard lives on a worker and is searched there.

Two ways to store it: :meth:`save` writes one ``.npz`` (the shards inside, as the
``Index`` protocol asks), :meth:`save_shards` writes a folder with one file per shard
(what a collection version holds), from which :meth:`load_shards` lets each worker
load its own shard by path.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from .._io import write_text_atomic
from .._validation import DataFormatError, check_is_fitted, check_metric, check_positive_int
from ..engine import n_tasks, using
from ..engine.blocks import Block, row_ranges, split
from .base import Index, sort_rows

_MANIFEST = "sharded.json"


def _base_class(base: str) -> type[Index]:
    """The shards' class from its name ("HNSWIndex") or kind ("hnsw")."""
    cls = Index._registry.get(base) or Index._kinds.get(str(base).lower())
    if cls is None or cls is ShardedIndex:
        raise ValueError(f"unknown shard index {base!r}, expected one of "
                         f"{', '.join(k for k in Index.kinds() if k != 'sharded')}")
    return cls


def _fit_shard(base: str, params: dict, X: np.ndarray) -> Index:
    cls = _base_class(base)
    return cls(**cls._renamed(params)).fit(X)


def _search_shard(task, Q: np.ndarray, k: int, query_params: dict):
    shard, lo = task
    D, I = shard.search(Q, k, **query_params)
    return D, np.where(I >= 0, I + lo, -1)


def _shard_bytes(shard: Index) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        return np.frombuffer(shard.save(Path(tmp) / "shard.npz").read_bytes(), dtype=np.uint8)


def _shard_from_bytes(data: np.ndarray) -> Index:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shard.npz"
        path.write_bytes(data.tobytes())
        return Index.load(path)


def _save_shard(task) -> str:
    shard, path = task
    return str(shard.save(path))


class ShardedIndex(Index, kind="sharded"):
    """``n_shards`` row-range shards of an index class, merged exactly.

    Parameters
    ----------
    base : str, default "ExactIndex"
        The shards' index: a class name ("HNSWIndex") or kind ("hnsw").
    params : dict, optional
        Constructor arguments of every shard (JSON values; ``metric`` among them).
    n_shards : int, default 2
        Shards of (nearly) equal row counts; fewer when the data has fewer rows.
    engine : None, "local", "dask" or :class:`imsim.engine.Engine`
        Where the shards live and are searched (not saved with the index).

    Query parameters are those of the shards' class (``ef`` for HNSW shards, ...).

    Attributes
    ----------
    bounds_ : ndarray of shape (n_shards + 1,), int64
        Shard ``s`` holds rows ``bounds_[s]`` to ``bounds_[s + 1] - 1``.
    """

    def __init__(self, base: str = "ExactIndex", params: dict | None = None, n_shards: int = 2,
                 engine=None):
        self.base = base
        self.params = dict(params or {})
        self.n_shards = n_shards
        self.engine = engine

    _unsaved = ("engine",)

    @property
    def query_params(self) -> tuple[str, ...]:
        """The search knobs of the shards' class."""
        try:
            return _base_class(self.base).query_params
        except ValueError:
            return ()

    @property
    def name(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"Sharded({self.n_shards} x {self.base}({inner}))"

    @property
    def _engine(self):
        from ..engine import get_engine

        if not hasattr(self, "_eng"):
            self._eng = get_engine(self.engine)
        return self._eng

    def _validated_metric(self) -> str:
        cls = _base_class(self.base)
        metric = check_metric(self.params.get("metric", "l1"))
        if metric not in cls.metrics:
            raise ValueError(f"ShardedIndex supports metric "
                             f"{' or '.join(repr(m) for m in cls.metrics)} with {cls.__name__} "
                             f"shards, got {self.params.get('metric')!r}")
        return metric

    def _check_params(self) -> None:
        check_positive_int(self.n_shards, "n_shards")
        cls = _base_class(self.base)
        cls(**cls._renamed(self.params)).check_params()  # the shards' own checks, before any work

    def _fit(self, X: np.ndarray) -> None:
        ranges = row_ranges(len(X), self.n_shards)
        self.bounds_ = np.array([lo for lo, _ in ranges] + [len(X)], dtype=np.int64)
        self.shards_ = [
            self._engine.resident(_fit_shard, self.base, self.params, X[lo:hi], worker=s)
            for s, (lo, hi) in enumerate(ranges)]

    def _search(self, Q: np.ndarray, k: int, **query_params):
        eng = self._engine
        tasks = list(zip(self.shards_, self.bounds_[:-1].tolist()))  # each runs where its shard is
        return merge_topk(eng.map(_search_shard, tasks, eng.put(Q), k, query_params), k)

    def _state(self) -> dict:
        arrays = {"bounds": self.bounds_}
        for s, data in enumerate(self._engine.map(_shard_bytes, self.shards_)):
            arrays[f"shard{s}"] = data
        return arrays

    def _set_state(self, arrays: dict) -> None:
        self.bounds_ = arrays["bounds"]
        self.shards_ = [self._engine.resident(_shard_from_bytes, arrays[f"shard{s}"], worker=s)
                        for s in range(len(self.bounds_) - 1)]

    # ---------------------------------------------------------------- one file per shard

    def save_shards(self, folder) -> Path:
        """Write ``folder/sharded.json`` and one ``shard-NNNNN.npz`` per shard (each written
        by the worker that holds it, atomically); returns the folder."""
        check_is_fitted(self, "n_")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        names = [f"shard-{s:05d}.npz" for s in range(len(self.shards_))]
        self._engine.map(_save_shard, list(zip(self.shards_, [str(folder / n) for n in names])))
        write_text_atomic(folder / _MANIFEST, json.dumps({
            "class": type(self).__name__,
            "params": {k: v for k, v in self.get_params().items() if k not in self._unsaved}, "n": self.n_,
            "d": self.d_, "dtype": self.dtype_, "bounds": self.bounds_.tolist(), "shards": names}))
        return folder

    @classmethod
    def load_shards(cls, folder, engine=None) -> ShardedIndex:
        """Open a folder written by :meth:`save_shards`; each shard is loaded by path where
        it will live (a worker of ``engine``)."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / _MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"{folder}: not a sharded index folder ({exc})") from None
        index = cls(**meta["params"], engine=engine)
        index.metric_ = index._validated_metric()
        index.n_, index.d_, index.dtype_ = meta["n"], meta["d"], meta["dtype"]
        index.bounds_ = np.asarray(meta["bounds"], dtype=np.int64)
        index.shards_ = [index._engine.resident(Index.load, str(folder / name), worker=s)
                         for s, name in enumerate(meta["shards"])]
        return index


# --------------------------------------------------------------- exact top-k on an engine

def merge_topk(parts, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact merge of per-block answers ``[(D, I), ...]`` (global ids, -1 pads):
    the k best of each row by (distance, id), as one search over all rows gives."""
    D = np.concatenate([p[0] for p in parts], axis=1)
    I = np.concatenate([p[1] for p in parts], axis=1)
    D, I = sort_rows(D, I)
    return np.ascontiguousarray(D[:, :k]), np.ascontiguousarray(I[:, :k])


def _vectors(source) -> np.ndarray:
    if isinstance(source, (str, Path)):
        from ..datasets import read_images

        source = read_images(source)
    source = np.asarray(source)
    return source.reshape(len(source), -1)


def _knn_block(block: Block, Q: np.ndarray, k: int, metric: str):
    from .exact import ExactIndex

    rows = block.load()
    D, I = ExactIndex(metric).fit(rows.reshape(len(rows), -1)).search(Q, k)
    return D, np.where(I >= 0, I + block.lo, -1)


def exact_knn(queries, data, k: int = 10, metric: str = "l1", *, engine=None):
    """Exact k nearest data rows of every query (ties to the smaller id).

    Parameters
    ----------
    queries : ndarray of shape (nq, d) or (nq, H, W), or path of an idx images file
    data : ndarray of shape (n, d) or (n, H, W), or path of an idx images file; with
        a distributed engine each worker reads only its own block of the file.
    k : int >= 1 (more than n pads with id -1 and distance +inf)
    metric : {"l1", "l2", "cosine"}
    engine : None, "local", "dask" or an Engine

    Returns
    -------
    D : ndarray of shape (nq, k), float32; I : ndarray of shape (nq, k), int64
    """
    from .exact import ExactIndex

    Q = _vectors(queries)
    with using(engine) as eng:
        if not eng.distributed:
            return ExactIndex(metric).fit(_vectors(data)).search(Q, k)
        k = check_positive_int(k, "k")
        blocks, _ = split(data, n_tasks(eng))
        # the dimension and dtype checks of a search, up front, on the first data row
        first = Block(0, 1, path=blocks[0].path, rows=None if blocks[0].rows is None else blocks[0].rows[:1])
        Q = ExactIndex(metric).fit(first.load().reshape(1, -1))._check_queries(Q)
        parts = eng.map(_knn_block, blocks, eng.put(Q), k, metric)
    return merge_topk(parts, k)
