"""imsim: which images in my collection look like this one?

``__all__`` is the public API. Importing imsim loads no torch, matplotlib or web
framework: those load when a function that needs them runs.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it (loaded on first use)
_LAZY = {
    "ImageSet": "imsim.datasets",
    "read_images": "imsim.datasets",
    "read_labels": "imsim.datasets",
    "read_latent": "imsim.formats.latent",
    "read_imageset": "imsim.datasets",
    "write_images": "imsim.datasets",
    "write_labels": "imsim.datasets",
    "write_latent": "imsim.formats.latent",
    "load_dataset": "imsim.datasets",
    "open_images": "imsim.datasets",
    "load_folder": "imsim.datasets",
    "load_image": "imsim.datasets",
    "image_grid": "imsim.report",
    "AutoencoderConfig": "imsim.models",
    "ConvAutoencoder": "imsim.models",
    "TrainConfig": "imsim.models",
    "fit_autoencoder": "imsim.models",
    "Classifier": "imsim.models",
    "fit_classifier": "imsim.models",
    "save_checkpoint": "imsim.models",
    "load_checkpoint": "imsim.models",
    "Checkpoint": "imsim.models",
    "encode": "imsim.embed",
    "LatentScale": "imsim.formats.latent",
    "write_latent_file": "imsim.formats.latent",
    "write_latent_files": "imsim.formats.latent",
    "read_latent_file": "imsim.formats.latent",
    "pairwise": "imsim.distances",
    "topk": "imsim.distances",
    "emd": "imsim.distances.emd",
    "emd_knn": "imsim.distances.emd_knn",
    "emd_correctness": "imsim.evaluation.emd",
    "Index": "imsim.search",
    "ExactIndex": "imsim.search",
    "LSHIndex": "imsim.search",
    "HNSWIndex": "imsim.search",
    "ReducedIndex": "imsim.search",
    "LatentTable": "imsim.search",
    "ShardedIndex": "imsim.search",
    "Collection": "imsim.collection",
    "evaluate_duplicates": "imsim.collection",
    "KMedians": "imsim.cluster",
    "KMedoids": "imsim.cluster",
    "silhouette": "imsim.cluster",
    "objective": "imsim.cluster",
    "elbow": "imsim.cluster",
    "create_app": "imsim.web",
    "DemoConfig": "imsim.evaluation.demo",
    "run_demo": "imsim.evaluation.demo",
    "build_report": "imsim.report.html",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
