import importlib
from itertools import combinations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from imsim.cluster import KMedoids
from imsim.distances import pairwise

kmedoids_mod = importlib.import_module("imsim.cluster.kmedoids")


def _cost(D, medoids):
    return D[:, list(medoids)].min(axis=1).sum()


def _assert_swap_optimal(D, medoids):
    """No exchange of one medoid for one non-medoid lowers the cost (FasterPAM's promise)."""
    best = _cost(D, medoids)
    for i in range(len(medoids)):
        for x in set(range(len(D))) - set(medoids.tolist()):
            trial = medoids.copy()
            trial[i] = x
            assert _cost(D, trial) >= best - 1e-9


@pytest.mark.parametrize("init", ["k-means++", "random", "build"])
def test_swap_local_optimum_and_consistent_attributes(rng, init):
    X = rng.integers(0, 256, size=(40, 6), dtype=np.uint8)
    D = cdist(X.astype(float), X.astype(float), "cityblock")
    km = KMedoids(4, init=init, seed=2).fit(X)
    _assert_swap_optimal(D, km.medoid_indices_)
    assert km.inertia_ == _cost(D, km.medoid_indices_)
    np.testing.assert_array_equal(km.labels_, D[:, km.medoid_indices_].argmin(axis=1))
    np.testing.assert_array_equal(km.cluster_centers_, X[km.medoid_indices_])
    np.testing.assert_array_equal(km.predict(X), km.labels_)


def test_global_optimum_on_tiny_sets(rng):
    for trial in range(5):
        X = rng.normal(size=(12, 2)) + np.repeat(rng.uniform(0, 30, size=(3, 2)), 4, axis=0)
        D = cdist(X, X, "cityblock")
        optimum = min(_cost(D, c) for c in combinations(range(12), 3))
        km = KMedoids(3, seed=trial).fit(X.astype(np.float32))
        assert km.inertia_ == pytest.approx(optimum, rel=1e-5)


def test_precomputed_and_k1(rng):
    X = rng.normal(size=(30, 3)).astype(np.float32)
    D = pairwise(X)  # the very distances fit(X) computes, so both runs are identical
    a = KMedoids(3, seed=0).fit(X)
    b = KMedoids(3, metric="precomputed", seed=0).fit(D)
    np.testing.assert_array_equal(a.medoid_indices_, b.medoid_indices_)
    assert b.cluster_centers_ is None
    one = KMedoids(1, metric="precomputed").fit(D)
    assert one.inertia_ == pytest.approx(D.sum(axis=1, dtype=np.float64).min())
    with pytest.raises(ValueError, match="square"):
        KMedoids(2, metric="precomputed").fit(D[:5])
    with pytest.raises(ValueError, match="not the data|precomputed"):
        b.predict(X)


def test_too_many_points(rng, monkeypatch):
    monkeypatch.setattr(kmedoids_mod, "MAX_SAMPLES", 10)
    with pytest.raises(ValueError, match="N=11 is above 10"):
        KMedoids(2).fit(rng.normal(size=(11, 2)))


def _sequential_fasterpam(D, medoids):
    """FasterPAM written point by point (Schubert & Rousseeuw 2021, Algorithm 2)."""
    n, k = len(D), len(medoids)
    medoids = list(medoids)

    def state():
        Dm = D[:, medoids]
        order = np.argsort(Dm, axis=1, kind="stable")
        near = order[:, 0]
        dn, ds = Dm[np.arange(n), near], Dm[np.arange(n), order[:, 1]]
        return near, dn, ds

    near, dn, ds = state()
    x, since = 0, 0
    while since < n:
        if x not in medoids:
            loss = np.zeros(k)
            for o in range(n):
                loss[near[o]] += ds[o] - dn[o]
            d_td, delta = 0.0, loss.copy()
            for o in range(n):
                d = D[o, x]
                if d < dn[o]:
                    d_td += d - dn[o]
                    delta[near[o]] += dn[o] - ds[o]
                elif d < ds[o]:
                    delta[near[o]] += d - ds[o]
            i = int(np.argmin(delta))
            if d_td + delta[i] < 0:
                medoids[i] = x
                near, dn, ds = state()
                since = 0
                x = (x + 1) % n
                continue
        since += 1
        x = (x + 1) % n
    return np.array(medoids)


def test_blocked_eager_swaps_equal_the_sequential_algorithm(rng):
    X = rng.integers(0, 256, size=(150, 5), dtype=np.uint8)
    D = pairwise(X)  # int32: exact sums, no rounding ties
    start = rng.choice(150, size=5, replace=False)
    ours, _, swaps = kmedoids_mod._fasterpam(D, start, max_iter=100, tiny=0.0)
    assert swaps > 0
    np.testing.assert_array_equal(ours, _sequential_fasterpam(D.astype(np.float64), start))
