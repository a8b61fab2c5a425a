import numpy as np
import pytest
from _reference import brute_knn as brute

from imsim.search import ExactIndex


@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_matches_bruteforce_exactly_with_ties(rng, metric):
    X = rng.integers(0, 3, (400, 5), dtype=np.uint8)  # thousands of ties
    Q = rng.integers(0, 3, (30, 5), dtype=np.uint8)
    D, I = ExactIndex(metric).fit(X).search(Q, 12)
    ref_d, ref_i = brute(Q, X, 12, metric)
    np.testing.assert_array_equal(I, ref_i)
    np.testing.assert_allclose(D, ref_d, rtol=1e-6)


def test_cosine_and_float_data(rng):
    X = rng.standard_normal((200, 9)).astype(np.float32)
    Q = rng.standard_normal((10, 9)).astype(np.float32)
    for metric in ("l1", "l2", "cosine"):
        D, I = ExactIndex(metric).fit(X).search(Q, 4)
        ref_d, ref_i = brute(Q, X, 4, metric)
        np.testing.assert_array_equal(I, ref_i)
        np.testing.assert_allclose(D, ref_d, rtol=1e-5, atol=1e-6)


def test_zero_distance_and_duplicates_first_by_id(rng):
    X = rng.integers(0, 256, (50, 16), dtype=np.uint8)
    X[40] = X[7]
    D, I = ExactIndex().fit(X).search(X[[7]], 3)
    assert I[0, :2].tolist() == [7, 40] and D[0, :2].tolist() == [0.0, 0.0]


def test_k_beyond_index_pads_after_all_rows(rng):
    X = rng.integers(0, 256, (4, 8), dtype=np.uint8)
    D, I = ExactIndex().fit(X).search(X[:1], 6)
    assert sorted(I[0, :4]) == [0, 1, 2, 3] and I[0, 4:].tolist() == [-1, -1]
    assert np.isinf(D[0, 4:]).all()


def test_unknown_metric():
    with pytest.raises(ValueError, match="unknown metric"):
        ExactIndex("hamming").fit(np.zeros((2, 2), np.uint8))
