"""The demo: every experiment of imsim on one data set, each saved as a JSON file.

:func:`run_demo` trains (or reuses) the autoencoder, writes the latent files, then
runs the search comparison, the EMD sweep, the classifier and the clustering
comparison, and writes one JSON file per experiment, so the HTML report
(:func:`imsim.report.html.build_report`) can be rebuilt from them alone. Everything
goes under one folder::

    <out>/models/autoencoder/     checkpoint, reused when its configuration and data match
    <out>/models/classifier/
    <out>/latent/train.latent     data-set latents (0..25500) + train.latent.json (scale)
    <out>/latent/test.latent      query latents, same scale
    <out>/cache/                  exact ground truth of the search (reused by reruns)
    <out>/results/run.json        machine, command, configuration, data, time per step
    <out>/results/<experiment>.json   autoencoder, search, emd, classifier, clustering

Sizes come from a preset (:meth:`DemoConfig.from_preset`): ``"default"`` takes a few
minutes on 2 CPU cores, ``"quick"`` under a minute, ``"full"`` the whole data set.
The search sweeps of the presets are data: ``imsim/evaluation/search_sweeps.toml``
(shared with ``benchmarks/search.py``).

The modules: :mod:`.config` (presets, sweeps), :mod:`.steps` (one function per
experiment), :mod:`.results` (one type per result file, ``to_dict``/``from_dict``;
the report reads only these), :mod:`.machine`, :mod:`.summary`, :mod:`.run`.
"""
from .config import PRESETS, DemoConfig, search_examples, search_sweep
from .machine import machine_info
from .results import (EXPERIMENTS, RESULTS, DemoResults, data_label, load_results,
                      pack_images, read_results, unpack_images, write_result)
from .run import DemoRun, load_demo_data, run_demo
from .summary import summarize

__all__ = ["DemoConfig", "DemoRun", "DemoResults", "EXPERIMENTS", "PRESETS", "RESULTS",
           "run_demo", "load_demo_data", "load_results", "read_results", "write_result",
           "summarize", "data_label", "machine_info", "pack_images", "unpack_images",
           "search_sweep", "search_examples"]
