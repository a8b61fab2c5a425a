"""KMedians and KMedoids as scikit-learn estimators: clone, parameters, determinism,
validation before work (scikit-learn's own common checks: test_sklearn_checks.py)."""

import numpy as np
import pytest
from sklearn.base import clone

import imsim.cluster.kmedoids as kmedoids_module
from imsim.cluster import KMedians, KMedoids


@pytest.fixture
def blobs(rng):
    centers = rng.integers(0, 256, (5, 24))
    labels = rng.integers(0, 5, 400)
    X = np.clip(centers[labels] + rng.integers(-20, 21, (400, 24)), 0, 255).astype(np.uint8)
    return X, labels


@pytest.mark.parametrize("Est", [KMedians, KMedoids])
def test_clustering_quality_on_blobs(Est, blobs):
    from sklearn.metrics import adjusted_rand_score

    X, labels = blobs
    est = Est(5, n_init=5) if Est is KMedians else Est(5)  # FasterPAM needs no restarts here
    assert adjusted_rand_score(labels, est.fit_predict(X)) > 0.9


@pytest.mark.parametrize("Est", [KMedians, KMedoids])
def test_clone_and_params(Est):
    est = Est(4, max_iter=7, seed=3)
    twin = clone(est)
    assert twin is not est and twin.get_params() == est.get_params()
    assert twin.set_params(n_clusters=6).n_clusters == 6 and est.n_clusters == 4
    assert {"n_clusters", "seed", "random_state", "max_iter", "init"} <= set(est.get_params())


@pytest.mark.parametrize("Est", [KMedians, KMedoids])
def test_deterministic_by_default(Est, blobs):
    X, _ = blobs
    a, b = Est(7).fit(X), Est(7).fit(X)
    assert a.inertia_ == b.inertia_
    np.testing.assert_array_equal(a.labels_, b.labels_)


@pytest.mark.parametrize("Est", [KMedians, KMedoids])
def test_random_state_is_an_alias_of_seed(Est, blobs):
    X, _ = blobs
    by_seed = Est(7, seed=11).fit(X)
    by_alias = Est(7, random_state=11).fit(X)
    np.testing.assert_array_equal(by_seed.labels_, by_alias.labels_)
    # the alias wins when both are given (scikit-learn's set_random_state sets it)
    both = Est(7, seed=0, random_state=11).fit(X)
    np.testing.assert_array_equal(both.labels_, by_seed.labels_)
    with pytest.raises(TypeError, match="seed must be an integer, got 'x'"):
        Est(3, seed="x").fit(X)


def test_kmedoids_rejects_a_bad_init_before_the_distance_matrix(monkeypatch, blobs):
    X, _ = blobs
    computed = []
    monkeypatch.setattr(kmedoids_module, "pairwise", lambda *a, **k: computed.append(1))
    for est, message in [(KMedoids(3, init="kmeans"), r"init must be 'k-means\+\+'"),
                         (KMedoids(3, max_iter=0), "max_iter must be a positive integer"),
                         (KMedoids(3, metric="hamming"), "unknown metric 'hamming'"),
                         (KMedoids(500), "n_clusters=500 but X has n_samples=400")]:
        with pytest.raises(ValueError, match=message):
            est.fit(X)
    with pytest.raises(TypeError, match="n_clusters must be an integer, got 2.5"):
        KMedoids(2.5).fit(X)
    assert computed == []


def test_kmedians_checks_parameters_before_any_work(monkeypatch, blobs):
    import imsim.cluster.kmedians as kmedians_module

    X, _ = blobs
    monkeypatch.setattr(kmedians_module, "_lloyd", lambda *a: 1 / 0)
    monkeypatch.setattr(kmedians_module, "_plusplus", lambda *a: 1 / 0)
    for est, error, message in [
            (KMedians(3, tol=-1), ValueError, "tol must be a number >= 0"),
            (KMedians(3, n_init=0), ValueError, "n_init must be a positive integer"),
            (KMedians(3, max_iter=1.5), TypeError, "max_iter must be an integer"),
            (KMedians(3, init="kmeans"), ValueError, "init must be 'k-means"),
            (KMedians(3, init=np.zeros((2, 24))), ValueError, r"init has shape \(2, 24\)")]:
        with pytest.raises(error, match=message):
            est.fit(X)


def test_given_centres_with_n_init_warn_and_run_once(blobs):
    X, _ = blobs
    centres = X[:4].copy()
    with pytest.warns(RuntimeWarning, match="one run instead of n_init=5"):
        many = KMedians(4, init=centres, n_init=5).fit(X)
    once = KMedians(4, init=centres).fit(X)
    assert many.inertia_ == once.inertia_
