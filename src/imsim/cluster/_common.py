"""Checks shared by the clustering modules."""
from __future__ import annotations

import numpy as np

from .._validation import check_positive_int


def check_labels(labels, n: int, n_clusters=None, name: str = "labels") -> tuple[np.ndarray, int]:
    """``labels`` as int64 of shape (n,) in 0..K-1, and K (``n_clusters`` or max + 1)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"{name} has shape {labels.shape}, expected ({n},) like the data")
    if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers 0..K-1, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    if n and labels.min() < 0:
        raise ValueError(f"{name} must be integers 0..K-1, found {labels.min()}")
    top = int(labels.max()) + 1 if n else 0
    if n_clusters is None:
        return labels, top
    n_clusters = check_positive_int(n_clusters, "n_clusters")
    if top > n_clusters:
        raise ValueError(f"{name} holds cluster {top - 1} but n_clusters={n_clusters}")
    return labels, int(n_clusters)
