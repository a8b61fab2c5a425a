"""The k-medians objective of any labelling, measured in a space of one's choice.

A clustering found in one space (say autoencoder latents) is judged in another
(the original pixels) by taking the medians of its members there: the objective
is what k-medians would report for that labelling in that space, so clusterings
found in different spaces, or given by a classifier, become comparable.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_labels, check_same_dims
from ..distances import pairwise
from .kmedians import _medians

__all__ = ["objective"]


def objective(X, labels, n_clusters=None, *, centers=None) -> float:
    """Sum of L1 distances from every point to the median of its cluster.

    Parameters
    ----------
    X : ndarray of shape (N, d), uint8 pixels or float latents
        The space to measure in (for the assignment's comparison: the original
        pixels, flattened).
    labels : ndarray of shape (N,), int, clusters numbered 0..K-1
    n_clusters : int, optional
        K (default: largest label + 1); empty clusters add nothing.
    centers : ndarray of shape (K, d), optional
        The coordinate-wise medians of the clusters in ``X`` if already computed
        (:func:`imsim.cluster.medians`), to avoid computing them twice; other
        centres give the L1 cost of assigning each point to its cluster's centre.

    Returns
    -------
    float
        In the units of ``X`` (pixel intensities for uint8; an exact integer there).
    """
    X = check_array(X, name="X")
    labels, k = check_labels(labels, len(X), n_clusters)
    if centers is None:
        centers = _medians(X, labels, k)
    else:
        centers = check_array(centers, name="centers")
        check_same_dims(centers, X, "centers", "X")
        if len(centers) < k:
            raise ValueError(f"{len(centers)} centres for {k} clusters")
    order = np.argsort(labels, kind="stable")
    ends = np.cumsum(np.bincount(labels, minlength=k))
    total = 0.0
    for c in range(k):
        members = order[(ends[c - 1] if c else 0):ends[c]]
        if len(members):
            D = pairwise(X[members], centers[c:c + 1], metric="l1")
            # int32 pixel distances summed as int64: exact
            total += float(D.sum(dtype=np.int64 if D.dtype == np.int32 else np.float64))
    return total
