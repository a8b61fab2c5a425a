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
Small uint8 images (reconstructions, query examples, thumbnails) are stored in the
JSON as base64 (:func:`pack_images`).
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from .._io import write_text_atomic
from ..datasets import DatasetUnavailableError, ImageSet, load_dataset

__all__ = ["DemoConfig", "DemoRun", "EXPERIMENTS", "PRESETS", "run_demo", "load_demo_data",
           "load_results", "write_result", "summarize", "data_label", "machine_info",
           "pack_images", "unpack_images"]

PRESETS = ("quick", "default", "full")
DATASETS = ("mnist", "digits")
#: result files in the order the report shows them (run.json comes first)
EXPERIMENTS = ("autoencoder", "search", "emd", "clustering", "classifier")
RESULTS = "results"

# The search sweeps: each entry is one build, each "query" one timed search over all
# queries (the format of imsim.evaluation.search.evaluate and benchmarks/configs).
_EXACT = {"method": "exact"}
_LSH_ASSIGNMENT = {"method": "lsh", "build": {"k": 4, "L": 5}}
_LSH_WIDE = {"method": "lsh", "build": {"k": 8, "L": 20}, "query": [{"max_candidates": 2000}, {}]}
_HNSW = {"method": "hnsw", "build": {"M": 16, "ef_construction": 100},
         "query": [{"ef": 16}, {"ef": 32}, {"ef": 64}, {"ef": 128}]}
_REDUCED = {"method": "reduced", "build": {"rerank": 0},
            "query": [{}, {"rerank": 20}, {"rerank": 100}]}
_SWEEPS = {
    "quick": [_EXACT, _LSH_ASSIGNMENT,
              {**_HNSW, "query": [{"ef": 16}, {"ef": 64}]},
              {**_REDUCED, "query": [{}, {"rerank": 20}]}],
    "default": [_EXACT, _LSH_ASSIGNMENT, _LSH_WIDE, _HNSW, _REDUCED],
    "full": [_EXACT, _LSH_ASSIGNMENT, _LSH_WIDE,
             {"method": "lsh", "build": {"k": 8, "L": 40},
              "query": [{"max_candidates": 3000}, {}]},
             _HNSW, _REDUCED],
}
# One setting per method for the query examples: (label, method, build, query),
# each a point of the sweep above.
_EXAMPLES = {
    "quick": [("Exact", "exact", {}, {}), ("LSH", "lsh", {"k": 4, "L": 5}, {}),
              ("HNSW", "hnsw", {"M": 16, "ef_construction": 100}, {"ef": 64}),
              ("Reduced", "reduced", {"rerank": 0}, {}),
              ("Reduced + rerank 20", "reduced", {"rerank": 20}, {})],
}
_EXAMPLES["default"] = _EXAMPLES["full"] = [
    ("Exact", "exact", {}, {}), ("LSH", "lsh", {"k": 8, "L": 20}, {}),
    ("HNSW", "hnsw", {"M": 16, "ef_construction": 100}, {"ef": 64}),
    ("Reduced", "reduced", {"rerank": 0}, {}),
    ("Reduced + rerank 100", "reduced", {"rerank": 100}, {})]


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and settings of a demo run; ``None`` as a size means the whole split.

    Build one with :meth:`from_preset`; every field can then be changed with
    :func:`dataclasses.replace`.
    """

    preset: str = "default"  # "quick", "default" or "full": where the sizes came from
    dataset: str = "mnist"  # "mnist" (falls back to "digits" when unavailable) or "digits"
    data_dir: str | None = None  # a folder with the MNIST idx files (tried before the cache)
    download: bool = True  # download MNIST into the cache when it is nowhere on disk
    seed: int = 0  # every random choice: splits, weights, hashes, k-means++, samples
    n_test: int | None = None  # test images used (the first of the test split)
    # autoencoder (library architecture; the quick preset uses a smaller one)
    ae_train: int | None = 60000  # training images (the first of the train split)
    ae_epochs: int = 4
    ae_filters: tuple[int, ...] = (16, 32, 64)
    ae_hidden: int = 256
    latent_dim: int = 10
    # search: data = first search_data train images, queries = first test images
    search_data: int | None = None
    search_queries: int = 2000
    n_examples: int = 6  # queries shown with their neighbours
    example_k: int = 5  # neighbours shown per method
    # EMD vs Manhattan: first emd_queries test images over the first emd_data train images
    emd_queries: int = 300
    emd_data: int | None = None
    emd_windows: tuple[int, ...] = (14, 7, 4, 2)  # window sides in pixels
    # classifier (encoder of the autoencoder + dense head)
    clf_train: int | None = 30000
    clf_epochs: int = 3
    # clustering: first cluster_images of cluster_split, in pixels and latents
    cluster_split: str = "test"
    cluster_images: int | None = None
    n_clusters: int = 10
    # the latent map: a seeded sample of test latents, projected by the report
    map_points: int = 2000
    map_method: str = "tsne"  # "tsne", "pca", "umap" or "auto" (imsim.report.map_plots)

    @classmethod
    def from_preset(cls, name: str = "default", **changes) -> "DemoConfig":
        """The sizes of preset ``name`` ("quick", "default", "full"), with ``changes``.

        "default" takes a few minutes on 2 CPU cores (the autoencoder on all 60,000
        MNIST training images for 4 epochs, the classifier on 30,000 for 1 + 3;
        2,000 queries over 60,000 images; EMD on 300 queries; clustering of the
        10,000 test images); "quick" shrinks every size for a smoke run of under a
        minute; "full" uses every image, every query and the library's epochs.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}, expected one of {', '.join(PRESETS)}")
        sizes = {
            "quick": dict(n_test=1000, ae_train=5000, ae_epochs=3, ae_filters=(8, 16, 32),
                          ae_hidden=64, search_data=5000, search_queries=200, n_examples=4,
                          emd_queries=30, emd_data=5000, emd_windows=(7, 4), clf_train=3000,
                          clf_epochs=1,
                          cluster_images=1000, map_points=500, map_method="pca"),
            "default": {},
            "full": dict(ae_epochs=10, search_queries=10000, emd_queries=500,
                         emd_windows=(14, 7, 4, 2, 1), clf_train=60000, clf_epochs=10,
                         cluster_split="train", map_points=5000),
        }[name]
        return cls(preset=name, **{**sizes, **changes})

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}, expected one of "
                             f"{', '.join(PRESETS)}")
        if self.dataset not in DATASETS:
            raise ValueError(f"the demo runs on {' or '.join(DATASETS)}, got {self.dataset!r}")
        if self.cluster_split not in ("train", "test"):
            raise ValueError(f"cluster_split must be 'train' or 'test', got {self.cluster_split!r}")
        for name in ("search_queries", "n_examples", "example_k", "emd_queries", "ae_epochs",
                     "clf_epochs", "n_clusters", "map_points", "latent_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.emd_windows or min(self.emd_windows) < 1:
            raise ValueError(f"emd_windows must be positive window sides, got {self.emd_windows}")

    def to_dict(self) -> dict:
        return asdict(self)

    def for_data(self, train: ImageSet) -> "DemoConfig":
        """This configuration for the training split it will run on.

        EMD windows must fit the images: windows wider than half the image give one
        or two bins, so small images (digits, 8x8) get windows of 4, 2 and 1 pixels.
        A training split smaller than ``ae_train`` or ``clf_train`` (digits) gets more
        epochs, so each model sees about as many images as it would have (at most 30
        epochs).
        """
        side = min(train.shape[:2])
        windows = tuple(w for w in self.emd_windows if 2 * w <= side)
        if len(windows) < 2:
            windows = tuple(w for w in (4, 2, 1) if 2 * w <= side) or (1,)
        def epochs(n_epochs: int, budget: int | None) -> int:
            if budget is None or len(train) >= budget:
                return n_epochs
            return min(30, max(n_epochs, math.ceil(n_epochs * budget / len(train))))

        return replace(self, dataset=train.meta.get("dataset", self.dataset),
                       emd_windows=windows, ae_epochs=epochs(self.ae_epochs, self.ae_train),
                       clf_epochs=epochs(self.clf_epochs, self.clf_train))


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


# ------------------------------------------------------------------ JSON helpers

def pack_images(images) -> dict:
    """uint8 images (any shape) -> a JSON-ready dict: dtype, shape, base64 bytes."""
    a = np.ascontiguousarray(images, dtype=np.uint8)
    return {"dtype": "uint8", "shape": list(a.shape),
            "base64": base64.b64encode(a.tobytes()).decode("ascii")}


def unpack_images(packed: dict) -> np.ndarray:
    """The array that :func:`pack_images` packed (uint8, its shape)."""
    if packed.get("dtype") != "uint8":
        raise ValueError(f"expected packed uint8 images, got dtype {packed.get('dtype')!r}")
    raw = base64.b64decode(packed["base64"])
    return np.frombuffer(raw, dtype=np.uint8).reshape(packed["shape"]).copy()


def _plain(obj):
    """JSON-ready copy: numpy scalars and arrays become Python ones; NaN and inf become None."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_result(results_dir, name: str, content: dict) -> Path:
    """Write one experiment's results as ``<results_dir>/<name>.json`` (atomically).

    Numpy values become plain JSON; NaN and infinities become ``null``.
    """
    path = Path(results_dir) / f"{name}.json"
    write_text_atomic(path, json.dumps(_plain(content), indent=1) + "\n")
    return path


def load_results(results_dir) -> dict:
    """Every result file of a demo run: {name: content}; "run" must be there.

    Parameters
    ----------
    results_dir : path-like
        The ``results`` folder, or the demo's output folder that holds it.

    Returns
    -------
    dict
        "run" plus the experiments of :data:`EXPERIMENTS` that were found.
    """
    results_dir = Path(results_dir)
    if (results_dir / RESULTS / "run.json").is_file():
        results_dir = results_dir / RESULTS
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results folder not found: {results_dir}")
    if not (results_dir / "run.json").is_file():
        raise FileNotFoundError(f"{results_dir} holds no run.json: not the results of "
                                f"`imsim demo` (expected {results_dir}/run.json or "
                                f"{results_dir}/{RESULTS}/run.json)")
    out = {}
    for name in ("run", *EXPERIMENTS):
        path = results_dir / f"{name}.json"
        if path.is_file():
            try:
                out[name] = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: not valid JSON ({exc})") from None
    return out


# ------------------------------------------------------------------ the machine

def machine_info() -> dict:
    """CPU model, cores, memory, load and library versions of this machine (plain data)."""
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__
    from ..distances import backend

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
            "distance_kernel": backend(),
            # settings that change the speed of the same code
            "environment": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "IMSIM_THREADS",
                                                           "OMP_NUM_THREADS")},
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


# ------------------------------------------------------------------ data

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


def data_label(data: dict) -> str:
    """A data description from ``run.json`` as "mnist (data dir ../datasets/mnist)"."""
    where = data.get("source") or ""
    if data.get("location"):
        where += f" {data['location']}"
    return f"{data['dataset']} ({where.strip()})" if where.strip() else str(data["dataset"])


def _one_per_class(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` row positions, drawn from as many different labels as possible."""
    picks = []
    for c in rng.permutation(np.unique(labels))[:n]:
        picks.append(int(rng.choice(np.flatnonzero(labels == c))))
    rest = np.setdiff1d(np.arange(len(labels)), picks)
    picks += [int(i) for i in rng.choice(rest, size=min(n - len(picks), len(rest)),
                                         replace=False)]
    return np.array(sorted(picks, key=lambda i: labels[i]), dtype=np.int64)


# ------------------------------------------------------------------ the steps

class _Context:
    """State shared by the steps of one run: data, latents, paths, the log."""

    def __init__(self, config: DemoConfig, out_dir: Path, train, test, log, progress: bool):
        self.config, self.out_dir, self.log, self.progress = config, out_dir, log, progress
        self.results_dir = out_dir / RESULTS
        self.train, self.test = train, test
        self.rng = np.random.default_rng(config.seed)
        self.model = None
        self.model_key = None  # what the autoencoder was trained from (for the classifier cache)
        self.z_train = self.z_test = None  # float32 latents read back from the latent files
        self.classes = None  # the classifier's class of each test (or train) image


def _digest(pixels: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{pixels.shape}".encode())
    h.update(np.ascontiguousarray(pixels).data)
    return h.hexdigest()


def _cached_model(model_dir: Path, key: dict, architecture: str):
    """The checkpoint in ``model_dir`` when it was trained by a demo with this ``key``."""
    from ..models import load_checkpoint, read_checkpoint_meta

    try:
        meta = read_checkpoint_meta(model_dir)
    except (OSError, ValueError):
        return None
    if meta.get("extra", {}).get("demo") != _plain(key):
        return None
    return load_checkpoint(model_dir, architecture=architecture)


def _autoencoder_step(ctx: _Context) -> dict:
    """Train (or reuse) the autoencoder, write the latent files, keep a few pictures."""
    from ..embed import encode, fit_scale, read_latent_file, reconstruct, write_latent_file
    from ..models import (AutoencoderConfig, TrainConfig, fit_autoencoder, save_checkpoint,
                          update_checkpoint_meta)

    c = ctx.config
    images = ctx.train.head(c.ae_train)
    model_config = AutoencoderConfig(input_shape=images.shape, filters=list(c.ae_filters),
                                     n_layers=len(c.ae_filters), hidden_dim=c.ae_hidden,
                                     latent_dim=c.latent_dim)
    train_config = TrainConfig(epochs=c.ae_epochs, seed=c.seed)
    data = ctx.train.head(c.search_data)
    model_dir = ctx.out_dir / "models" / "autoencoder"
    key = {"data": _digest(images.images), "model": model_config.to_dict(),
           "train": train_config.to_dict()}
    ctx.model_key = _plain(key)
    model = _cached_model(model_dir, key, "ConvAutoencoder")
    cached = model is not None
    if cached:
        history = model.history
        ctx.log(f"autoencoder: reusing the model in {model_dir} (same configuration and data)")
    else:
        ctx.log(f"autoencoder: training on {len(images)} images, {c.ae_epochs} epochs, "
                f"latent {c.latent_dim}")
        model, history = fit_autoencoder(
            images, model_config, train_config, progress=ctx.progress,
            callback=lambda r: ctx.log(f"  epoch {r['epoch']}/{c.ae_epochs}  train MSE "
                                       f"{r['train_loss']:.5f}  val MSE {r['val_loss']:.5f}  "
                                       f"({r['seconds']:.1f} s)"))
    start = time.perf_counter()
    z_data = encode(model, data, progress=ctx.progress)
    z_test = encode(model, ctx.test, progress=ctx.progress)
    encode_s = time.perf_counter() - start
    # the scale is fitted once, on the data set, and reused for the queries
    scale = fit_scale(z_data)
    if cached:  # the data set may have changed since: keep the checkpoint's scale in step
        update_checkpoint_meta(model_dir, latent_scale=scale)
    else:
        save_checkpoint(model_dir, model, history=history, latent_scale=scale,
                        extra={"train_config": train_config.to_dict(), "demo": _plain(key)})
    latent_dir = ctx.out_dir / "latent"
    files = {"train": write_latent_file(latent_dir / "train.latent", z_data, scale),
             "test": write_latent_file(latent_dir / "test.latent", z_test, scale)}
    ctx.z_train, _ = read_latent_file(files["train"])
    ctx.z_test, _ = read_latent_file(files["test"])
    ctx.model = model

    picks = _one_per_class(ctx.test.labels, 10, np.random.default_rng(c.seed))
    originals = ctx.test.images[picks]
    rng = np.random.default_rng(c.seed + 1)
    sample = np.sort(rng.choice(len(ctx.test), size=min(c.map_points, len(ctx.test)),
                                replace=False))
    thumbs = np.sort(rng.choice(len(sample), size=min(30, len(sample)), replace=False))
    return {
        "experiment": "autoencoder",
        "params": {"model": model_config.to_dict(), "train": train_config.to_dict(),
                   "n_train_images": len(images), "n_parameters":
                   int(sum(p.numel() for p in model.parameters()))},
        "cached": cached, "model_dir": str(model_dir),
        "history": history.to_dict() if history is not None else None,
        "train_seconds": history.seconds if history is not None else None,
        "best_val_mse": history.best_val_loss if history is not None else None,
        "encode": {"n_images": len(data) + len(ctx.test), "seconds": encode_s},
        "latent_files": {k: {"path": str(p), "n": n} for (k, p), n in
                         zip(files.items(), (len(data), len(ctx.test)))},
        "latent_scale": scale.to_json(),
        "clipped_test_share": float(((z_test < scale.min) | (z_test > scale.max)).mean()),
        "reconstructions": {"labels": ctx.test.labels[picks], "originals": pack_images(originals),
                            "reconstructions": pack_images(reconstruct(model, originals))},
        "map": {"split": "test", "method": c.map_method, "seed": c.seed, "rows": sample,
                "latents": np.round(ctx.z_test[sample], 5), "labels": ctx.test.labels[sample],
                "classes": _class_names(ctx.train), "thumbnails": thumbs,
                "thumbnail_images": pack_images(ctx.test.images[sample[thumbs]])},
    }


def _class_names(images: ImageSet) -> list[str]:
    names = images.meta.get("classes")
    return list(names) if names else [str(v) for v in np.unique(images.labels)]


def _search_step(ctx: _Context) -> dict:
    """The sweep of every method over the first queries, and a few queries' answers."""
    from ..distances import distances_at
    from .search import evaluate, make_index

    c = ctx.config
    data = ctx.train.head(c.search_data)
    queries = ctx.test.head(c.search_queries)
    X, Q = data.flat(), queries.flat()
    Zx, Zq = ctx.z_train, ctx.z_test[:len(Q)]
    sweep = _SWEEPS[c.preset]
    ctx.log(f"search: {len(Q)} queries over {len(X)} images, "
            f"{sum(len(s.get('query') or [{}]) for s in sweep)} settings of "
            f"{len(sweep)} indexes")
    records = evaluate(X, Q, sweep, dataset=ctx.train.meta.get("dataset", "data"), Zx=Zx, Zq=Zq,
                       k=10, cache_dir=ctx.out_dir / "cache", show_progress=ctx.progress)

    picks = _one_per_class(queries.labels, min(c.n_examples, len(Q)),
                           np.random.default_rng(c.seed + 2))
    k = min(c.example_k, len(X))
    methods = []
    for label, method, build, query in _EXAMPLES[c.preset]:
        index = make_index(method, build)
        extra = {"Z": Zx} if method == "reduced" else {}
        index.fit(X, **extra)
        extra = {"Z": Zq[picks]} if method == "reduced" else {}
        _, I = index.search(Q[picks], k, **extra, **query)
        # every method's answers measured in pixels, whatever space it searched in
        D = distances_at(Q[picks], X, I)
        found = np.where(I >= 0, I, 0)
        methods.append({"label": label, "method": method, "params": {**build, **query},
                        "ids": I, "distances": D,
                        "labels": np.where(I >= 0, data.labels[found], -1),
                        "images": pack_images(np.where((I >= 0)[..., None, None],
                                                       data.images[found], 255))})
    return {
        "experiment": "search",
        "params": {"n_data": len(X), "n_queries": len(Q), "dimensions": X.shape[1], "k": 10,
                   "metric": "l1", "latent": f"autoencoder latents ({Zx.shape[1]} dimensions, "
                                             f"read back from the latent files)",
                   "sweep": sweep, "data": "first images of the train split",
                   "queries": "first images of the test split"},
        "records": records,
        "examples": {"query_rows": picks, "query_labels": queries.labels[picks],
                     "queries": pack_images(queries.images[picks]), "k": k, "methods": methods},
    }


def _emd_step(ctx: _Context) -> dict:
    """EMD against Manhattan: correctness of the 10 nearest, per window size."""
    from .emd import emd_sweep

    c = ctx.config
    data = ctx.train.head(c.emd_data)
    queries = ctx.test.head(c.emd_queries)
    ctx.log(f"EMD: {len(queries)} queries over {len(data)} images, windows "
            f"{', '.join(map(str, c.emd_windows))}")
    results = emd_sweep(data.images, queries.images, data.labels, queries.labels,
                        windows=c.emd_windows, k=min(10, len(data)))
    return {"experiment": "emd",
            "params": {"n_data": len(data), "n_queries": len(queries), "k": min(10, len(data)),
                       "ground": "euclidean", "windows": list(c.emd_windows),
                       "correct": "share of the k neighbours with the query's label"},
            "results": [r.as_dict() for r in results]}


def _classifier_step(ctx: _Context) -> dict:
    """The classifier (encoder + dense head): test accuracy, per-class report, confusion.

    Sets ``ctx.classes`` to its predictions on the clustering images, for the
    "classes as clusters" labelling.
    """
    from ..models import (TrainConfig, classification_scores, fit_classifier, predict,
                          save_checkpoint)

    c = ctx.config
    images = ctx.train.head(c.clf_train)
    names = _class_names(ctx.train)
    # fit_classifier's own defaults (lr 5e-3, random shifts of 2 pixels, 10% validation)
    # with the demo's epochs and seed; small images (digits, 8x8) are not shifted: 2
    # pixels would move a quarter of them
    shift = 2 if min(images.shape[:2]) >= 16 else 0
    train_config = TrainConfig(epochs=c.clf_epochs, lr=5e-3, shift=shift, val_fraction=0.1,
                               seed=c.seed)
    head = {"fc_units": 128, "dropout": 0.3, "head_epochs": 1}
    model_dir = ctx.out_dir / "models" / "classifier"
    key = {"data": _digest(images.images), "autoencoder": ctx.model_key, "head": head,
           "train": train_config.to_dict()}
    model = _cached_model(model_dir, key, "Classifier")
    cached = model is not None
    if cached:
        history = model.history
        ctx.log(f"classifier: reusing the model in {model_dir} (same configuration and data)")
    else:
        ctx.log(f"classifier: training on {len(images)} images, {head['head_epochs']} epoch "
                f"of the head alone, then {c.clf_epochs} of everything")
        model, history = fit_classifier(
            ctx.model, images, images.labels, n_classes=len(names), train_config=train_config,
            progress=ctx.progress, **head,
            callback=lambda r: ctx.log(f"  epoch {r['epoch']} (phase {r['phase']})  train loss "
                                       f"{r['train_loss']:.4f}  val accuracy "
                                       f"{r['val_accuracy']:.4f}  ({r['seconds']:.1f} s)"))
        save_checkpoint(model_dir, model, history=history,
                        extra={"train_config": train_config.to_dict(), "demo": _plain(key)})
    start = time.perf_counter()
    predicted = predict(model, ctx.test)
    predict_s = time.perf_counter() - start
    scores = classification_scores(ctx.test.labels, predicted, n_classes=len(names))
    if c.cluster_split == "test":
        ctx.classes = predicted
    else:
        ctx.classes = predict(model, ctx.train.head(c.cluster_images))
    rng = np.random.default_rng(c.seed + 3)
    examples = {}
    for kind, mask in (("correct", predicted == ctx.test.labels),
                       ("incorrect", predicted != ctx.test.labels)):
        rows = np.flatnonzero(mask)
        rows = np.sort(rng.choice(rows, size=min(36, len(rows)), replace=False))
        examples[kind] = {"images": pack_images(ctx.test.images[rows]),
                          "true": ctx.test.labels[rows], "predicted": predicted[rows]}
    return {"experiment": "classifier", "status": "ok",
            "params": {"n_train_images": len(images), "n_test_images": len(ctx.test),
                       "train": train_config.to_dict(), **head, "classes": names,
                       "features": "the autoencoder's conv blocks (its weights to start)"},
            "cached": cached, "history": history.to_dict() if history is not None else None,
            "train_seconds": history.seconds if history is not None else None,
            "predict_seconds": predict_s, **scores, "examples": examples}


def _clustering_step(ctx: _Context) -> dict:
    """k-medians in the latent and the pixel space, and the classifier's classes."""
    from .clustering import compare_clusterings

    c = ctx.config
    split = ctx.test if c.cluster_split == "test" else ctx.train
    latents = ctx.z_test if c.cluster_split == "test" else ctx.z_train
    images = split.head(c.cluster_images)
    n = len(images)
    if len(latents) < n:
        raise ValueError(f"{n} images to cluster but only {len(latents)} latent vectors")
    classes = None if ctx.classes is None else ctx.classes[:n]
    ctx.log(f"clustering: {n} images, k={c.n_clusters}, new space vs original space"
            + (" vs classes" if classes is not None else ""))
    comparison = compare_clusterings(images.images, c.n_clusters, X_latent=latents[:n],
                                     classes=classes, true_labels=images.labels,
                                     random_state=c.seed)
    results = []
    for r in comparison.results:
        s = r.scores
        results.append({
            "name": r.name, "k": len(r.sizes), "sizes": r.sizes,
            "clustering_time": r.clustering_time, "n_iter": r.n_iter, "objective": r.objective,
            "silhouette": {"total": r.silhouette.total, "per_cluster": r.silhouette.per_cluster,
                           "samples": np.round(r.silhouette.samples, 4)},
            "labels": r.labels,
            "scores": {"purity": s.purity, "ari": s.ari, "nmi": s.nmi,
                       "label_values": s.label_values, "correct": s.correct,
                       "incorrect": s.incorrect}})
    return {"experiment": "clustering",
            "params": {"n_images": n, "split": c.cluster_split, "n_clusters": c.n_clusters,
                       "seed": c.seed, "metric": "l1, original space (pixels)",
                       "latent_dimensions": int(latents.shape[1]),
                       "classes": "classifier predictions" if classes is not None else None},
            "silhouette_time": comparison.silhouette_time, "results": results}


# ------------------------------------------------------------------ the run

def run_demo(config: DemoConfig | None = None, out_dir="imsim-demo", *,
             command: str | None = None, log: Callable[[str], None] | None = None,
             progress: bool = True) -> DemoRun:
    """Run every experiment of the demo and write its results under ``out_dir``.

    Parameters
    ----------
    config : DemoConfig, optional
        Default: ``DemoConfig.from_preset("default")``.
    out_dir : path-like
        Created if needed; see the module docstring for its layout. A trained
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
    log(f"data: {train.name}: {len(train)} train and {len(test)} test images of "
        f"{'x'.join(map(str, train.shape))} pixels")
    steps.append({"step": "data", "seconds": time.perf_counter() - t0})

    ctx = _Context(config, out_dir, train, test, log, progress)
    run = DemoRun(out_dir=out_dir, results_dir=ctx.results_dir, note=note)
    for name, step in (("autoencoder", _autoencoder_step), ("search", _search_step),
                       ("emd", _emd_step), ("classifier", _classifier_step),
                       ("clustering", _clustering_step)):
        t0 = time.perf_counter()
        result = step(ctx)
        seconds = time.perf_counter() - t0
        result["seconds"] = seconds
        result["data"] = {"dataset": data["dataset"], "source": data["source"]}
        write_result(ctx.results_dir, name, result)
        run.results[name] = result
        steps.append({"step": name, "seconds": seconds})
        log(f"{name}: done in {seconds:.1f} s")

    machine["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    run.results["run"] = {
        "experiment": "run", "command": command, "started": started,
        "wall_seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start, "steps": steps, "config": config.to_dict(),
        "data": data, "machine": machine, "out_dir": str(out_dir)}
    write_result(ctx.results_dir, "run", run.results["run"])
    run.results = _plain(run.results)
    return run


# ------------------------------------------------------------------ summary

def _record_for(records: list[dict], method: str, params: dict) -> dict | None:
    """The sweep record of ``method`` run with exactly ``params`` (build and query merged)."""
    return next((r for r in records if r["method"] == method and r["params"] == params), None)


def summarize(results: dict) -> list[dict]:
    """One row per step of a demo's results: {"step", "result", "seconds"}.

    ``results`` is what :func:`load_results` returns (or :attr:`DemoRun.results`);
    every number is read from it.
    """
    seconds = {s["step"]: s["seconds"] for s in results["run"]["steps"]}
    rows = []
    d = results["run"]["data"]
    rows.append({"step": "data", "seconds": seconds.get("data"),
                 "result": f"{data_label(d)}: {d['n_train']} train / "
                           f"{d.get('n_test_used', d['n_test'])} test images of "
                           f"{'x'.join(map(str, d['image_shape']))} pixels"})
    ae = results.get("autoencoder")
    if ae:
        epochs = len(ae["history"]["epochs"]) if ae.get("history") else 0
        text = (f"val MSE {ae['best_val_mse']:.4f} after {epochs} epochs on "
                f"{ae['params']['n_train_images']} images")
        rows.append({"step": "autoencoder", "seconds": seconds.get("autoencoder"),
                     "result": text + (" (cached model)" if ae["cached"] else "")})
    se = results.get("search")
    if se:
        parts = []
        for m in se["examples"]["methods"]:
            r = _record_for(se["records"], m["method"], m["params"])
            if r is not None:
                parts.append(f"{m['label']} {r['ms_per_query']:.3g} ms/query, "
                             f"factor {r['approx_factor']:.3f}")
        rows.append({"step": "search", "seconds": seconds.get("search"),
                     "result": "; ".join(parts)})
    emd = results.get("emd")
    if emd and emd["results"]:
        best = max(emd["results"], key=lambda r: r["emd_correct"])
        rows.append({"step": "emd", "seconds": seconds.get("emd"),
                     "result": f"correct: EMD {best['emd_correct']:.3f} (window "
                               f"{best['window']}) vs Manhattan {best['manhattan_correct']:.3f}"})
    clf = results.get("classifier")
    if clf:
        text = (f"test accuracy {clf['accuracy']:.2%} (trained on "
                f"{clf['params']['n_train_images']} images)" if clf.get("status") == "ok"
                else f"skipped ({clf.get('reason', 'not run')})")
        rows.append({"step": "classifier", "seconds": seconds.get("classifier"), "result": text})
    cl = results.get("clustering")
    if cl:
        short = {"NEW SPACE": "new", "ORIGINAL SPACE": "original", "CLASSES AS CLUSTERS": "classes"}
        text = ", ".join(f"{short.get(r['name'], r['name'])} {r['silhouette']['total']:+.3f}"
                         for r in cl["results"])
        rows.append({"step": "clustering", "seconds": seconds.get("clustering"),
                     "result": f"silhouette {text}"})
    return rows

