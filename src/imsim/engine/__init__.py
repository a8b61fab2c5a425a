"""Where imsim's block work runs: in this process (``local``) or on a Dask cluster (``dask``).

One small interface, :class:`Engine`:

* ``map(fn, tasks, *common)`` -> ``[fn(t, *common) for t in tasks]``, in task order;
* ``put(obj)`` keeps ``obj`` on every worker (a handle to pass to ``map``);
* ``resident(fn, *args, worker=i)`` builds ``fn(*args)`` on worker ``i`` and keeps it
  there (a :class:`~imsim.search.ShardedIndex` shard); tasks given the handle run
  where it lives;
* ``close()`` (or use it as a context manager).

Tasks carry *paths and row ranges* (:mod:`imsim.engine.blocks`): each worker reads its
own block of an idx file or its own list of image files, so the driver never holds
the whole data set. ``local`` is today's behaviour and needs nothing more; ``dask``
needs the optional extra ``imsim[dask]`` (``dask[distributed]``) and either connects to
a running scheduler (``address="tcp://HOST:PORT"``) or starts a ``LocalCluster`` of
worker processes bound to 127.0.0.1 with no dashboard. Training always runs locally.

Each job lives beside the code it distributes and takes ``engine=``: exact top-k
(:func:`imsim.search.sharded.exact_knn`, :class:`~imsim.search.ShardedIndex`), the
exact silhouette (:func:`imsim.cluster.silhouettes`), exact EMD k-NN
(:func:`imsim.distances.emd_knn.emd_knn`), encoding (:func:`imsim.embed.encode_images`,
``imsim index``'s build). This package knows none of them (it sits below them all).
"""
from __future__ import annotations

from .base import DEFAULT_WORKERS, Engine, LocalEngine

__all__ = ["Engine", "LocalEngine", "ENGINES", "DEFAULT_WORKERS", "get_engine", "using", "n_tasks",
           "folder_stamp"]

ENGINES = ("local", "dask")
#: tasks per worker: enough that a slow or lost worker delays little
TASKS_PER_WORKER = 3


def get_engine(engine=None, *, address: str | None = None,
               n_workers: int = DEFAULT_WORKERS) -> Engine:
    """An :class:`Engine` from a name (``None`` or ``"local"``, ``"dask"``) or an engine.

    Parameters
    ----------
    engine : None, "local", "dask" or Engine
    address : str, optional
        ``tcp://HOST:PORT`` of a Dask scheduler (only with ``"dask"``); without it a
        ``LocalCluster`` of ``n_workers`` processes starts on 127.0.0.1.
    n_workers : int
        Worker processes of that local cluster.
    """
    if isinstance(engine, Engine):
        return engine
    name = "local" if engine is None else str(engine).lower()
    if name not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}, expected one of {', '.join(ENGINES)}")
    if name == "local":
        if address is not None:
            raise ValueError("--address needs --engine dask")
        return LocalEngine()
    from ._dask import DaskEngine

    return DaskEngine(address, n_workers=n_workers)


class using:
    """``with using(engine) as eng``: an engine for one job, closed after it only
    when this call started it (an :class:`Engine` passed in stays open)."""

    def __init__(self, engine=None, **kwargs):
        self._owned = not isinstance(engine, Engine)
        self.engine = get_engine(engine, **kwargs)

    def __enter__(self) -> Engine:
        return self.engine

    def __exit__(self, *exc):
        if self._owned:
            self.engine.close()


def n_tasks(engine: Engine) -> int:
    """How many tasks to split a job into on ``engine`` (``TASKS_PER_WORKER`` per worker)."""
    return max(1, engine.n_workers * TASKS_PER_WORKER)


def folder_stamp(folder) -> tuple:
    """(name, mtime_ns) of each file in ``folder``: a worker's cache key that sees a
    rewritten model folder."""
    from pathlib import Path

    return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in Path(folder).iterdir()))
