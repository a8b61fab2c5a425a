"""The Dask engine: a ``distributed.Client`` to a scheduler, or a loopback LocalCluster."""
from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import CancelledError

from .base import DEFAULT_WORKERS, Engine

_RESUBMITS = 2  # times a task the scheduler cancelled (a lost worker) is submitted again

#: seconds a job may wait for its results, and for workers to connect
DEFAULT_TIMEOUT = 600.0
#: glibc malloc on a worker: arrays up to this many bytes come from the heap, and the
#: heap keeps up to ``_TRIM`` bytes of freed memory (see :func:`tune_malloc`)
_MMAP_THRESHOLD, _TRIM = 32 << 20, 128 << 20


def tune_malloc() -> bool:
    """Let this worker process reuse freed memory for numpy's temporaries.

    Dask starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also freezes
    glibc's mmap threshold at 128 KiB: every temporary array over that size is a fresh
    ``mmap`` whose pages fault in, zeroed, and go back to the system when it is freed.
    One exact EMD k-NN query makes ~5,500 such page faults on 60,000 images (0.2 s of
    system time per 12 queries, doubling their cost); a process started without that
    variable grows its thresholds instead. Returns False where there is no glibc.
    """
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from malloc.h
    return bool(libc.mallopt(m_mmap_threshold, _MMAP_THRESHOLD) and libc.mallopt(m_trim_threshold, _TRIM))


def _worker_setup(distributed):
    class TuneMalloc(distributed.WorkerPlugin):
        """:func:`tune_malloc` on every worker, those that join or restart later too."""

        name = "imsim-tune-malloc"

        def setup(self, worker):
            tune_malloc()

    return TuneMalloc()


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise RuntimeError("the dask engine needs the optional extra: pip install 'imsim[dask]'") from None
    return distributed


class DaskEngine(Engine):
    """Tasks on Dask workers.

    Parameters
    ----------
    address : str, optional
        ``tcp://HOST:PORT`` of a running scheduler (``dask scheduler``; workers with
        ``dask worker ADDRESS``). The files the tasks name must be readable by the
        workers at the same paths (a shared file system). Without an address a
        ``LocalCluster`` of ``n_workers`` processes starts, every socket on
        127.0.0.1 and no dashboard.
    n_workers, threads_per_worker : int
        Size of that local cluster; each worker's kernels use ``threads_per_worker``
        threads (``IMSIM_NUM_THREADS``).
    timeout : float
        Seconds to wait for the scheduler and for each job's results.
    """

    name = "dask"

    def __init__(self, address: str | None = None, *, n_workers: int = DEFAULT_WORKERS,
                 threads_per_worker: int = 1, timeout: float = DEFAULT_TIMEOUT):
        distributed = _import_distributed()
        self.timeout = timeout
        self._cluster = None
        if address is None:
            import dask

            threads = str(threads_per_worker)
            # no statistical profiler on the workers: it samples every task's stack
            # and cost ~20% of the CPU of the Python-heavy EMD k-NN tasks
            with dask.config.set({"distributed.worker.profile.enabled": False}):
                self._cluster = self._local_cluster(distributed, n_workers, threads_per_worker, threads)
            address = self._cluster.scheduler_address
        try:
            self.client = distributed.Client(address, timeout=timeout, set_as_default=False)
        except OSError as exc:
            self._close_cluster()
            raise ConnectionError(f"cannot reach the Dask scheduler at {address} ({exc})") from None
        self.client.register_plugin(_worker_setup(distributed))
        self.address = address
        #: tasks run by each worker in the last :meth:`map` (worker address -> count)
        self.last_placement: Counter = Counter()

    @staticmethod
    def _local_cluster(distributed, n_workers, threads_per_worker, threads):
        return distributed.LocalCluster(
            n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
            # every socket on loopback; the scheduler's small HTTP server (health
            # checks, no dashboard) on a free port, not 8787
            host="127.0.0.1", dashboard_address="127.0.0.1:0",
            scheduler_kwargs={"dashboard": False}, scheduler_port=0,
            env={"IMSIM_NUM_THREADS": threads, "OMP_NUM_THREADS": threads},
            silence_logs=40)  # errors only: a job's own messages stay readable

    @property
    def n_workers(self) -> int:
        return len(self.workers())

    def workers(self) -> list[str]:
        """Addresses of the connected workers, sorted."""
        return sorted(self.client.scheduler_info(n_workers=-1)["workers"])

    def map(self, fn, tasks, *common) -> list:
        deadline = time.monotonic() + self.timeout
        results: list = [None] * len(tasks)
        todo, done = list(range(len(tasks))), {}
        for _ in range(_RESUBMITS + 1):
            futures = {i: self.client.submit(fn, tasks[i], *common, pure=False) for i in todo}
            done.update(futures)
            todo = []
            for i, f in futures.items():
                try:
                    results[i] = f.result(timeout=max(0.0, deadline - time.monotonic()))
                except CancelledError:
                    # when a worker dies mid-task the scheduler usually runs the task again
                    # elsewhere, but it can also drop it ("already forgotten"): submit again
                    todo.append(i)
            if not todo:
                break
        else:
            raise RuntimeError(f"{len(todo)} of {len(tasks)} tasks were cancelled by the Dask "
                               f"scheduler {_RESUBMITS + 1} times (workers lost?)")
        placed = self.client.who_has(list(done.values()))
        self.last_placement = Counter(w[0] for w in placed.values() if w)
        return results

    def put(self, obj):
        # on every worker: a task may run anywhere, and one lost worker loses no copy
        return self.client.scatter(obj, broadcast=True, hash=False)

    def resident(self, fn, *args, worker: int = 0):
        # a task, not scattered data: if its worker dies, the scheduler builds it
        # again elsewhere from the same arguments (paths)
        workers = self.workers()
        return self.client.submit(fn, *args, pure=False, workers=[workers[worker % len(workers)]],
                                  allow_other_workers=True)

    def worker_pids(self) -> dict[str, int]:
        """Process id of each worker (the fault-tolerance test kills one)."""
        return self.client.run(os.getpid)

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close(timeout=30)
            self.client = None
        self._close_cluster()

    def _close_cluster(self) -> None:
        if self._cluster is not None:
            self._cluster.close(timeout=30)
            self._cluster = None
