"""The EMD experiment: are EMD neighbours more often of the query's class than Manhattan ones?

For the same queries, the k nearest data images are found by exact Earth Mover's
Distance on window signatures (:func:`imsim.distances.emd_knn.emd_knn`) and by pixel
L1 (:func:`imsim.distances.topk`); correctness is the assignment's "Average
Correct Search Results": the mean over queries of the share of the k neighbours
that carry the query's label (:func:`imsim.evaluation.metrics.label_accuracy`).
Functions return plain data and never print.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from .._validation import check_array, check_ground, check_k, check_positive_int
from ..distances import topk
from ..distances.emd_knn import emd_knn
from .metrics import label_accuracy

__all__ = ["EMDCorrectness", "emd_correctness", "emd_sweep"]


@dataclass(frozen=True)
class EMDCorrectness:
    """One run of the experiment: one window size, EMD against Manhattan.

    Attributes
    ----------
    window : int
        Window side in pixels.
    bins : int
        Bins per signature, ceil(H / window) * ceil(W / window).
    ground : str
        EMD ground distance, "euclidean" or "manhattan".
    k, n_queries, n_data : int
    shortlist : int or None
        L1 shortlist size when EMD re-ranked one (approximate), None when exact.
    emd_correct, manhattan_correct : float
        Average correct search results in [0, 1] (a fraction of the k neighbours).
    emd_seconds, manhattan_seconds : float
        Wall time of each search, seconds (EMD includes the signatures).
    exact_per_query : float
        Mean number of exact EMDs solved per query (pruning leaves the rest).
    """

    window: int
    bins: int
    ground: str
    k: int
    n_queries: int
    n_data: int
    shortlist: int | None
    emd_correct: float
    manhattan_correct: float
    emd_seconds: float
    manhattan_seconds: float
    exact_per_query: float

    def as_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return asdict(self)


def _check_inputs(data, queries, data_labels, query_labels):
    data = check_array(data, name="data", ndim=3)
    queries = check_array(queries, name="queries", ndim=3)
    data_labels = np.asarray(data_labels)
    query_labels = np.asarray(query_labels)
    for name, labels, images, what in (("data_labels", data_labels, data, "data"),
                                       ("query_labels", query_labels, queries, "queries")):
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(f"{name} has shape {labels.shape}, expected ({len(images)},): "
                             f"one label per image of the {what}")
    return data, queries, data_labels, query_labels


def _manhattan(data, queries, data_labels, query_labels, k) -> tuple[float, float]:
    start = time.perf_counter()
    _, I = topk(queries.reshape(len(queries), -1), data.reshape(len(data), -1), k, metric="l1")
    seconds = time.perf_counter() - start
    return label_accuracy(I, data_labels, query_labels, k), seconds


def _emd_run(data, queries, data_labels, query_labels, *, window, k, ground, shortlist,
             n_jobs, manhattan, engine=None) -> EMDCorrectness:
    _, I, stats = emd_knn(queries, data, k=k, window=window, ground=ground,
                          shortlist=shortlist, n_jobs=n_jobs, return_stats=True, engine=engine)
    return EMDCorrectness(
        window=int(window), bins=math.ceil(data.shape[1] / window) * math.ceil(data.shape[2] / window),
        ground=str(ground), k=k, n_queries=len(queries), n_data=len(data),
        shortlist=shortlist, emd_correct=label_accuracy(I, data_labels, query_labels, k),
        manhattan_correct=manhattan[0], emd_seconds=stats.seconds,
        manhattan_seconds=manhattan[1], exact_per_query=float(stats.n_exact.mean()),
    )


def emd_correctness(data, queries, data_labels, query_labels, *, window: int = 4, k: int = 10,
                    ground: str = "euclidean", shortlist: int | None = None,
                    n_jobs: int | None = None, engine=None) -> EMDCorrectness:
    """Correctness and time of EMD k-NN and Manhattan k-NN on the same queries.

    Parameters
    ----------
    data : ndarray of shape (n, H, W), uint8
    queries : ndarray of shape (nq, H, W), uint8
    data_labels : ndarray of shape (n,)
    query_labels : ndarray of shape (nq,)
    window : int
        Window side in pixels for the EMD signatures.
    k : int
        Neighbours per query (the assignment uses 10).
    ground : {"euclidean", "manhattan"}
        EMD ground distance.
    shortlist : int, optional
        Re-rank this many L1 neighbours by EMD instead of the exact EMD search.
    n_jobs : int, optional
        Worker processes for the EMD queries (default: every usable core).
    engine : None, "local", "dask" or :class:`imsim.engine.Engine`
        Run the EMD queries on a distributed engine's workers instead (:mod:`imsim.engine`).

    Returns
    -------
    EMDCorrectness
    """
    data, queries, data_labels, query_labels = _check_inputs(data, queries, data_labels,
                                                             query_labels)
    k = check_k(k, len(data), what="the data")
    ground = check_ground(ground)
    manhattan = _manhattan(data, queries, data_labels, query_labels, k)
    return _emd_run(data, queries, data_labels, query_labels, window=window, k=k, ground=ground,
                    shortlist=shortlist, n_jobs=n_jobs, manhattan=manhattan, engine=engine)


def emd_sweep(data, queries, data_labels, query_labels, *, windows=(14, 7, 4, 2, 1),
              k: int = 10, ground: str = "euclidean", shortlist: int | None = None,
              n_jobs: int | None = None) -> list[EMDCorrectness]:
    """:func:`emd_correctness` for each window size, on the same queries.

    The Manhattan search does not depend on the window: it runs once and its
    correctness and time repeat in every row.

    Parameters
    ----------
    windows : sequence of int
        Window sides in pixels, in the order to run them (small windows cost
        most: B = ceil(H/s) * ceil(W/s) bins per signature).
    Other parameters as :func:`emd_correctness`.

    Returns
    -------
    list of EMDCorrectness, one per window, in the order given
    """
    data, queries, data_labels, query_labels = _check_inputs(data, queries, data_labels,
                                                             query_labels)
    windows = [check_positive_int(w, "window") for w in windows]
    if not windows:
        raise ValueError("windows is empty, expected at least one window size")
    k = check_k(k, len(data), what="the data")
    ground = check_ground(ground)
    manhattan = _manhattan(data, queries, data_labels, query_labels, k)
    return [_emd_run(data, queries, data_labels, query_labels, window=w, k=k, ground=ground,
                     shortlist=shortlist, n_jobs=n_jobs, manhattan=manhattan)
            for w in windows]
