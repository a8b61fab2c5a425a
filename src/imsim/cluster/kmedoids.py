"""k-medoids by FasterPAM (Schubert & Rousseeuw 2021): centres are actual data points.

For photo collections, where a centre should be a real photo and any distance
will do. The objective ("total deviation", TD) is the sum of distances from each
point to its nearest medoid. FasterPAM improves it by single swaps (medoid out,
non-medoid in) and takes the first improving swap it meets ("eager"), so one pass
over the candidates costs O(N^2) instead of PAM's O(k N^2).

The gain of swapping in candidate ``x`` for medoid ``m`` comes from three numbers
per point ``o``: its nearest medoid ``n(o)`` at ``dn(o)`` and its second nearest at
``ds(o)``, and ``d(o, x)``::

    removal loss   L[m]   = sum_{o: n(o)=m} (ds(o) - dn(o))
    dTD(x)  = sum_o min(d(o, x) - dn(o), 0)
    D[m]    = L[m] + sum_{o: n(o)=m, d(o,x) < dn(o)} (dn(o) - ds(o))
                   + sum_{o: n(o)=m, dn(o) <= d(o,x) < ds(o)} (d(o, x) - ds(o))
    change(x, m) = dTD(x) + D[m]

Candidates are evaluated a block at a time (matrix products instead of a Python
loop over points); the first improving candidate of the block is swapped in and
the scan resumes right after it, which is exactly the sequential algorithm.
The full N x N distance matrix is kept, so N is limited (:data:`MAX_SAMPLES`).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from .._validation import check_metric, check_positive_int
from ..distances import pairwise
from ._common import check_fitted, check_n_clusters, checked_data, resolve_seed
from .kmedians import _d_weighted

__all__ = ["KMedoids", "MAX_SAMPLES"]

MAX_SAMPLES = 20_000  # the N x N matrix: 1.6 GB of float32 at this size
_CANDIDATES = 32      # candidates evaluated together


def _nearest_two(Dm: np.ndarray):
    """Nearest and second-nearest medoid of every point from (N, k) distances."""
    n, k = Dm.shape
    rows = np.arange(n)
    near = Dm.argmin(axis=1)
    dn = Dm[rows, near]
    if k == 1:
        return near, dn, np.full(n, np.inf)
    masked = Dm.copy()
    masked[rows, near] = np.inf
    return near, dn, masked.min(axis=1)


def _build(D: np.ndarray, k: int) -> np.ndarray:
    """PAM's greedy BUILD: each next medoid lowers the TD the most."""
    ids = [int(D.sum(axis=0, dtype=np.float64).argmin())]
    dn = D[:, ids[0]].astype(np.float64)
    for _ in range(1, k):
        gain = np.zeros(len(D))
        for s in range(0, len(D), 1024):  # column blocks bound the temporary
            gain[s:s + 1024] = np.maximum(dn[:, None] - D[:, s:s + 1024], 0).sum(axis=0)
        gain[ids] = -1
        ids.append(int(gain.argmax()))
        np.minimum(dn, D[:, ids[-1]], out=dn)
    return np.array(ids, dtype=np.int64)


def _groups(near: np.ndarray, k: int):
    """Points ordered by nearest medoid, and where each medoid's points start."""
    order = np.argsort(near, kind="stable")
    counts = np.bincount(near, minlength=k)
    return order, np.cumsum(counts) - counts, counts > 0


def _group_sums(values: np.ndarray, order, starts, present) -> np.ndarray:
    """Per-medoid column sums of ``values`` (N, B) -> (k, B). A sort and reduceat
    rather than a product with a one-hot matrix: a BLAS call this small is slower
    than the sums when it spins up threads on a busy machine."""
    out = np.zeros((len(starts), values.shape[1]))
    out[present] = np.add.reduceat(values[order], starts[present], axis=0)
    return out


def _fasterpam(D: np.ndarray, medoids: np.ndarray, max_iter: int, tiny: float):
    """Eager swaps until a full pass over the candidates finds no improvement.

    Returns (medoids, passes, swaps)."""
    n, k = len(D), len(medoids)
    medoids = medoids.copy()
    is_medoid = np.zeros(n, dtype=bool)
    is_medoid[medoids] = True
    near, dn, ds = _nearest_two(D[:, medoids].astype(np.float64))
    loss = np.bincount(near, weights=ds - dn, minlength=k)
    groups = _groups(near, k)
    td = dn.sum()
    x, since_swap, seen, swaps = 0, 0, 0, 0
    while since_swap < n and seen < max_iter * n:
        cand = (x + np.arange(min(_CANDIDATES, n - since_swap))) % n
        Dx = D[:, cand].astype(np.float64)
        closer = Dx < dn[:, None]
        d_td = np.where(closer, Dx - dn[:, None], 0.0).sum(axis=0)
        adjust = np.where(closer, (dn - ds)[:, None],
                          np.where(Dx < ds[:, None], Dx - ds[:, None], 0.0))
        delta = loss[:, None] + _group_sums(adjust, *groups)  # (k, candidates)
        out = delta.argmin(axis=0)
        change = d_td + delta[out, np.arange(len(cand))]
        change[is_medoid[cand]] = np.inf
        better = np.flatnonzero(change < -tiny * td)
        if not len(better):
            since_swap += len(cand)
            seen += len(cand)
            x = (x + len(cand)) % n
            continue
        b = better[0]
        seen += b + 1
        is_medoid[medoids[out[b]]] = False
        medoids[out[b]] = cand[b]
        is_medoid[cand[b]] = True
        near, dn, ds = _nearest_two(D[:, medoids].astype(np.float64))
        loss = np.bincount(near, weights=ds - dn, minlength=k)
        groups = _groups(near, k)
        td = dn.sum()
        swaps += 1
        since_swap = 0
        x = (cand[b] + 1) % n
    return medoids, -(-seen // n), swaps


class KMedoids(ClusterMixin, BaseEstimator):
    """k-medoids clustering by FasterPAM, a scikit-learn estimator.

    Parameters
    ----------
    n_clusters : int, default 8
    metric : {"l1", "l2", "cosine", "precomputed"}, default "l1"
        "precomputed": ``fit`` takes an (N, N) distance matrix. Aliases
        "manhattan", "cityblock" and "euclidean" are accepted.
    init : {"k-means++", "build", "random"}, default "k-means++"
        "k-means++": D-weighted sampling (the distances of ``metric``);
        "build": PAM's greedy BUILD (deterministic, O(k N^2)); "random": distinct
        random points.
    max_iter : int, default 100
        Passes over all candidates.
    seed : int, numpy Generator or None, default 0
        Seeds the initial medoids: the same seed gives the same clusters.
    random_state : int, numpy Generator or None, default None
        scikit-learn's name for ``seed``, accepted as an alias; when given it wins.

    Attributes
    ----------
    medoid_indices_ : ndarray of shape (n_clusters,), int64
        Rows of the training data that are medoids.
    cluster_centers_ : ndarray of shape (n_clusters, d) or None
        Those rows (None for "precomputed").
    labels_ : ndarray of shape (N,), int64
        Nearest medoid of every point (ties: the lower cluster number).
    inertia_ : float
        The objective: sum of distances from each point to its nearest medoid.
    n_iter_ : int
        Passes over the candidates.
    n_swaps_ : int
    n_features_in_ : int
        Columns of the training data (N for "precomputed").

    Notes
    -----
    Needs the (N, N) distance matrix: at most :data:`MAX_SAMPLES` points; use
    :class:`~imsim.cluster.KMedians` for more. Every parameter is checked before
    that matrix is built. FasterPAM stops at a swap-local optimum: no single
    exchange of a medoid and a non-medoid lowers the objective.
    """

    def __init__(self, n_clusters: int = 8, *, metric: str = "l1", init: str = "k-means++",
                 max_iter: int = 100, seed=0, random_state=None):
        self.n_clusters = n_clusters
        self.metric = metric
        self.init = init
        self.max_iter = max_iter
        self.seed = seed
        self.random_state = random_state

    def _checked_params(self, n: int) -> dict:
        """Every parameter validated for N = ``n`` points, before any distance."""
        metric = "precomputed" if self.metric == "precomputed" else check_metric(self.metric)
        if self.init not in ("k-means++", "build", "random"):
            raise ValueError(f"init must be 'k-means++', 'build' or 'random', got {self.init!r}")
        if metric != "precomputed" and n > MAX_SAMPLES:
            raise ValueError(f"k-medoids keeps all N x N distances; N={n} is above "
                             f"{MAX_SAMPLES} ({n ** 2 * 4 / 1e9:.1f} GB); use KMedians or "
                             "a subset")
        return {"metric": metric, "k": check_n_clusters(self.n_clusters, n),
                "max_iter": check_positive_int(self.max_iter, "max_iter"),
                "seed": resolve_seed(self.seed, self.random_state)}

    def fit(self, X, y=None) -> "KMedoids":
        """Cluster ``X`` (N, d), or an (N, N) matrix with ``metric="precomputed"``;
        returns self."""
        X = checked_data(self, X, reset=True, keep_dtype=self.metric == "precomputed")
        p = self._checked_params(len(X))
        if p["metric"] == "precomputed":
            if X.shape[0] != X.shape[1]:
                raise ValueError(f"a precomputed distance matrix must be square, got shape "
                                 f"{X.shape}")
            D, X = X, None
        else:
            D = pairwise(X, metric=p["metric"])
        n, k = len(D), p["k"]
        rng = np.random.default_rng(p["seed"])
        if self.init == "build":
            start = _build(D, k)
        elif self.init == "random":
            start = rng.choice(n, size=k, replace=False)
        else:
            start = _d_weighted(n, k, rng, lambda q: D[:, q])
        if k == 1:  # the exact optimum: the point with the smallest row sum
            medoids, passes, swaps = D.sum(axis=1, dtype=np.float64).argmin(keepdims=True), 1, 0
        else:
            tiny = 0.0 if D.dtype.kind in "iu" else 1e-12  # float sums: ignore rounding
            medoids, passes, swaps = _fasterpam(D, np.asarray(start), p["max_iter"], tiny)
        Dm = D[:, medoids]
        self.medoid_indices_ = np.asarray(medoids, dtype=np.int64)
        self.cluster_centers_ = None if X is None else X[self.medoid_indices_].copy()
        self.labels_ = Dm.argmin(axis=1).astype(np.int64)
        self.inertia_ = float(Dm.min(axis=1).sum(dtype=np.float64))
        self.n_iter_, self.n_swaps_ = passes, swaps
        return self

    def predict(self, X) -> np.ndarray:
        """Nearest medoid of every row of ``X`` (N, d): ndarray of shape (N,), int64."""
        check_fitted(self, "medoid_indices_")
        if self.cluster_centers_ is None:
            raise ValueError("predict needs the data, not precomputed distances; use labels_")
        X = checked_data(self, X, reset=False)
        D = pairwise(X, self.cluster_centers_, metric=check_metric(self.metric))
        return D.argmin(axis=1).astype(np.int64)
