"""The clustering comparison: new space vs original space vs classes as clusters.

Three labellings of the same images — k-medians on the latent vectors ("new
space"), k-medians on the pixels ("original space"), and a classifier's classes
("classes as clusters") — are all measured in the ORIGINAL space with L1: exact
silhouette (one shared pass over the N^2 / 2 pixel distances) and the k-medians
objective with pixel medians as centres. The original programs measured each in
its own space, so their numbers could not be compared. With true labels, each
clustering is also scored as a classifier (cluster -> its majority label):
purity, adjusted Rand index and normalized mutual information.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_k, check_labels
from ..cluster import KMedians, SilhouetteResult, medians, objective, silhouettes
from ..formats.cluster import ClusterSection

__all__ = ["LabelScores", "ClusteringResult", "ClusteringComparison", "label_scores",
           "compare_clusterings"]


@dataclass(frozen=True)
class LabelScores:
    """A clustering read as a classifier through its clusters' majority labels.

    Attributes
    ----------
    cluster_label : ndarray of shape (K,), int64
        Majority true label of each cluster (ties: the smaller label; -1 if empty).
    found : ndarray of shape (N,), int64
        Label found for each image: its cluster's majority label.
    purity : float
        Fraction of images whose found label is their true label.
    ari, nmi : float
        Adjusted Rand index and normalized mutual information (scikit-learn) of
        clusters against true labels.
    label_values : ndarray of shape (L,), int64
        The true labels present, ascending.
    correct, incorrect : ndarray of shape (L,), int64
        Per true label, images whose found label is right / wrong.
    """

    cluster_label: np.ndarray
    found: np.ndarray
    purity: float
    ari: float
    nmi: float
    label_values: np.ndarray
    correct: np.ndarray
    incorrect: np.ndarray


@dataclass(frozen=True)
class ClusteringResult:
    """One clustering, measured in the original space.

    Attributes
    ----------
    name : str
        "NEW SPACE", "ORIGINAL SPACE" or "CLASSES AS CLUSTERS".
    labels : ndarray of shape (N,), int64
    sizes : ndarray of shape (K,), int64
    centroids : ndarray of shape (K, d)
        Coordinate-wise medians of each cluster's images in the original space
        (uint8 lower medians for pixels).
    clustering_time : float or None
        Seconds k-medians took (None for the classes).
    n_iter : int or None
        k-medians iterations.
    silhouette : SilhouetteResult
        Exact, L1, original space.
    objective : float
        Sum of L1 distances from each image to its cluster's median, original space.
    scores : LabelScores or None
        With true labels only.
    """

    name: str
    labels: np.ndarray
    sizes: np.ndarray
    centroids: np.ndarray
    clustering_time: float | None
    n_iter: int | None
    silhouette: SilhouetteResult
    objective: float
    scores: LabelScores | None = None

    def to_section(self) -> ClusterSection:
        """This result as a section of the output file (the classes list no clusters)."""
        listed = self.clustering_time is not None
        return ClusterSection(
            name=self.name, silhouette=self.silhouette.per_cluster,
            silhouette_total=self.silhouette.total, objective=self.objective,
            sizes=self.sizes if listed else None, centroids=self.centroids if listed else None,
            clustering_time=self.clustering_time)


@dataclass(frozen=True)
class ClusteringComparison:
    """The clusterings compared, in order: new space, original space, classes.

    Attributes
    ----------
    results : list of ClusteringResult
    silhouette_time : float
        Seconds for the exact silhouettes of all of them (one shared pass).
    """

    results: list
    silhouette_time: float


def label_scores(labels, true_labels, n_clusters=None) -> LabelScores:
    """Score a clustering against true labels (cluster -> its majority label).

    Parameters
    ----------
    labels : ndarray of shape (N,), int, clusters 0..K-1
    true_labels : ndarray of shape (N,), int >= 0
    n_clusters : int, optional

    Returns
    -------
    LabelScores
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    true = np.asarray(true_labels)
    labels, k = check_labels(labels, len(true), n_clusters)
    true, _ = check_labels(true, len(true), name="true labels")
    n_true = int(true.max()) + 1
    table = np.zeros((k, n_true), dtype=np.int64)
    np.add.at(table, (labels, true), 1)
    cluster_label = np.where(table.sum(axis=1) > 0, table.argmax(axis=1), -1)
    found = cluster_label[labels]
    right = found == true
    values = np.unique(true)
    correct = np.bincount(true[right], minlength=n_true)[values]
    total = np.bincount(true, minlength=n_true)[values]
    return LabelScores(
        cluster_label=cluster_label, found=found, purity=float(right.mean()),
        ari=float(adjusted_rand_score(true, labels)),
        nmi=float(normalized_mutual_info_score(true, labels)),
        label_values=values, correct=correct, incorrect=total - correct)


def compare_clusterings(X_original, n_clusters: int, *, X_latent=None, classes=None,
                        true_labels=None, seed=0, n_init: int = 1, max_iter: int = 300,
                        tol: float = 1e-4, random_state=None, engine=None) -> ClusteringComparison:
    """Cluster in the new and the original space and compare with the classes.

    Parameters
    ----------
    X_original : ndarray of shape (N, ...) , uint8
        The images (flattened to (N, d) here); every measure is taken on them.
    n_clusters : int
        k for both k-medians runs.
    X_latent : ndarray of shape (N, m), optional
        Latent vectors (uint16 latent-file values or floats): the "new space"
        clustering; skipped when None.
    classes : ndarray of shape (N,), int, optional
        A classifier's 0-based class per image: "classes as clusters"; skipped when None.
    true_labels : ndarray of shape (N,), int, optional
        Adds :class:`LabelScores` to every result.
    seed, n_init, max_iter, tol
        Passed to :class:`~imsim.cluster.KMedians` (the same seed for both spaces).
    random_state : alias of ``seed`` (scikit-learn's name); wins when given
    engine : None, "local", "dask" or :class:`imsim.engine.Engine`
        Where the exact silhouettes run (:mod:`imsim.engine`); the k-medians runs stay here.

    Returns
    -------
    ClusteringComparison
        Results in the order new space, original space, classes (those given).
    """
    X = np.asarray(X_original)
    X = check_array(X.reshape(len(X), -1) if X.ndim > 2 else X, name="X_original")
    n = len(X)
    k = check_k(n_clusters, n, name="n_clusters", what="X_original")
    if true_labels is not None and len(true_labels) != n:
        raise ValueError(f"{len(true_labels)} true labels for {n} images")
    runs = []  # (name, labels, k, seconds, n_iter)
    spaces = [("ORIGINAL SPACE", X)]
    if X_latent is not None:
        Z = check_array(X_latent, name="X_latent")
        if len(Z) != n:
            raise ValueError(f"X_latent has {len(Z)} vectors but X_original has {n} images")
        spaces.insert(0, ("NEW SPACE", Z))
    for name, data in spaces:
        km = KMedians(k, n_init=n_init, max_iter=max_iter, tol=tol, seed=seed,
                      random_state=random_state)
        t0 = time.perf_counter()
        km.fit(data)
        runs.append((name, km.labels_, k, time.perf_counter() - t0, km.n_iter_))
    if classes is not None:
        cls, kc = check_labels(classes, n, name="classes")
        runs.append(("CLASSES AS CLUSTERS", cls, kc, None, None))

    t0 = time.perf_counter()
    sils = silhouettes(X, [r[1] for r in runs], metric="l1", n_clusters=[r[2] for r in runs],
                       engine=engine)
    sil_time = time.perf_counter() - t0
    results = []
    for (name, labels, kk, seconds, n_iter), sil in zip(runs, sils):
        centroids = medians(X, labels, kk)
        scores = None if true_labels is None else label_scores(labels, true_labels, kk)
        results.append(ClusteringResult(
            name=name, labels=labels, sizes=np.bincount(labels, minlength=kk),
            centroids=centroids, clustering_time=seconds, n_iter=n_iter, silhouette=sil,
            objective=objective(X, labels, kk, centers=centroids), scores=scores))
    return ClusteringComparison(results=results, silhouette_time=sil_time)
