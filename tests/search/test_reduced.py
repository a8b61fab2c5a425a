import numpy as np
import pytest

from imsim.search import ExactIndex, LatentTable, ReducedIndex


@pytest.fixture
def data(rng):
    X = rng.integers(0, 256, (300, 20), dtype=np.uint8)
    Q = rng.integers(0, 256, (12, 20), dtype=np.uint8)
    P = rng.standard_normal((20, 3)).astype(np.float32)
    return X, Q, X.astype(np.float32) @ P, Q.astype(np.float32) @ P


def table(X, Q, Zx, Zq):
    """The encoder of latents computed beforehand (the latent files' way in)."""
    return LatentTable((X, Zx), (Q, Zq))


def test_no_rerank_is_exact_latent_search(data):
    X, Q, Zx, Zq = data
    D, I = ReducedIndex(table(X, Q, Zx, Zq)).fit(X).search(Q, 5)
    ref_d, ref_i = ExactIndex().fit(Zx).search(Zq, 5)
    np.testing.assert_array_equal(I, ref_i)
    np.testing.assert_array_equal(D, ref_d)


def test_full_rerank_is_exact_original_search(data):
    X, Q, Zx, Zq = data
    index = ReducedIndex(table(X, Q, Zx, Zq), rerank=10).fit(X)
    D, I = index.search(Q, 5, rerank=len(X))
    ref_d, ref_i = ExactIndex().fit(X).search(Q, 5)
    np.testing.assert_array_equal(I, ref_i)
    np.testing.assert_array_equal(D, ref_d)


def test_partial_rerank_orders_latent_candidates_by_true_distance(data):
    X, Q, Zx, Zq = data
    _, cand = ExactIndex().fit(Zx).search(Zq, 20)
    D, I = ReducedIndex(table(X, Q, Zx, Zq), rerank=20).fit(X).search(Q, 4)
    for q in range(len(Q)):
        true = np.abs(X[cand[q]].astype(int) - Q[q]).sum(1)
        order = np.lexsort((cand[q], true))[:4]
        np.testing.assert_array_equal(I[q], cand[q][order])
        np.testing.assert_array_equal(D[q], true[order])


def test_uint16_latents_are_searched_as_numbers(data):
    X, Q, Zx, Zq = data
    lo = min(Zx.min(), Zq.min())
    Zx16, Zq16 = (((Z - lo) * 50).astype(np.uint16) for Z in (Zx, Zq))
    D, I = ReducedIndex(table(X, Q, Zx16, Zq16)).fit(X).search(Q, 5)
    ref_d, ref_i = ExactIndex().fit(Zx16.astype(np.float32)).search(Zq16.astype(np.float32), 5)
    np.testing.assert_array_equal(I, ref_i)
    np.testing.assert_array_equal(D, ref_d)


def test_encode_function_equals_its_latents_given_beforehand(data):
    X, Q, Zx, Zq = data
    P = np.linalg.lstsq(X.astype(np.float32), Zx, rcond=None)[0]
    encode = lambda A: A.astype(np.float32) @ P  # noqa: E731
    a = ReducedIndex(encode, rerank=8).fit(X).search(Q, 3)
    b = ReducedIndex(table(X, Q, encode(X), encode(Q)), rerank=8).fit(X).search(Q, 3)
    np.testing.assert_array_equal(a[1], b[1])


def test_latent_table_by_position_and_by_content(data):
    X, Q, Zx, Zq = data
    t = table(X, Q, Zx, Zq)
    np.testing.assert_array_equal(t(X), Zx)
    np.testing.assert_array_equal(t(X[40:90]), Zx[40:90])       # a block: by position
    np.testing.assert_array_equal(t(Q[::-1].copy()), Zq[::-1])  # a copy: by content
    np.testing.assert_array_equal(t(np.concatenate([Q[:2], X[:3]])),
                                  np.concatenate([Zq[:2], Zx[:3]]))
    with pytest.raises(ValueError, match="vector 0 is not among the vectors"):
        t(np.full((1, 20), 7, dtype=np.uint8))
    with pytest.raises(ValueError, match="pair 1 has 12 vectors but 11 latent vectors"):
        LatentTable((X, Zx), (Q, Zq[:-1]))


def test_errors(data):
    X, Q, Zx, Zq = data
    with pytest.raises(ValueError, match="ReducedIndex needs an encoder"):
        ReducedIndex().fit(X)
    with pytest.raises(ValueError, match="data has 300 vectors but 299 latent vectors"):
        ReducedIndex(lambda A: Zx[:-1]).fit(X)
    index = ReducedIndex(lambda A: Zx if len(A) == len(X) else Zq[:, :2]).fit(X)
    with pytest.raises(ValueError, match="query latent vectors have 2 dimensions, index latent"):
        index.search(Q, 1)
    index = ReducedIndex(table(X, Q, Zx, Zq)).fit(X)
    with pytest.raises(ValueError, match="rerank must be at least 0, got -1"):
        index.search(Q, 1, rerank=-1)
    with pytest.raises(TypeError, match="rerank must be an integer, got 1.5"):
        index.search(Q, 1, rerank=1.5)
    with pytest.raises(TypeError, match="encode must be callable"):
        ReducedIndex(Zx).fit(X)
