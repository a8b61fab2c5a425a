import importlib

import numpy as np
import pytest
from sklearn.metrics import silhouette_samples

from imsim.cluster import silhouette, silhouettes

# the package's function `silhouette` shadows the module of the same name
sil_mod = importlib.import_module("imsim.cluster.silhouette")


def _check_against_sklearn(X, labels, metric="manhattan", rtol=1e-12, **kw):
    ours = silhouette(X, labels, metric=metric, **kw)
    ref = silhouette_samples(X.astype(np.float64), labels, metric=metric)
    np.testing.assert_allclose(ours.samples, ref, rtol=rtol, atol=rtol)
    assert ours.total == pytest.approx(ref.mean(), rel=rtol, abs=rtol)
    for c in np.unique(labels):
        assert ours.per_cluster[c] == pytest.approx(ref[labels == c].mean(), rel=rtol, abs=rtol)
    return ours


@pytest.mark.parametrize("block", [None, 700])  # 700 distances: blocks of 2 rows
def test_uint8_equals_sklearn(rng, monkeypatch, block):
    if block:
        monkeypatch.setattr(sil_mod, "_BLOCK_ELEMENTS", block)
    X = rng.integers(0, 256, size=(301, 24), dtype=np.uint8)
    labels = rng.integers(0, 5, size=301)
    labels[7] = 5  # a singleton: s = 0
    ours = _check_against_sklearn(X, labels)
    assert ours.samples[7] == 0.0


def test_float_and_l2_equal_sklearn(rng):
    X = rng.normal(size=(250, 7)).astype(np.float32)
    labels = rng.integers(0, 3, size=250)
    _check_against_sklearn(X, labels, rtol=1e-5)
    _check_against_sklearn(X, labels, metric="euclidean", rtol=1e-5)


def test_mnist_subset_equals_sklearn(mnist_test):
    X = mnist_test.images[:600].reshape(600, -1)
    _check_against_sklearn(X, mnist_test.labels[:600])


@pytest.mark.parametrize("max_joint", [None, 100])  # 100: too many joint sums, pass by pass
def test_several_labellings_share_one_pass(rng, monkeypatch, max_joint):
    if max_joint:
        monkeypatch.setattr(sil_mod, "_MAX_JOINT", max_joint)
    X = rng.integers(0, 256, size=(120, 10), dtype=np.uint8)
    a, b = rng.integers(0, 3, size=120), rng.integers(0, 6, size=120)
    both = silhouettes(X, [a, b])
    for lab, res in zip((a, b), both):
        single = silhouette(X, lab)
        np.testing.assert_array_equal(res.samples, single.samples)
        assert res.total == single.total


def test_empty_cluster_keeps_its_place(rng):
    X = rng.normal(size=(40, 3))
    labels = np.repeat([0, 2], 20)
    res = silhouette(X, labels, n_clusters=4)
    assert res.per_cluster.shape == (4,)
    assert np.isnan(res.per_cluster[1]) and np.isnan(res.per_cluster[3])
    _check_against_sklearn(X.astype(np.float32), labels, rtol=1e-5)


def test_bad_labels(rng):
    X = rng.normal(size=(10, 2))
    with pytest.raises(ValueError, match="2 to N-1 = 9 non-empty clusters, labels has 1"):
        silhouette(X, np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match=r"shape \(9,\), expected \(10,\)"):
        silhouette(X, np.arange(9) % 2)
    with pytest.raises(ValueError, match="found -1"):
        silhouette(X, np.arange(10) % 2 - 1)
    with pytest.raises(ValueError, match="unknown metric"):
        silhouette(X, np.arange(10) % 2, metric="hamming")
