"""HNSW graphs built in C on uint8 rows under L1 (``_hnswbuild``), handed to FAISS."""
import numpy as np
import pytest

import imsim.search.hnsw as H
from imsim.distances import distances_at, pairwise
from imsim.evaluation import recall_at_k
from imsim.search import ExactIndex, HNSWIndex, Index

pytestmark = pytest.mark.skipif(H._C is None, reason="the C HNSW builder is not compiled")


def clustered_u8(rng, n, d, centres=20):
    """Pixels around a few centres: neighbours that mean something, and many ties."""
    C = rng.integers(0, 256, (centres, d))
    X = C[rng.integers(0, centres, n)] + rng.integers(-20, 21, (n, d))
    return np.clip(X, 0, 255).astype(np.uint8)


def graph(index):
    """(levels from 0, offsets, neighbours, entry point, max level) of the FAISS index."""
    import faiss

    h = index.index_.hnsw
    return (faiss.vector_to_array(h.levels) - 1, faiss.vector_to_array(h.offsets).astype(np.int64),
            faiss.vector_to_array(h.neighbors), h.entry_point, h.max_level,
            faiss.vector_to_array(h.cum_nneighbor_per_level).astype(np.int64))


def faiss_built(X, **params):
    """The same index with FAISS building the graph (the extension switched off)."""
    saved, H._C = H._C, None
    try:
        return HNSWIndex(**params).fit(X)
    finally:
        H._C = saved


def test_graph_is_well_formed(rng):
    X = clustered_u8(rng, 700, 40)
    index = HNSWIndex(M=6, ef_construction=30, seed=3).fit(X)
    levels, offsets, nb, entry, max_level, cum = graph(index)
    assert index.ntotal == len(X) == len(levels) and offsets[-1] == len(nb)
    assert max_level == levels.max() and levels[entry] == max_level
    assert (np.diff(offsets) == cum[levels + 1]).all()
    for i in range(len(X)):
        for lev in range(levels[i] + 1):
            links = nb[offsets[i] + cum[lev]:offsets[i] + cum[lev + 1]]
            filled = links[links >= 0]
            # filled slots first, then -1; no self-links, no duplicates, only
            # points that reach this level
            assert (links[:len(filled)] >= 0).all()
            assert i not in filled and len(set(filled)) == len(filled)
            assert (levels[filled] >= lev).all()
            if len(X) > 1:
                assert lev > 0 or len(filled) > 0  # everyone is linked on level 0


def test_recall_as_good_as_faiss_building_it(rng):
    X = clustered_u8(rng, 3000, 64)
    Q = clustered_u8(np.random.default_rng(7), 200, 64)
    true_d, _ = ExactIndex().fit(X).search(Q, 10)
    ours = HNSWIndex(M=8, ef_construction=40).fit(X)
    theirs = faiss_built(X, M=8, ef_construction=40)
    for ef in (10, 40, 200):
        r_ours = recall_at_k(ours.search(Q, 10, ef=ef)[0], true_d, 10)
        r_theirs = recall_at_k(theirs.search(Q, 10, ef=ef)[0], true_d, 10)
        assert r_ours >= r_theirs - 0.02, (ef, r_ours, r_theirs)
    assert r_ours >= 0.9


def test_distances_are_exact_l1(rng):
    X = rng.integers(0, 256, (500, 784), dtype=np.uint8)  # 784: the SIMD tail too
    Q = rng.integers(0, 256, (20, 784), dtype=np.uint8)
    D, I = HNSWIndex().fit(X).search(Q, 5)
    np.testing.assert_array_equal(D, distances_at(Q, X, I))
    # an indexed point finds itself at distance 0
    D, I = HNSWIndex().fit(X).search(X[:50], 1, ef=64)
    assert (I[:, 0] == np.arange(50)).all() and (D[:, 0] == 0).all()


def test_same_seed_same_graph_and_seed_matters(rng):
    X = clustered_u8(rng, 400, 16)
    a, b = graph(HNSWIndex(M=4, seed=1).fit(X)), graph(HNSWIndex(M=4, seed=1).fit(X))
    c = graph(HNSWIndex(M=4, seed=2).fit(X))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_save_and_load_keep_the_graph(rng, tmp_path):
    X = clustered_u8(rng, 600, 24)
    Q = clustered_u8(rng, 30, 24)
    index = HNSWIndex(M=5, ef_construction=20).fit(X)
    index.save(tmp_path / "h.npz")
    loaded = Index.load(tmp_path / "h.npz")
    for x, y in zip(index.search(Q, 7, ef=30), loaded.search(Q, 7, ef=30)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("n", [1, 2, 3, 17])
def test_tiny_sets(rng, n):
    X = rng.integers(0, 256, (n, 10), dtype=np.uint8)
    D, I = HNSWIndex(M=2, ef_construction=4).fit(X).search(X, n, ef=16)
    ref = np.sort(pairwise(X, X), axis=1)
    np.testing.assert_array_equal(D, ref)
    assert (np.sort(I, axis=1) == np.arange(n)).all()


def test_duplicates_and_constant_rows(rng):
    X = np.repeat(rng.integers(0, 256, (5, 12), dtype=np.uint8), 40, axis=0)
    D, I = HNSWIndex(M=4, ef_construction=16).fit(X).search(X[:5], 3, ef=64)
    assert (D == 0).all()


def test_other_inputs_still_built_by_faiss(rng, monkeypatch):
    calls = []
    monkeypatch.setattr(H, "_build_u8_l1", lambda *a: calls.append(a))
    HNSWIndex(metric="l2").fit(rng.integers(0, 256, (50, 8), dtype=np.uint8))
    HNSWIndex().fit(rng.random((50, 8), dtype=np.float32))
    assert calls == []
    HNSWIndex().fit(rng.integers(0, 256, (50, 8), dtype=np.uint8))
    assert len(calls) == 1


def test_inconsistent_arrays_are_refused():
    X = np.zeros((3, 4), dtype=np.uint8)
    level = np.zeros(3, dtype=np.int32)
    cum = np.array([0, 4], dtype=np.int64)
    offsets = np.array([0, 4, 8, 12], dtype=np.int64)
    nb = np.full(12, -1, dtype=np.int32)
    assert H._C.build(X, 4, level, offsets, cum, nb, 8) == (0, 0)
    with pytest.raises(ValueError, match="inconsistent"):
        H._C.build(X, 4, level + 1, offsets, cum, nb, 8)  # level beyond the table
    with pytest.raises(ValueError, match="inconsistent"):
        H._C.build(X, 4, level, offsets, cum, nb[:10], 8)  # too few slots
    with pytest.raises(ValueError, match="inconsistent"):
        H._C.build(X, 4, level, np.array([0, 4, 9, 12], dtype=np.int64), cum, nb, 8)
