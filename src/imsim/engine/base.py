"""The :class:`Engine` interface (see :mod:`imsim.engine`) and the local engine; the
Dask engine (``_dask.py``) builds on this module, not on the package."""
from __future__ import annotations

__all__ = ["Engine", "LocalEngine", "DEFAULT_WORKERS"]

#: worker processes of ``get_engine("dask")`` without an address
DEFAULT_WORKERS = 2


class Engine:
    """The interface; see :mod:`imsim.engine`. ``n_workers`` is the number of
    worker processes (1 for local), ``name`` is ``"local"`` or ``"dask"``."""

    name = "engine"
    n_workers = 1

    def map(self, fn, tasks, *common) -> list:
        raise NotImplementedError

    def put(self, obj):
        raise NotImplementedError

    def resident(self, fn, *args, worker: int = 0):
        raise NotImplementedError

    def close(self) -> None:
        """Release the workers (a no-op for local)."""

    @property
    def distributed(self) -> bool:
        """True when tasks run outside this process."""
        return self.name != "local"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_workers={self.n_workers})"


class LocalEngine(Engine):
    """Everything in this process, one task after another (each task's kernels use
    every core, as imsim always did)."""

    name = "local"

    def map(self, fn, tasks, *common) -> list:
        return [fn(t, *common) for t in tasks]

    def put(self, obj):
        return obj

    def resident(self, fn, *args, worker: int = 0):
        return fn(*args)
