import numpy as np
import pytest

from imsim.search import ExactIndex, ReducedIndex


@pytest.fixture
def data(rng):
    X = rng.integers(0, 256, (300, 20), dtype=np.uint8)
    Q = rng.integers(0, 256, (12, 20), dtype=np.uint8)
    P = rng.standard_normal((20, 3)).astype(np.float32)
    return X, Q, X.astype(np.float32) @ P, Q.astype(np.float32) @ P


def test_no_rerank_is_exact_latent_search(data):
    X, Q, Zx, Zq = data
    D, I = ReducedIndex().fit(X, Z=Zx).search(Q, 5, Z=Zq)
    ref_d, ref_i = ExactIndex().fit(Zx).search(Zq, 5)
    np.testing.assert_array_equal(I, ref_i)
    np.testing.assert_array_equal(D, ref_d)


def test_full_rerank_is_exact_original_search(data):
    X, Q, Zx, Zq = data
    index = ReducedIndex(rerank=10).fit(X, Z=Zx)
    D, I = index.search(Q, 5, Z=Zq, rerank=len(X))
    ref_d, ref_i = ExactIndex().fit(X).search(Q, 5)
    np.testing.assert_array_equal(I, ref_i)
    np.testing.assert_array_equal(D, ref_d)


def test_partial_rerank_orders_latent_candidates_by_true_distance(data):
    X, Q, Zx, Zq = data
    _, cand = ExactIndex().fit(Zx).search(Zq, 20)
    D, I = ReducedIndex(rerank=20).fit(X, Z=Zx).search(Q, 4, Z=Zq)
    for q in range(len(Q)):
        true = np.abs(X[cand[q]].astype(int) - Q[q]).sum(1)
        order = np.lexsort((cand[q], true))[:4]
        np.testing.assert_array_equal(I[q], cand[q][order])
        np.testing.assert_array_equal(D[q], true[order])


def test_uint16_latents_are_searched_as_numbers(data):
    X, Q, Zx, Zq = data
    lo = min(Zx.min(), Zq.min())
    Zx16, Zq16 = (((Z - lo) * 50).astype(np.uint16) for Z in (Zx, Zq))
    D, I = ReducedIndex().fit(X, Z=Zx16).search(Q, 5, Z=Zq16)
    ref_d, ref_i = ExactIndex().fit(Zx16.astype(np.float32)).search(Zq16.astype(np.float32), 5)
    np.testing.assert_array_equal(I, ref_i)
    np.testing.assert_array_equal(D, ref_d)


def test_encode_function_replaces_z(data):
    X, Q, Zx, Zq = data
    P = np.linalg.lstsq(X.astype(np.float32), Zx, rcond=None)[0]
    encode = lambda A: A.astype(np.float32) @ P  # noqa: E731
    a = ReducedIndex(encode, rerank=8).fit(X).search(Q, 3)
    b = ReducedIndex(rerank=8).fit(X, Z=encode(X)).search(Q, 3, Z=encode(Q))
    np.testing.assert_array_equal(a[1], b[1])


def test_errors(data):
    X, Q, Zx, Zq = data
    with pytest.raises(ValueError, match="latent vectors of the data"):
        ReducedIndex().fit(X)
    with pytest.raises(ValueError, match="data has 300 vectors but 299 latent vectors"):
        ReducedIndex().fit(X, Z=Zx[:-1])
    index = ReducedIndex().fit(X, Z=Zx)
    with pytest.raises(ValueError, match="latent vectors of the query"):
        index.search(Q, 1)
    with pytest.raises(ValueError, match="query latent vectors have 2 dimensions, index latent"):
        index.search(Q, 1, Z=Zq[:, :2])
    with pytest.raises(ValueError, match="rerank must be a non-negative integer"):
        index.search(Q, 1, Z=Zq, rerank=-1)
