import subprocess
import sys

import numpy as np
import pytest
from _reference import brute_distances as brute_l1
from _reference import topk_of as brute_topk
from scipy.spatial.distance import cdist

import imsim.distances.kernels as K
from imsim.distances import distances_at, pairwise, topk, topk_candidates




@pytest.fixture
def two_threads(monkeypatch):
    """Split work over two threads even on a one-core machine, for small inputs too."""
    monkeypatch.setenv("IMSIM_THREADS", "2")
    monkeypatch.setattr(K, "_PARALLEL_MIN", 1)


def sequential_l1_f32(Q, X):
    """float32 L1 summed over dimensions in order: what both backends compute."""
    acc = np.zeros((len(Q), len(X)), dtype=np.float32)
    for j in range(Q.shape[1]):
        acc += np.abs(X[None, :, j] - Q[:, None, j])
    return acc


@pytest.mark.parametrize("metric, ref", [("l1", "cityblock"), ("l2", "euclidean"), ("cosine", "cosine")])
def test_pairwise_matches_scipy(rng, metric, ref):
    X = rng.random((30, 8), dtype=np.float32)
    Y = rng.random((20, 8), dtype=np.float32)
    np.testing.assert_allclose(pairwise(X, Y, metric), cdist(X, Y, ref), rtol=1e-5, atol=1e-6)


def test_uint8_l1_is_exact_int(rng):
    X = rng.integers(0, 256, (25, 784), dtype=np.uint8)
    D = pairwise(X, metric="l1")
    assert D.dtype == np.int32
    np.testing.assert_array_equal(D, brute_l1(X, X))


@pytest.mark.parametrize("d", [1, 7, 16, 31, 32, 33, 63, 64, 65, 100, 784])
def test_uint8_l1_every_tail_length(backend, rng, d):
    # 0 and 255 side by side: the largest per-byte differences
    X = rng.choice(np.array([0, 1, 128, 254, 255], dtype=np.uint8), size=(37, d))
    Q = rng.integers(0, 256, (9, d), dtype=np.uint8)
    np.testing.assert_array_equal(pairwise(Q, X), brute_l1(Q, X))


def test_uint8_worst_case_sums_do_not_overflow(backend):
    Q = np.zeros((3, 4099), dtype=np.uint8)
    X = np.full((5, 4099), 255, dtype=np.uint8)
    assert (pairwise(Q, X) == 255 * 4099).all()


def test_float_l1_same_bits_on_every_backend(backend, rng):
    X = (rng.standard_normal((300, 10)) * 100).astype(np.float32)
    Q = (rng.standard_normal((13, 10)) * 100).astype(np.float32)
    expected = sequential_l1_f32(Q, X)
    np.testing.assert_array_equal(pairwise(Q, X), expected)
    D, I = topk(Q, X, 5)
    ref_d, ref_i = brute_topk(expected.astype(np.float64), 5)
    np.testing.assert_array_equal(I, ref_i)
    np.testing.assert_array_equal(D, ref_d.astype(np.float32))


def test_topk_matches_bruteforce_with_ties(backend, rng):
    X = rng.integers(0, 3, (200, 4), dtype=np.uint8)  # many ties
    Q = rng.integers(0, 3, (15, 4), dtype=np.uint8)
    D, I = topk(Q, X, 7)
    ref_d, ref_i = brute_topk(brute_l1(Q, X), 7)
    np.testing.assert_array_equal(I, ref_i)
    np.testing.assert_array_equal(D, ref_d)
    assert I.dtype == np.int64 and D.dtype == np.float32


@pytest.mark.parametrize("nq", [1, 3, 40])  # few queries split the data, many the queries
def test_topk_split_over_threads_keeps_ties_by_id(backend, two_threads, rng, nq):
    X = rng.integers(0, 2, (999, 24), dtype=np.uint8)
    X[500:] = X[:499]  # exact duplicates in the second half, found by both threads
    Q = rng.integers(0, 2, (nq, 24), dtype=np.uint8)
    D, I = topk(Q, X, 25)
    ref_d, ref_i = brute_topk(brute_l1(Q, X), 25)
    np.testing.assert_array_equal(I, ref_i)
    np.testing.assert_array_equal(D, ref_d)


def test_pairwise_split_over_threads(backend, two_threads, rng):
    X = rng.integers(0, 256, (301, 50), dtype=np.uint8)
    np.testing.assert_array_equal(pairwise(X[:3], X), brute_l1(X[:3], X))    # data split
    np.testing.assert_array_equal(pairwise(X[:41], X), brute_l1(X[:41], X))  # query split


def test_topk_k_equals_n_sorts_everything(backend, rng):
    X = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    D, I = topk(X, X, 6)
    assert (D[:, 0] == 0).all()
    ref_d, ref_i = brute_topk(brute_l1(X, X), 6)
    np.testing.assert_array_equal(I, ref_i)
    np.testing.assert_array_equal(D, ref_d)


@pytest.mark.parametrize("metric, ref", [("l2", "euclidean"), ("cosine", "cosine")])
def test_topk_other_metrics(rng, metric, ref):
    X = rng.integers(0, 4, (500, 6), dtype=np.uint8)  # ties in L2 too, exact integers
    Q = rng.integers(1, 4, (9, 6), dtype=np.uint8)
    D, I = topk(Q, X, 8, metric)
    full = cdist(Q.astype(float), X.astype(float), ref)
    np.testing.assert_allclose(D, np.sort(full, axis=1)[:, :8], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.take_along_axis(full, I, 1), D, rtol=1e-5, atol=1e-6)
    if metric == "l2":  # squared integers are exact: ties resolve by id
        _, ref_i = brute_topk(((Q[:, None, :].astype(int) - X[None]) ** 2).sum(-1), 8)
        np.testing.assert_array_equal(I, ref_i)


def test_cosine_of_zero_vector_is_one():
    X = np.array([[0, 0], [1, 0]], dtype=np.float32)
    np.testing.assert_allclose(pairwise(X, metric="cosine"), [[1, 1], [1, 0]], atol=1e-7)


def test_topk_candidates_matches_bruteforce(backend, rng):
    X = rng.integers(0, 4, (80, 33), dtype=np.uint8)
    Q = rng.integers(0, 4, (5, 33), dtype=np.uint8)
    lists = [rng.integers(0, 80, size) for size in (0, 1, 7, 150, 30)]  # with duplicates
    indptr = np.concatenate([[0], np.cumsum([len(c) for c in lists])])
    ids = np.concatenate(lists)
    full = brute_l1(Q, X)
    for cap in (None, 3):
        D, I, checked = topk_candidates(Q, X, indptr, ids, 4, max_candidates=cap)
        for q, cand in enumerate(lists):
            _, first = np.unique(cand, return_index=True)
            cand = cand[np.sort(first)][:cap]
            assert checked[q] == len(cand)
            order = np.lexsort((cand, full[q, cand]))[:4]
            m = len(order)
            np.testing.assert_array_equal(I[q, :m], cand[order])
            np.testing.assert_array_equal(D[q, :m], full[q, cand[order]])
            assert (I[q, m:] == -1).all() and np.isinf(D[q, m:]).all()


def test_topk_candidates_without_queries(backend, rng):
    X = rng.integers(0, 4, (10, 3), dtype=np.uint8)
    D, I, checked = topk_candidates(X[:0], X, [0], [], 2)
    assert D.shape == I.shape == (0, 2) and checked.shape == (0,)


def test_topk_candidates_float_same_bits(backend, rng):
    X = rng.standard_normal((70, 12)).astype(np.float32)
    Q = rng.standard_normal((2, 12)).astype(np.float32)
    ids = np.arange(70)[::-1].copy()
    D, I, _ = topk_candidates(Q, X, [0, 70, 70], ids, 3)
    ref_d, ref_i = brute_topk(sequential_l1_f32(Q[:1], X).astype(np.float64), 3)
    np.testing.assert_array_equal(I[0], ref_i[0])
    np.testing.assert_array_equal(D[0], ref_d[0].astype(np.float32))
    assert (I[1] == -1).all()


def test_topk_candidates_bad_input(backend, rng):
    X = rng.integers(0, 4, (10, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="out of range"):
        topk_candidates(X[:1], X, [0, 2], [3, 10], 1)
    with pytest.raises(ValueError, match="indptr"):
        topk_candidates(X[:2], X, [0, 2], [3, 4], 1)
    with pytest.raises(ValueError, match="max_candidates"):
        topk_candidates(X[:1], X, [0, 1], [3], 1, max_candidates=0)


@pytest.mark.parametrize("metric", ["l1", "l2", "cosine"])
def test_distances_at_agrees_with_pairwise(rng, metric):
    X = rng.integers(0, 256, (40, 20), dtype=np.uint8)
    Q = rng.integers(0, 256, (6, 20), dtype=np.uint8)
    I = rng.integers(-1, 40, (6, 3))
    got = distances_at(Q, X, I, metric)
    full = pairwise(Q, X, metric)
    expect = np.where(I >= 0, np.take_along_axis(full, np.maximum(I, 0), 1), np.inf)
    np.testing.assert_allclose(got, expect, rtol=1e-6)


def test_errors(rng):
    X = rng.random((5, 3))
    with pytest.raises(ValueError, match="queries has 2 dimensions, data has 3"):
        topk(rng.random((2, 2)), X, 1)
    with pytest.raises(ValueError, match="k=6 but the data holds 5"):
        topk(X, X, 6)
    with pytest.raises(ValueError, match="unknown metric"):
        pairwise(X, X, "hamming")
    with pytest.raises(ValueError, match="empty"):
        topk(np.zeros((0, 3)), X, 1)
    with pytest.raises(ValueError, match="overflow int32"):
        pairwise(np.zeros((1, K._MAX_U8_DIMS + 1), np.uint8))


def test_fallback_when_extension_is_missing():
    code = ("import sys; sys.modules['imsim.distances._l1kernel'] = None\n"
            "import numpy as np\n"
            "from imsim.distances import backend, pairwise\n"
            "X = np.arange(12, dtype=np.uint8).reshape(3, 4)\n"
            "print(backend(), pairwise(X)[0].tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["numpy", "[0,", "16,", "32]"]


def test_real_mnist_c_and_numpy_agree(mnist_dir, monkeypatch):
    from imsim.datasets import read_images

    X = read_images(mnist_dir / "t10k-images-idx3-ubyte.gz").reshape(10000, -1)
    data, queries = X[:3000], X[9000:9040]
    D, I = topk(queries, data, 5)
    full = np.stack([np.abs(data.astype(np.int16) - q).sum(1) for q in queries])
    ref_d, ref_i = brute_topk(full, 5)
    np.testing.assert_array_equal(I, ref_i)
    np.testing.assert_array_equal(D, ref_d)
    monkeypatch.setattr(K, "_C", None)
    D2, I2 = topk(queries, data, 5)
    np.testing.assert_array_equal(I2, I)
    np.testing.assert_array_equal(D2, D)
