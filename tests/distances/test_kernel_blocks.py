"""The uint8 L1 kernel's blocking: four queries by four rows per step, 32-row tiles,
512-query blocks, top-k selection fused with the distances (a distance reaches its
heap only below the heap's bound). Every instruction set and the numpy fallback
must give the brute-force answer exactly, at every edge of those blocks."""
import numpy as np
import pytest
from _reference import brute_distances as brute_l1
from _reference import topk_of as brute_topk

import imsim.distances.kernels as K
from imsim.distances import pairwise, topk, topk_candidates




def check_topk(Q, X, k):
    D, I = topk(Q, X, k)
    ref_d, ref_i = brute_topk(brute_l1(Q, X), k)
    np.testing.assert_array_equal(I, ref_i)
    np.testing.assert_array_equal(D, ref_d)


# d: no tail (64), a tail of at most 16 bytes (16, 20, 784: four rows' tails share one
# SAD), a longer tail (50, 100); nq: a full group of four and remainders of 1, 2, 3
@pytest.mark.parametrize("d", [16, 20, 50, 64, 100, 784])
@pytest.mark.parametrize("nq", [1, 2, 3, 5, 6, 7, 8, 9])
def test_topk_every_query_remainder_and_tail(backend, rng, d, nq):
    # 101 rows: the last tile ends 1 row into a block of four
    X = rng.choice(np.array([0, 1, 2, 254, 255], dtype=np.uint8), size=(101, d))
    Q = rng.choice(np.array([0, 1, 255], dtype=np.uint8), size=(nq, d))
    check_topk(Q, X, 1)
    check_topk(Q, X, 10)


@pytest.mark.parametrize("nq", [1, 3, 6, 7])
def test_pairwise_every_query_remainder(backend, rng, nq):
    X = rng.integers(0, 256, (70, 784), dtype=np.uint8)
    Q = rng.integers(0, 256, (nq, 784), dtype=np.uint8)
    np.testing.assert_array_equal(pairwise(Q, X), brute_l1(Q, X))


@pytest.mark.parametrize("k", [15, 16, 17, 33, 64, 150])
def test_topk_k_larger_than_a_block_or_a_tile(backend, rng, k):
    # k above the 16 distances of one step and the 32 rows of one tile: the heap is
    # still filling across several tiles, so every distance must go in
    X = rng.integers(0, 4, (150, 20), dtype=np.uint8)  # many ties
    Q = rng.integers(0, 4, (7, 20), dtype=np.uint8)
    check_topk(Q, X, k)


def test_ties_across_tiles_go_to_the_smaller_id(backend, rng):
    X = rng.integers(0, 256, (200, 784), dtype=np.uint8)
    Q = rng.integers(0, 256, (6, 784), dtype=np.uint8)
    # each query's own copy at ids in different tiles and blocks of four
    for i, ids in enumerate([(3, 40, 190), (31, 32, 33), (0, 199, 100), (64, 65, 66),
                             (127, 128, 2), (5, 6, 7)]):
        X[list(ids)] = Q[i]
    D, I = topk(Q, X, 3)
    assert (D == 0).all()
    for i, ids in enumerate([(3, 40, 190), (31, 32, 33), (0, 199, 100), (64, 65, 66),
                             (127, 128, 2), (5, 6, 7)]):
        assert list(I[i]) == sorted(ids)
    check_topk(Q, X, 4)


def test_topk_bound_tightens_within_one_block(backend):
    # rows in decreasing distance inside one block of four: each displaces the last,
    # so the bound must drop between the four distances of one step
    Q = np.zeros((4, 64), dtype=np.uint8)
    X = np.zeros((40, 64), dtype=np.uint8)
    X[:, 0] = np.arange(40)[::-1]
    check_topk(Q, X, 1)
    check_topk(Q, X, 3)
    check_topk(Q, X, 39)


def test_topk_more_queries_than_one_query_block(backend, rng):
    # 515 = one block of 512 queries, then 3
    X = rng.integers(0, 3, (90, 9), dtype=np.uint8)
    Q = rng.integers(0, 3, (515, 9), dtype=np.uint8)
    check_topk(Q, X, 5)


def test_topk_split_over_threads_with_remainders(backend, rng, monkeypatch):
    monkeypatch.setenv("IMSIM_THREADS", "2")
    monkeypatch.setattr(K, "_PARALLEL_MIN", 1)
    X = rng.integers(0, 2, (333, 30), dtype=np.uint8)
    X[200:300] = X[:100]
    for nq in (9, 37, 41):
        check_topk(rng.integers(0, 2, (nq, 30), dtype=np.uint8), X, 12)


def test_candidates_unchanged_by_the_query_blocks(backend, rng):
    # candidate lists run one query at a time against batches of 64 rows, more than a tile
    X = rng.integers(0, 256, (300, 784), dtype=np.uint8)
    Q = rng.integers(0, 256, (3, 784), dtype=np.uint8)
    ids = np.concatenate([rng.permutation(300)[:100] for _ in range(3)]).astype(np.int64)
    indptr = np.array([0, 100, 200, 300], dtype=np.int64)
    D, I, checked = topk_candidates(Q, X, indptr, ids, 5)
    full = brute_l1(Q, X)
    for q in range(3):
        cand = ids[indptr[q]:indptr[q + 1]]
        order = np.lexsort((cand, full[q, cand]))[:5]
        np.testing.assert_array_equal(I[q], cand[order])
        np.testing.assert_array_equal(D[q], full[q, cand[order]])
    assert (checked == 100).all()
