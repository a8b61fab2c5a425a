import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, silhouette_samples

from imsim.cluster import KMedians, objective
from imsim.evaluation.clustering import compare_clusterings, label_scores


def _digits(rng, n_per=25):
    """Three kinds of 6x6 'images' (uint8) and 2-D 'latents' that separate them."""
    protos = rng.integers(0, 256, size=(3, 36))
    X = np.concatenate([np.clip(p + rng.normal(scale=20, size=(n_per, 36)), 0, 255)
                        for p in protos]).astype(np.uint8)
    y = np.repeat(np.arange(3), n_per)
    Z = (np.eye(3)[y][:, :2] * 10000 + rng.integers(0, 500, size=(len(y), 2))).astype(np.uint16)
    return X.reshape(-1, 6, 6), Z, y


def test_label_scores_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 2])
    true = np.array([5, 5, 1, 1, 1, 5])
    s = label_scores(labels, true, n_clusters=4)
    np.testing.assert_array_equal(s.cluster_label, [5, 1, 5, -1])
    np.testing.assert_array_equal(s.found, [5, 5, 5, 1, 1, 5])
    assert s.purity == pytest.approx(5 / 6)
    np.testing.assert_array_equal(s.label_values, [1, 5])
    np.testing.assert_array_equal(s.correct, [2, 3])
    np.testing.assert_array_equal(s.incorrect, [1, 0])
    assert s.ari == pytest.approx(adjusted_rand_score(true, labels))


def test_all_measures_are_in_the_original_space(rng):
    X, Z, y = _digits(rng)
    classes = y.copy()
    classes[:5] = 2  # a classifier with a few mistakes
    cmp = compare_clusterings(X, 3, X_latent=Z, classes=classes, true_labels=y,
                              random_state=0)
    new, orig, cls = cmp.results
    assert [r.name for r in cmp.results] == ["NEW SPACE", "ORIGINAL SPACE",
                                             "CLASSES AS CLUSTERS"]
    flat = X.reshape(len(X), -1)
    np.testing.assert_array_equal(new.labels, KMedians(3, random_state=0).fit(Z).labels_)
    np.testing.assert_array_equal(orig.labels, KMedians(3, random_state=0).fit(flat).labels_)
    for r in cmp.results:
        ref = silhouette_samples(flat.astype(float), r.labels, metric="manhattan")
        np.testing.assert_allclose(r.silhouette.samples, ref, rtol=1e-12)
        assert r.objective == objective(flat, r.labels)
        assert r.centroids.dtype == np.uint8 and r.centroids.shape == (3, 36)
        assert r.sizes.sum() == len(X)
    assert new.scores.purity == 1.0 and new.scores.ari == 1.0  # the latents separate them
    assert cls.scores.purity == pytest.approx(1 - 5 / 75)
    assert cls.clustering_time is None and new.clustering_time > 0
    assert cls.to_section().sizes is None and new.to_section().sizes is not None


def test_mnist_subset(mnist_test):
    X, y = mnist_test.images[:400], mnist_test.labels[:400]
    cmp = compare_clusterings(X, 10, classes=y, true_labels=y, random_state=0)
    orig, cls = cmp.results
    assert cls.scores.purity == 1.0
    assert orig.scores.purity > 0.4  # k-medians on pixels finds real digit structure


def test_errors(rng):
    X, Z, y = _digits(rng)
    with pytest.raises(ValueError, match="X_latent has 74 vectors but X_original has 75"):
        compare_clusterings(X, 3, X_latent=Z[:74])
    with pytest.raises(ValueError, match="3 true labels for 75 images"):
        compare_clusterings(X, 3, true_labels=y[:3])
