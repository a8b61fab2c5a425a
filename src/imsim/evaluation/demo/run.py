"""Running the demo: the data, then every step, each result written as it comes."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ...datasets import DatasetUnavailableError, ImageSet, load_dataset
from .config import DATASETS, DemoConfig
from .machine import load_average, machine_info
from .results import RunInfo, write_result
from .steps import STEPS, Context

__all__ = ["DemoRun", "run_demo", "load_demo_data"]


@dataclass
class DemoRun:
    """What :func:`run_demo` did.

    Attributes
    ----------
    out_dir, results_dir : Path
    results : dict
        Each experiment's JSON content by name ("run", "autoencoder", ...).
    note : str or None
        One line when the data set asked for was unavailable and another was used.
    """

    out_dir: Path
    results_dir: Path
    results: dict = field(default_factory=dict)
    note: str | None = None


def load_demo_data(dataset: str = "mnist", data_dir=None, *, download: bool = True
                   ) -> tuple[ImageSet, ImageSet, str | None]:
    """The train and test splits the demo runs on, and a note when it fell back.

    MNIST comes from ``data_dir``, the cache or a verified download
    (:func:`imsim.datasets.load_dataset`); when none of those works the demo runs on
    scikit-learn's 8x8 digits, which ship offline, and the note says so in one line.

    Returns
    -------
    train, test : ImageSet
    note : str or None
    """
    if dataset not in DATASETS:
        raise ValueError(f"the demo runs on {' or '.join(DATASETS)}, got {dataset!r}")
    note = None
    if dataset == "mnist":
        try:
            return (load_dataset("mnist", "train", data_dir=data_dir, download=download),
                    load_dataset("mnist", "test", data_dir=data_dir, download=download), None)
        except DatasetUnavailableError:
            where = f"{data_dir}, " if data_dir is not None else ""
            how = "could not be downloaded" if download else "downloads are off"
            note = (f"MNIST is not in {where}the cache and {how}: running on scikit-learn's "
                    f"8x8 digits instead (pass --data-dir DIR with the MNIST idx files)")
    return load_dataset("digits", "train"), load_dataset("digits", "test"), note


def _describe(train: ImageSet, test: ImageSet, note) -> dict:
    meta = train.meta
    return {"dataset": meta.get("dataset", train.name), "source": meta.get("source"),
            "location": meta.get("location"), "name": train.name, "n_train": len(train),
            "n_test": len(test), "image_shape": list(train.shape),
            "classes": meta.get("classes"), "note": note}


def _train_images_used(config: DemoConfig, n_train: int) -> int:
    """The most train images any step of ``config`` reads (each reads the first ones)."""
    sizes = (config.ae_train, config.search_data, config.emd_data, config.clf_train)
    return max(min(n_train, n_train if s is None else s) for s in sizes)


def run_demo(config: DemoConfig | None = None, out_dir="imsim-demo", *,
             command: str | None = None, log: Callable[[str], None] | None = None,
             progress: bool = True) -> DemoRun:
    """Run every experiment of the demo and write its results under ``out_dir``.

    Parameters
    ----------
    config : DemoConfig, optional
        Default: ``DemoConfig.from_preset("default")``.
    out_dir : path-like
        Created if needed; see :mod:`imsim.evaluation.demo` for its layout. A trained
        autoencoder already there with the same configuration and data is reused.
    command : str, optional
        The command line that started the run, recorded in ``run.json``.
    log : callable(str), optional
        Receives one line per step (and per training epoch) as the run goes.
    progress : bool
        Progress bars for training, encoding and searches (on a terminal).

    Returns
    -------
    DemoRun
    """
    config = config or DemoConfig.from_preset("default")
    log = log or (lambda line: None)
    out_dir = Path(out_dir)
    start, cpu_start = time.perf_counter(), time.process_time()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    machine = machine_info()
    steps = []

    t0 = time.perf_counter()
    train, test, note = load_demo_data(config.dataset, config.data_dir, download=config.download)
    if note:
        log(note)
    config = config.for_data(train)
    data = _describe(train, test, note)
    test = test.head(config.n_test)
    data["n_test_used"] = len(test)
    used = _train_images_used(config, len(train))
    log(f"data: {train.name}: {len(train):,} train and {data['n_test']:,} test images of "
        f"{'x'.join(map(str, train.shape))} pixels"
        + (f"; this run uses the first {used:,} train and {len(test):,} test images"
           if (used, len(test)) != (len(train), data["n_test"]) else ""))
    steps.append({"step": "data", "seconds": time.perf_counter() - t0})

    ctx = Context(config, out_dir, train, test, log, progress)
    run = DemoRun(out_dir=out_dir, results_dir=ctx.results_dir, note=note)
    for name, step in STEPS:
        t0 = time.perf_counter()
        result = step(ctx)
        seconds = time.perf_counter() - t0
        result.seconds = seconds
        result.data = {"dataset": data["dataset"], "source": data["source"]}
        write_result(ctx.results_dir, name, result)
        run.results[name] = result.to_dict()
        steps.append({"step": name, "seconds": seconds})
        log(f"{name}: done in {seconds:.1f} s")

    machine["load_average_end"] = load_average()
    info = RunInfo(command=command, started=started, wall_seconds=time.perf_counter() - start,
                   cpu_seconds=time.process_time() - cpu_start, steps=steps, config=config.to_dict(), data=data, machine=machine,
                   out_dir=str(out_dir))
    write_result(ctx.results_dir, "run", info)
    run.results = {"run": info.to_dict(), **run.results}
    return run
