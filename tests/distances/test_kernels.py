import numpy as np
import pytest
from scipy.spatial.distance import cdist

from imsim.distances import pairwise, topk


@pytest.mark.parametrize("metric, ref", [("l1", "cityblock"), ("l2", "euclidean"), ("cosine", "cosine")])
def test_pairwise_matches_scipy(rng, metric, ref):
    X = rng.random((30, 8), dtype=np.float32)
    Y = rng.random((20, 8), dtype=np.float32)
    np.testing.assert_allclose(pairwise(X, Y, metric), cdist(X, Y, ref), rtol=1e-5, atol=1e-6)


def test_uint8_l1_is_exact_int(rng):
    X = rng.integers(0, 256, (25, 784), dtype=np.uint8)
    D = pairwise(X, metric="l1")
    assert D.dtype == np.int32
    ref = np.abs(X[:, None, :].astype(np.int64) - X[None, :, :]).sum(-1)
    np.testing.assert_array_equal(D, ref)


def test_topk_matches_bruteforce_with_ties(rng):
    X = rng.integers(0, 3, (200, 4), dtype=np.uint8)  # many ties
    Q = rng.integers(0, 3, (15, 4), dtype=np.uint8)
    D, I = topk(Q, X, 7)
    full = np.abs(Q[:, None, :].astype(int) - X[None]).sum(-1)
    for r in range(len(Q)):
        order = np.lexsort((np.arange(len(X)), full[r]))[:7]
        np.testing.assert_array_equal(I[r], order)
        np.testing.assert_array_equal(D[r], full[r, order])
    assert I.dtype == np.int64 and D.dtype == np.float32


def test_errors(rng):
    X = rng.random((5, 3))
    with pytest.raises(ValueError, match="query has 2 dimensions, index has 3|queries has 2 dimensions, data has 3"):
        topk(rng.random((2, 2)), X, 1)
    with pytest.raises(ValueError, match="k=6 but the data holds 5"):
        topk(X, X, 6)
    with pytest.raises(ValueError, match="unknown metric"):
        pairwise(X, X, "hamming")
    with pytest.raises(ValueError, match="empty"):
        topk(np.zeros((0, 3)), X, 1)
