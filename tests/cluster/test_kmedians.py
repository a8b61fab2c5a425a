import importlib

import numpy as np
import pytest
from _data import gaussian_clusters
from scipy.spatial.distance import cdist

from imsim._validation import NotFittedError
from imsim.cluster import KMedians, kmeans_plusplus, medians, objective

kmedians_mod = importlib.import_module("imsim.cluster.kmedians")


def _lower_median(a: np.ndarray) -> np.ndarray:
    return np.sort(a, axis=0)[(len(a) - 1) // 2]


def _reference_lloyd(X, centers, n_iter):
    """Plain k-medians: cdist assignment (ties: lower index), sorted medians (the lower
    one for integer data)."""
    lower = np.array_equal(X, np.rint(X))
    for _ in range(n_iter):
        labels = cdist(X.astype(float), centers.astype(float), "cityblock").argmin(axis=1)
        centers = np.array([_lower_median(X[labels == c]) if lower else
                            np.median(X[labels == c], axis=0) for c in range(len(centers))])
    D = cdist(X.astype(float), centers.astype(float), "cityblock")
    return centers, D.argmin(axis=1), D.min(axis=1).sum()


@pytest.mark.parametrize("dtype, n_per, counted", [
    (np.float32, 40, False),
    (np.uint8, 40, False),     # 4 clusters x 256 values > 160 points: selected
    (np.uint8, 300, True),     # 1024 <= 1200 points: counted
    ("int-float", 300, False),  # integer-valued floats with 25,401 values: selected
    ("int-float/100", 300, True),
])
def test_matches_brute_force_lloyd(rng, dtype, n_per, counted):
    X, _ = gaussian_clusters(rng, n_per=n_per, spread=15.0,
                  dtype=np.uint8 if isinstance(dtype, str) else dtype)
    if dtype == "int-float":
        X = X.astype(np.float32) * 100  # integer-valued floats, like latent files
    elif dtype == "int-float/100":
        X = X.astype(np.float32)
    assert kmedians_mod._Medians(X, 4).counting == counted
    init = X[[0, n_per + 10, 2 * n_per + 10, 3 * n_per + 10]]
    for n_iter in (1, 2, 3):
        km = KMedians(4, init=init, max_iter=n_iter, tol=0).fit(X)
        centers, labels, cost = _reference_lloyd(X, init, km.n_iter_)
        np.testing.assert_array_equal(km.labels_, labels)
        np.testing.assert_allclose(km.cluster_centers_, centers, rtol=1e-6)
        assert km.inertia_ == pytest.approx(cost, rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_converged_result_is_a_lloyd_fixed_point(rng, dtype):
    X = (rng.uniform(0, 255, size=(1300, 5))).astype(dtype)
    km = KMedians(5, tol=0, seed=1).fit(X)
    D = cdist(X.astype(float), km.cluster_centers_.astype(float), "cityblock")
    np.testing.assert_array_equal(km.labels_, D.argmin(axis=1))
    for c in range(5):
        members = X[km.labels_ == c]
        expected = _lower_median(members) if dtype == np.uint8 else np.median(members, axis=0)
        np.testing.assert_allclose(km.cluster_centers_[c], expected, rtol=1e-6)
    assert km.inertia_ == pytest.approx(D.min(axis=1).sum(), rel=1e-6)  # float32 sums


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_objective_never_increases(rng, dtype):
    X = rng.uniform(0, 255, size=(1600, 8)).astype(dtype)
    costs = [KMedians(6, max_iter=t, tol=0, seed=3).fit(X).inertia_ for t in range(1, 12)]
    assert all(b <= a for a, b in zip(costs, costs[1:]))
    assert costs[-1] < costs[0]


def test_seeding_is_reproducible_and_d_weighted(rng):
    X = rng.normal(size=(200, 4)).astype(np.float32)
    c1, i1 = kmeans_plusplus(X, 6, seed=7)
    c2, i2 = kmeans_plusplus(X, 6, seed=7)
    _, i3 = kmeans_plusplus(X, 6, seed=8)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(c1, X[i1])
    assert len(set(i1.tolist())) == 6
    assert not np.array_equal(i1, i3)
    np.testing.assert_array_equal(KMedians(6, seed=7).fit(X).labels_,
                                  KMedians(6, seed=7).fit(X).labels_)
    # 50 copies of one point and one far point: D-weighting always picks the far one
    Y = np.zeros((51, 1), dtype=np.float32)
    Y[50] = 1000
    for seed in range(20):
        assert 50 in kmeans_plusplus(Y, 2, seed=seed)[1]


def test_random_init_and_n_init(rng):
    X, _ = gaussian_clusters(rng, spread=20.0)
    single = KMedians(4, init="random", seed=5).fit(X)
    best = KMedians(4, init="random", n_init=5, seed=5).fit(X)
    assert best.inertia_ <= single.inertia_
    assert len(np.unique(best.labels_)) == 4


def test_empty_cluster_is_reseeded(rng):
    X, _ = gaussian_clusters(rng, k=3)
    init = np.concatenate([X[[0, 40, 80]], np.full((1, X.shape[1]), 1e6, dtype=X.dtype)])
    km = KMedians(4, init=init, tol=0).fit(X)
    assert km.n_reseeded_ >= 1
    assert np.bincount(km.labels_, minlength=4).min() >= 1
    assert km.cluster_centers_.shape == (4, X.shape[1])


def test_predict_and_errors(rng):
    X = rng.integers(0, 256, size=(100, 16), dtype=np.uint8)
    km = KMedians(3, seed=0)
    with pytest.raises(NotFittedError, match="not fitted"):
        km.predict(X)
    km.fit(X)
    assert km.cluster_centers_.dtype == np.uint8
    np.testing.assert_array_equal(km.predict(X), km.labels_)
    np.testing.assert_array_equal(km.fit_predict(X), km.labels_)
    with pytest.raises(ValueError, match="X has 15 features, but KMedians is expecting 16"):
        km.predict(X[:, :15])
    with pytest.raises(ValueError, match="n_clusters=101 but X has n_samples=100"):
        KMedians(101).fit(X)
    with pytest.raises(ValueError, match="init must be"):
        KMedians(3, init="kmeans").fit(X)
    with pytest.raises(ValueError, match=r"init has shape \(2, 16\)"):
        KMedians(3, init=X[:2]).fit(X)


def test_uint16_latents_cluster_as_floats(rng):
    Z = rng.integers(0, 25501, size=(150, 10)).astype(np.uint16)
    km = KMedians(4, seed=0).fit(Z)
    assert km.cluster_centers_.dtype == np.float32
    for c in range(4):  # integer data: lower medians, counted
        np.testing.assert_array_equal(km.cluster_centers_[c],
                                      _lower_median(Z[km.labels_ == c]))
    np.testing.assert_array_equal(km.labels_, KMedians(4, seed=0).fit(
        Z.astype(np.float32)).labels_)


def test_medians_and_objective_match_numpy(rng):
    X = rng.integers(0, 256, size=(101, 30), dtype=np.uint8)
    labels = rng.integers(0, 5, size=101)
    labels[labels == 4] = 3  # cluster 4 empty when n_clusters=5
    med = medians(X, labels, n_clusters=5)
    assert med.dtype == np.uint8
    for c in range(4):
        members = X[labels == c]
        np.testing.assert_array_equal(med[c], _lower_median(members))
        if len(members) % 2:
            np.testing.assert_array_equal(med[c], np.median(members, axis=0))
    np.testing.assert_array_equal(med[4], 0)
    # the lower median is an exact L1 minimiser: same cost as numpy's midpoint median
    expected = sum(np.abs(X[labels == c] - np.median(X[labels == c], axis=0)).sum()
                   for c in range(4))
    assert objective(X, labels, 5) == expected
    assert objective(X, labels, centers=med) == expected
    Xf = X.astype(np.float32) / 7
    np.testing.assert_allclose(medians(Xf, labels)[0], np.median(Xf[labels == 0], axis=0))
    with pytest.raises(ValueError, match="holds cluster 3 but n_clusters=2"):
        objective(X, labels, 2)
