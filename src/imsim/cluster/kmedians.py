"""k-medians (Lloyd's algorithm with L1 and coordinate-wise medians), k-means++ seeding.

The objective is the sum of L1 distances from every point to the median of its
cluster. Each iteration assigns every point to its nearest centre (exact L1 from
:func:`imsim.distances.pairwise`) and moves every centre to the coordinate-wise
median of its members; both steps can only lower the objective.

Medians of uint8 pixels are counted, not sorted: a histogram of 256 bins per
(cluster, pixel) is kept, and only the points that changed cluster are moved
between histograms, so after the first few iterations an update costs
``O(changed * d + K * d * 256)`` instead of selecting in every cluster again.
Integer data with more values (the 0..25500 of latent files) counts the same way
when the histograms are no larger than the data, and is selected per cluster
(``np.partition``) otherwise; other floats take ``np.median``.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from .._validation import check_array, check_k, check_labels, check_positive_int
from ..distances import pairwise
from ._common import check_fitted, check_n_clusters, checked_data, resolve_seed

__all__ = ["KMedians", "kmeans_plusplus", "medians"]

_MAX_BINS = 1 << 25   # histogram entries (K * d * values) at most: 256 MB of int64
_MAX_VALUE = 1 << 16  # integer data up to this value is counted


# ------------------------------------------------------------------ medians

def _value_count(X: np.ndarray) -> int | None:
    """``max + 1`` when every entry of ``X`` is an integer in 0..65535, else None."""
    if X.dtype == np.uint8:
        return 256
    if X.size == 0:
        return None
    hi = float(X.max())
    if X.min() < 0 or hi >= _MAX_VALUE or not np.array_equal(X, np.rint(X)):
        return None
    return int(hi) + 1


def _add_counts(hist: np.ndarray, XT: np.ndarray, labels: np.ndarray, bins: int,
                sign: int = 1) -> None:
    """Add (or with ``sign=-1`` remove) the points to the histograms, in place.

    ``hist`` has shape (d, k * bins): row j holds, per cluster c and value v, how
    many members of c have value v at coordinate j. ``XT`` is the points' data
    transposed, (d, m). One coordinate at a time keeps every temporary at m
    integers, in cache.
    """
    offset = labels.astype(np.intp) * bins
    size = hist.shape[1]
    for j in range(len(XT)):
        counts = np.bincount(offset + XT[j], minlength=size)
        if sign > 0:
            hist[j] += counts
        else:
            hist[j] -= counts


def _selected_medians(X: np.ndarray, labels: np.ndarray, k: int, lower: bool) -> np.ndarray:
    """Per-cluster medians by selection: the lower median, or ``np.median``."""
    order = np.argsort(labels, kind="stable")
    ends = np.cumsum(np.bincount(labels, minlength=k))
    out = np.zeros((k, X.shape[1]), dtype=X.dtype)
    for c in range(k):
        members = X[order[(ends[c - 1] if c else 0):ends[c]]]
        if not len(members):
            continue
        if lower:
            mid = (len(members) - 1) // 2
            out[c] = np.partition(members, mid, axis=0)[mid]
        else:
            out[c] = np.median(members, axis=0)
    return out


class _Medians:
    """Medians of ``X`` (N, d) under changing labels; counted for integer data, from
    histograms updated in place, else selected per cluster."""

    def __init__(self, X: np.ndarray, k: int):
        self.X, self.k = X, k
        self.bins = _value_count(X)
        # counting pays when the histograms are no larger than the data (pixels: 256
        # values); the 25,501 values of latent files make selection cheaper
        self.counting = (self.bins is not None and k * self.bins <= len(X)
                         and k * X.shape[1] * self.bins <= _MAX_BINS)
        if self.counting:  # coordinates as rows: each is a contiguous run of N values
            self.XT = np.ascontiguousarray(X.T, dtype=np.uint8 if self.bins <= 256
                                           else np.uint16)
        self.dtype = X.dtype
        self.labels = None
        self.hist = None

    def __call__(self, labels: np.ndarray) -> np.ndarray:
        X, k, bins = self.X, self.k, self.bins
        if not self.counting:
            return _selected_medians(X, labels, k, lower=bins is not None)
        d = X.shape[1]
        moved = None if self.labels is None else np.flatnonzero(labels != self.labels)
        if moved is None or 2 * len(moved) > len(X):  # count all: cheaper than moving
            self.hist = np.zeros((d, k * bins), dtype=np.int64)
            _add_counts(self.hist, self.XT, labels, bins)
        elif len(moved):
            XT = self.XT[:, moved]
            _add_counts(self.hist, XT, self.labels[moved], bins, sign=-1)
            _add_counts(self.hist, XT, labels[moved], bins)
        self.labels = labels.copy()
        # lower median: the first value whose cumulative count reaches ceil(size / 2)
        need = ((np.bincount(labels, minlength=k) + 1) // 2)[None, :, None]
        cum = np.cumsum(self.hist.reshape(d, k, bins), axis=2)
        return np.argmax(cum >= need, axis=2).T.astype(self.dtype)


def medians(X, labels, n_clusters=None) -> np.ndarray:
    """Coordinate-wise median of the members of each cluster.

    Parameters
    ----------
    X : ndarray of shape (N, d), uint8 pixels or float latents
    labels : ndarray of shape (N,), int, clusters numbered 0..K-1
    n_clusters : int, optional
        K (default: largest label + 1).

    Returns
    -------
    ndarray of shape (K, d), dtype of ``X`` (uint8 or float32)
        For integer data (uint8 pixels, or floats that are all integers in
        0..65535, like latent-file values): the *lower* median, an actual data
        value (for an even count the smaller of the two middle values), found by
        counting. It equals ``np.median`` for odd counts; for even counts
        ``np.median`` returns the mean of the two middle values, and every value
        between them gives the same, minimal sum of L1 distances. Other floats:
        ``np.median``. Rows of empty clusters are 0.
    """
    X = check_array(X, name="X")
    labels, k = check_labels(labels, len(X), n_clusters)
    return _medians(X, labels, k)


def _medians(X: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    return _Medians(X, k)(labels)


# ---------------------------------------------------------------- seeding

def _nearest(X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre (ties: the lower index) and its L1 distance, float64."""
    D = pairwise(X, centers, metric="l1")
    labels = D.argmin(axis=1)
    return labels, D[np.arange(len(X)), labels].astype(np.float64)


def _d_weighted(n: int, k: int, rng: np.random.Generator, dist_to) -> np.ndarray:
    """Seeding by D-weighted sampling; ``dist_to(p)`` gives the (N,) distances to row p."""
    ids = [int(rng.integers(n))]
    closest = np.asarray(dist_to(ids[0]), dtype=np.float64)
    for _ in range(1, k):
        if closest.sum() > 0:
            cdf = np.cumsum(closest)
            p = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), n - 1)
        else:  # every point sits on a centre already: any other point will do
            p = int(rng.choice(np.setdiff1d(np.arange(n), ids)))
        ids.append(p)
        np.minimum(closest, dist_to(p), out=closest)
    return np.array(ids, dtype=np.int64)


def _plusplus(X: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    return _d_weighted(len(X), k, rng, lambda p: pairwise(X, X[p:p + 1], metric="l1")[:, 0])


def kmeans_plusplus(X, n_clusters: int, *, seed=0, random_state=None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """k-means++ seeding for k-medians: D-weighted sampling with L1 distances.

    The first centre is a uniformly random point; each next one is point ``x`` with
    probability proportional to ``D(x)``, its L1 distance to the nearest centre
    chosen so far (Arthur & Vassilvitskii 2007, with the k-medians exponent 1).

    Parameters
    ----------
    X : ndarray of shape (N, d), uint8 or float
    n_clusters : int, 1 <= n_clusters <= N
    seed : int, numpy Generator or None, default 0
    random_state : alias of ``seed`` (scikit-learn's name); wins when given

    Returns
    -------
    centers : ndarray of shape (n_clusters, d), dtype of ``X``
    indices : ndarray of shape (n_clusters,), int64, rows of ``X``
    """
    X = check_array(X, name="X")
    k = check_k(n_clusters, len(X), name="n_clusters", what="X")
    ids = _plusplus(X, k, np.random.default_rng(resolve_seed(seed, random_state)))
    return X[ids].copy(), ids


# ---------------------------------------------------------------- Lloyd

def _reseed_empty(labels: np.ndarray, dist: np.ndarray, k: int) -> tuple[np.ndarray, int]:
    """Give every empty cluster the point farthest from its centre (taken from a
    cluster that keeps at least one member); that point's cost drops to 0."""
    sizes = np.bincount(labels, minlength=k)
    empty = np.flatnonzero(sizes == 0)
    if not len(empty):
        return labels, 0
    labels = labels.copy()
    candidates = iter(np.argsort(-dist, kind="stable"))
    for c in empty:
        p = next(q for q in candidates if sizes[labels[q]] >= 2)
        sizes[labels[p]] -= 1
        sizes[c] += 1
        labels[p] = c
    return labels, len(empty)


def _lloyd(X, centers, max_iter: int, tol: float):
    n, k = len(X), len(centers)
    update = _Medians(X, k)
    labels, dist = _nearest(X, centers)
    cost = dist.sum()
    reseeded = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (it is n_iter_, returned after the loop)
        labels, r = _reseed_empty(labels, dist, k)
        reseeded += r
        centers = update(labels)
        new_labels, dist = _nearest(X, centers)
        new_cost = dist.sum()
        changed = np.count_nonzero(new_labels != labels)
        labels = new_labels
        full = np.count_nonzero(np.bincount(labels, minlength=k)) == k
        done = full and (changed <= tol * n or cost - new_cost <= tol * cost)
        cost = new_cost
        if done:
            break
    else:
        if np.count_nonzero(np.bincount(labels, minlength=k)) < k:
            warnings.warn(f"k-medians stopped after max_iter={max_iter} iterations with an "
                          "empty cluster; raise max_iter", RuntimeWarning, stacklevel=3)
    return centers, labels, float(cost), it, reseeded


class KMedians(ClusterMixin, BaseEstimator):
    """k-medians clustering with L1 distances, a scikit-learn estimator.

    ``sklearn.base.clone``, ``get_params``/``set_params`` and pipelines work; the
    constructor only stores the parameters and ``fit`` checks them all before any
    work.

    Parameters
    ----------
    n_clusters : int, default 10
    init : {"k-means++", "random"} or ndarray of shape (n_clusters, d), default "k-means++"
        "k-means++": D-weighted sampling with L1 (:func:`kmeans_plusplus`);
        "random": ``n_clusters`` distinct data points; an array: these centres
        (for uint8 data rounded to 0..255).
    n_init : int, default 1
        Runs from different seeds; the one with the lowest objective is kept. With
        given centres (``init`` an array) there is one run, and a larger
        ``n_init`` warns, as scikit-learn's KMeans does.
    max_iter : int, default 300
        Iterations (assignment + median update) per run.
    tol : float, default 1e-4
        Stop when at most ``tol * N`` points change cluster or the objective falls
        by at most ``tol`` of its value. ``tol=0``: stop when no point moves or the
        objective stops falling.
    seed : int, numpy Generator or None, default 0
        Seeds the initial centres: the same seed gives the same clusters. None
        draws fresh entropy (not reproducible).
    random_state : int, numpy Generator or None, default None
        scikit-learn's name for ``seed``, accepted as an alias; when given it wins.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, d)
        Coordinate-wise medians (:func:`medians`: lower medians for integer data).
    labels_ : ndarray of shape (N,), int64
        Nearest centre of every training point (ties: the lower cluster number).
    inertia_ : float
        The objective: sum of L1 distances from each point to its assigned centre,
        in the units of ``X`` (pixel intensities for uint8).
    n_iter_ : int
        Iterations of the kept run.
    n_reseeded_ : int
        Empty clusters re-seeded during the kept run (each got the point farthest
        from its centre); clusters are never dropped.
    n_features_in_ : int
        Dimensions of the training data.

    Examples
    --------
    >>> km = KMedians(n_clusters=10, seed=0).fit(images.reshape(len(images), -1))
    >>> km.inertia_, km.n_iter_
    """

    def __init__(self, n_clusters: int = 10, *, init="k-means++", n_init: int = 1,
                 max_iter: int = 300, tol: float = 1e-4, seed=0, random_state=None):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed
        self.random_state = random_state

    def _checked_params(self, n: int, d: int, dtype) -> dict:
        """Every parameter validated against data of shape (n, d), before any work."""
        k = check_n_clusters(self.n_clusters, n)
        out = {"k": k, "max_iter": check_positive_int(self.max_iter, "max_iter"),
               "n_init": check_positive_int(self.n_init, "n_init"),
               "seed": resolve_seed(self.seed, self.random_state)}
        if isinstance(self.tol, bool) or not isinstance(self.tol, (int, float, np.number)) \
                or not self.tol >= 0:
            raise ValueError(f"tol must be a number >= 0, got {self.tol!r}")
        out["tol"] = float(self.tol)
        init = self.init
        if isinstance(init, str):
            if init not in ("k-means++", "random"):
                raise ValueError(f"init must be 'k-means++', 'random' or an array, got {init!r}")
            out["centers"] = None
            return out
        centers = np.asarray(init)
        if centers.shape != (k, d):
            raise ValueError(f"init has shape {centers.shape}, expected ({k}, {d}) "
                             "(n_clusters, dimensions of X)")
        if dtype == np.uint8:
            out["centers"] = np.clip(np.rint(centers), 0, 255).astype(np.uint8)
        else:
            out["centers"] = check_array(centers, name="init", dtype=dtype)
        if out["n_init"] > 1:
            warnings.warn(f"init gives the centres: one run instead of n_init={self.n_init}",
                          RuntimeWarning, stacklevel=3)
            out["n_init"] = 1  # the same given centres would give the same run
        return out

    def _initial(self, X: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        if self.init == "k-means++":
            return X[_plusplus(X, k, rng)]
        return X[np.sort(rng.choice(len(X), size=k, replace=False))]

    def fit(self, X, y=None) -> "KMedians":
        """Cluster ``X`` of shape (N, d), uint8 pixels or float latents; returns self."""
        X = checked_data(self, X, reset=True)
        p = self._checked_params(len(X), X.shape[1], X.dtype)
        rng = np.random.default_rng(p["seed"])
        best = None
        for _ in range(p["n_init"]):
            start = p["centers"] if p["centers"] is not None else self._initial(X, p["k"], rng)
            run = _lloyd(X, start, p["max_iter"], p["tol"])
            if best is None or run[2] < best[2]:
                best = run
        (self.cluster_centers_, self.labels_, self.inertia_, self.n_iter_,
         self.n_reseeded_) = best
        return self

    def predict(self, X) -> np.ndarray:
        """Nearest centre of every row of ``X`` (N, d): ndarray of shape (N,), int64."""
        check_fitted(self, "cluster_centers_")
        X = checked_data(self, X, reset=False)
        return _nearest(X, self.cluster_centers_)[0].astype(np.int64)
