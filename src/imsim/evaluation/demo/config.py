"""The demo's configuration: sizes per preset, and the search sweeps (packaged TOML)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from importlib import resources

from ...datasets import ImageSet

__all__ = ["DemoConfig", "PRESETS", "DATASETS", "SWEEPS_FILE", "load_sweeps", "search_sweep",
           "search_examples"]

PRESETS = ("quick", "default", "full")
DATASETS = ("mnist", "digits")
#: the search sweeps of the presets and of benchmarks/search.py, one packaged file
SWEEPS_FILE = "search_sweeps.toml"


@lru_cache(maxsize=1)
def _sweeps_file() -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    text = resources.files("imsim.evaluation").joinpath(SWEEPS_FILE).read_text(encoding="utf-8")
    return tomllib.loads(text)


def load_sweeps() -> dict:
    """The packaged sweeps: {name: {"run": [...], "example": [...]}} (a fresh copy)."""
    import copy

    return copy.deepcopy(_sweeps_file())


def search_sweep(name: str) -> list[dict]:
    """The sweep ``name`` ("quick", "default", "full" or "benchmark").

    Each entry is one build, in the format of :func:`imsim.evaluation.search.evaluate`:
    ``{"method": "lsh", "build": {...}, "query": [{...}, ...]}``.
    """
    sweeps = load_sweeps()
    if name not in sweeps:
        raise ValueError(f"no search sweep {name!r} in {SWEEPS_FILE}, expected one of "
                         f"{', '.join(sweeps)}")
    return sweeps[name]["run"]


def search_examples(name: str) -> list[dict]:
    """The settings whose answers the report shows: ``{"label", "method", "build", "query"}``.

    Each is one point of :func:`search_sweep` ``(name)`` (same method and build), so the
    index built for the sweep answers the examples too.
    """
    sweep = search_sweep(name)
    examples = [{"label": e["label"], "method": e["method"], "build": e.get("build", {}),
                 "query": e.get("query", {})} for e in load_sweeps()[name].get("example", [])]
    for e in examples:
        if not any(r["method"] == e["method"] and r.get("build", {}) == e["build"]
                   for r in sweep):
            raise ValueError(f"{SWEEPS_FILE}: example {e['label']!r} ({e['method']} "
                             f"{e['build']}) is not one of the {name!r} sweep's builds")
    return examples


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
    ae_epochs: int = 12
    ae_batch: int = 256  # images per step
    ae_filters: tuple[int, ...] = (16, 32, 64)
    ae_hidden: int = 512
    # "stride" or "pool"; this and precision are checked by the models' own configs
    ae_downsample: str = "stride"  # (imsim.models.AutoencoderConfig, TrainConfig)
    latent_dim: int = 10
    # training precision of both models: "auto" is bfloat16 where the device runs it
    # natively (imsim.models.training.fast_bfloat16), else float32
    precision: str = "auto"
    # search: data = first search_data train images, queries = first test images;
    # the sweep of the preset is in search_sweeps.toml
    search_data: int | None = None
    search_queries: int = 2000
    n_examples: int = 6  # queries shown with their neighbours
    example_k: int = 5  # neighbours shown per method
    # EMD vs Manhattan: first emd_queries test images over the first emd_data train images
    emd_queries: int = 300
    emd_data: int | None = None
    emd_windows: tuple[int, ...] = (14, 7, 4, 2)  # window sides in pixels
    # classifier (encoder of the autoencoder + dense head)
    clf_train: int | None = 60000
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
        MNIST training images for 12 epochs in bfloat16 where the CPU has it, the
        classifier on all 60,000 for 1 + 3;
        2,000 queries over 60,000 images; EMD on 300 queries; clustering of the
        10,000 test images); "quick" shrinks every size for a smoke run of under a
        minute; "full" uses every image, every query and the library's epochs.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}, expected one of {', '.join(PRESETS)}")
        sizes = {
            "quick": dict(n_test=1000, ae_train=5000, ae_epochs=3, ae_batch=128,
                          ae_filters=(8, 16, 32),
                          ae_hidden=64, search_data=5000, search_queries=200, n_examples=4,
                          emd_queries=30, emd_data=5000, emd_windows=(7, 4), clf_train=3000,
                          clf_epochs=1,
                          cluster_images=1000, map_points=500, map_method="pca"),
            "default": {},
            "full": dict(ae_epochs=16, search_queries=10000, emd_queries=500,
                         emd_windows=(14, 7, 4, 2, 1), clf_train=60000, clf_epochs=15,
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
                     "ae_batch", "clf_epochs", "n_clusters", "map_points", "latent_dim"):
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
