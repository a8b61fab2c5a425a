"""How many threads imsim uses: the one place that decides it.

One environment variable, ``IMSIM_THREADS``, sets the thread count of everything
imsim runs in parallel on the CPU: the distance kernels (:mod:`imsim.distances`),
torch while training and encoding (:mod:`imsim.models.training`), and the default
number of EMD k-NN worker processes. ``IMSIM_NUM_THREADS``, the kernels' former
variable, is read as an alias when ``IMSIM_THREADS`` is unset. Unset, the kernels
and the EMD workers use every core this process may run on and torch keeps its own
default.

Internal: imported by the layers that run threads, not part of ``imsim.__all__``.
"""
from __future__ import annotations

import os

from ._validation import env_int

ENV = "IMSIM_THREADS"
ALIAS = "IMSIM_NUM_THREADS"


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def configured_threads() -> int | None:
    """The thread count set by ``IMSIM_THREADS`` (or its alias), or None when unset.

    Raises ValueError naming the variable when it is not a positive integer.
    """
    for name in (ENV, ALIAS):
        n = env_int(name, None)
        if n is not None:
            return n
    return None


def kernel_threads() -> int:
    """Threads for the distance kernels (and default EMD workers): the configured
    count, else every usable core."""
    n = configured_threads()
    return usable_cores() if n is None else n


def torch_thread_count() -> int | None:
    """Threads for torch: the configured count, or None to keep torch's default."""
    return configured_threads()
