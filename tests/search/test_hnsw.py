import numpy as np
import pytest

from imsim.distances import distances_at
from imsim.evaluation import recall_at_k
from imsim.search import ExactIndex, HNSWIndex


@pytest.mark.parametrize("metric", ["l1", "l2", "cosine"])
def test_recall_and_true_distances(rng, metric):
    X = rng.standard_normal((1500, 16)).astype(np.float32)
    Q = X[rng.choice(1500, 50, replace=False)] + 0.05 * rng.standard_normal((50, 16)).astype(np.float32)
    D, I = HNSWIndex(M=16, ef_construction=100, metric=metric).fit(X).search(Q, 10, ef=100)
    true_d, _ = ExactIndex(metric).fit(X).search(Q, 10)
    assert recall_at_k(D, true_d, 10, rtol=1e-4) >= 0.95
    np.testing.assert_allclose(D, distances_at(Q, X, I, metric), rtol=1e-4, atol=1e-5)


def test_larger_ef_is_no_worse(rng):
    X = rng.integers(0, 256, (2000, 32), dtype=np.uint8)
    Q = rng.integers(0, 256, (100, 32), dtype=np.uint8)
    index = HNSWIndex(M=4, ef_construction=16).fit(X)
    true_d, _ = ExactIndex().fit(X).search(Q, 10)
    low = recall_at_k(index.search(Q, 10, ef=10)[0], true_d, 10)
    high = recall_at_k(index.search(Q, 10, ef=400)[0], true_d, 10)
    assert high >= low and high >= 0.9


def test_bad_parameters(rng):
    X = rng.integers(0, 256, (20, 4), dtype=np.uint8)
    with pytest.raises(ValueError, match="M must be a positive integer"):
        HNSWIndex(M=0).fit(X)
    with pytest.raises(ValueError, match="ef must be a positive integer"):
        HNSWIndex().fit(X).search(X, 1, ef=0)
    with pytest.raises(TypeError, match="ef_construction must be an integer, got 'big'"):
        HNSWIndex(ef_construction="big").fit(X)
