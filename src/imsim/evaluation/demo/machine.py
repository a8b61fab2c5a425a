"""The machine a demo ran on: CPU, cores, memory, load, versions (recorded in run.json)."""
from __future__ import annotations

import os
import platform

__all__ = ["machine_info", "load_average"]


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the system has none)."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def machine_info() -> dict:
    """CPU model, cores, memory, load and library versions of this machine (plain data)."""
    from importlib.metadata import PackageNotFoundError, version

    from ... import __version__
    from ..._threads import kernel_threads
    from ...distances import backend

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        memory_gb = None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = {}
    for package in ("numpy", "torch", "scipy", "scikit-learn", "faiss-cpu", "pot", "matplotlib"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "usable_cores": usable,
            "memory_gb": memory_gb, "platform": platform.platform(),
            "python": platform.python_version(), "imsim": __version__, "versions": versions,
            "distance_kernel": backend(), "kernel_threads": kernel_threads(),
            # settings that change the speed of the same code
            "environment": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "IMSIM_THREADS",
                                                           "OMP_NUM_THREADS")},
            "load_average": load_average()}
