"""One conformance suite run over every Index (as scikit-learn's common checks).

Each index kind runs on every dtype it takes (uint8 pixels, float32 latents) and
every metric it declares (``Index.metrics``).
"""
import threading

import numpy as np
import pytest
from _reference import brute_knn, check_knn_with_ties

from imsim._validation import DataFormatError, NotFittedError
from imsim.distances import distances_at
from imsim.search import (ExactIndex, HNSWIndex, Index, LSHIndex, ReducedIndex, SearchStats,
                          ShardedIndex)

D_DIMS = 32
_P = np.random.default_rng(7).standard_normal((D_DIMS, 6)).astype(np.float32)


def project(A):
    """A fixed linear 'encoder' standing in for the autoencoder."""
    return np.asarray(A, dtype=np.float32) @ _P


BUILD = {
    "exact": {},
    "lsh": {"n_hashes": 4, "n_tables": 8, "seed": 3},
    "hnsw": {"M": 8, "ef_construction": 40, "seed": 3},
    "reduced": {"encode": project, "rerank": 30},
}
CASES = [(kind, dtype, metric) for kind in sorted(BUILD) for dtype in ("uint8", "float32")
         for metric in Index.class_for(kind).metrics]


def make_case(kind, dtype, metric):
    """(make, X, Q, truth, metric): a factory of unfitted indexes and planted data
    of one dtype: each query is a slightly perturbed copy of one data row."""
    rng = np.random.default_rng(0)
    truth = rng.choice(300, 40, replace=False)
    if dtype == "uint8":
        X = rng.integers(0, 256, (300, D_DIMS), dtype=np.uint8)
        noise = rng.integers(-3, 4, (40, D_DIMS))
        Q = np.clip(X[truth].astype(int) + noise, 0, 255).astype(np.uint8)
    else:
        X = rng.standard_normal((300, D_DIMS)).astype(np.float32)
        Q = (X[truth] + 0.02 * rng.standard_normal((40, D_DIMS))).astype(np.float32)
    return (lambda: Index.create(kind, metric=metric, **BUILD[kind])), X, Q, truth, metric


@pytest.fixture(params=CASES, ids=["-".join(c) for c in CASES])
def case(request):
    return make_case(*request.param)


def check_result(D, I, nq, k):
    assert D.shape == I.shape == (nq, k)
    assert D.dtype == np.float32 and I.dtype == np.int64
    assert np.all(D[:, 1:] >= D[:, :-1]), "distances must ascend along each row"
    assert np.all(np.isinf(D[I < 0])) and np.all(np.isfinite(D[I >= 0]))
    for row in I:
        valid = row[row >= 0]
        assert len(np.unique(valid)) == len(valid), "ids repeat in a row"
        assert np.all(row[len(valid):] == -1), "-1 only at the end of a row"


def test_search_shapes_sorted_unique(case):
    make, X, Q, _, metric = case
    index = make().fit(X)
    assert index.ntotal == len(X)
    D, I = index.search(Q, 10)
    check_result(D, I, len(Q), 10)
    # distances are the true original-space distances of the returned ids (the
    # latent ones for Reduced without re-rank); uint8 L1 ones exactly
    if not isinstance(index, ReducedIndex):
        expect = distances_at(Q, X, I, metric)
        if X.dtype == np.uint8 and metric == "l1":
            np.testing.assert_array_equal(D, expect)
        else:
            np.testing.assert_allclose(D, expect, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype, metric", [c[1:] for c in CASES if c[0] == "exact"])
def test_exact_answers_match_brute_force(dtype, metric):
    make, X, Q, _, _ = make_case("exact", dtype, metric)
    D, I = make().fit(X).search(Q, 10)
    check_knn_with_ties(*brute_knn(Q, X, 10, metric), D, I)


def test_planted_neighbours_are_found(case):
    make, X, Q, truth, _ = case
    _, I = make().fit(X).search(Q, 1)
    assert np.mean(I[:, 0] == truth) >= 0.9


def test_k_larger_than_index_pads(case):
    make, X, Q, _, _ = case
    D, I = make().fit(X[:7]).search(Q[:3], 10)
    check_result(D, I, 3, 10)
    assert np.all(I[:, 7:] == -1) and np.all(np.isinf(D[:, 7:]))


def test_empty_queries(case):
    make, X, _, _, _ = case
    D, I, stats = make().fit(X).search(np.empty((0, D_DIMS), dtype=X.dtype), 5,
                                       return_stats=True)
    assert D.shape == I.shape == (0, 5) and stats.n_queries == 0


def test_empty_data_is_refused(case):
    make, X, _, _, _ = case
    with pytest.raises(ValueError, match="empty"):
        make().fit(X[:0])


def test_same_seed_same_result(case):
    make, X, Q, _, _ = case
    a = make().fit(X).search(Q, 5)
    b = make().fit(X).search(Q, 5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def _same_state(a: Index, b: Index) -> bool:
    sa, sb = a._state(), b._state()
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("kind, dtype, metric", [("lsh", "uint8", "l1"), ("hnsw", "uint8", "l1"),
                                                 ("hnsw", "float32", "l2")])
def test_another_seed_builds_another_index(kind, dtype, metric):
    """The seed is what makes a build repeatable: the same seed gives the same hash
    tables / graph, another seed other ones (LSH then finds other neighbours). HNSW
    builds uint8 L1 graphs in C (with the extension) and others in FAISS: both."""
    make, X, Q, _, _ = make_case(kind, dtype, metric)
    params = make().get_params()
    same, other = (Index.create(kind, **{**params, "seed": s}).fit(X) for s in (3, 4))
    assert _same_state(make().fit(X), same)
    assert not _same_state(same, other)
    if kind == "lsh":  # HNSW finds the exact neighbours of 300 vectors with either graph
        assert (same.search(Q, 5)[1] != other.search(Q, 5)[1]).any()


def test_save_load_round_trip(case, tmp_path):
    make, X, Q, _, _ = case
    index = make().fit(X)
    path = index.save(tmp_path / "index.npz")
    again = Index.load(path)
    assert type(again) is type(index) and again.name == index.name
    assert again.ntotal == index.ntotal and again.metric_ == index.metric_
    if isinstance(again, ReducedIndex):
        again.encode = project
    for got, expect in zip(again.search(Q, 5), index.search(Q, 5)):
        np.testing.assert_array_equal(got, expect)
    assert type(type(index).load(path)) is type(index)


def test_fit_keeps_the_constructor_parameters(case):
    make, X, _, _, _ = case
    index = make()
    before = index.get_params()
    index.fit(X)
    assert index.get_params() == before
    assert set(before) == set(type(index).build_params)


def test_stats_are_returned_per_call_not_stored(case):
    make, X, Q, _, _ = case
    index = make().fit(X)
    state = dict(vars(index))
    D, I, stats = index.search(Q, 3, return_stats=True)
    assert isinstance(stats, SearchStats) and stats.n_queries == len(Q)
    assert stats.n_not_found == int((I[:, 0] < 0).sum())
    assert stats.mean_checked is None or 0 < stats.mean_checked <= len(X)
    assert vars(index).keys() == state.keys(), "search must not add attributes"
    for got, expect in zip((D, I), index.search(Q, 3)):
        np.testing.assert_array_equal(got, expect)


def test_not_fitted(case):
    make, _, Q, _, _ = case
    with pytest.raises(NotFittedError, match="not fitted"):
        make().search(Q, 1)
    with pytest.raises(NotFittedError):
        make().save("never-written.npz")


def test_bad_queries(case):
    make, X, Q, _, _ = case
    index = make().fit(X)
    with pytest.raises(ValueError, match="query has 31 dimensions, index has 32"):
        index.search(Q[:, :31], 1)
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        index.search(Q, 0)
    with pytest.raises(TypeError, match="k must be an integer, got 2.5"):
        index.search(Q, 2.5)
    with pytest.raises(ValueError, match="NaN"):
        index.search(np.full((1, D_DIMS), np.nan), 1)
    with pytest.raises(TypeError, match=r"\.search\(\) got an unknown parameter 'efs'; it takes"):
        index.search(Q, 1, efs=3)
    if X.dtype == np.uint8:
        with pytest.raises(TypeError, match="outside the integers 0..255"):
            index.search(Q + 0.5, 1)
        # integer-valued queries of another dtype are the same pixels
        for got, expect in zip(index.search(Q.astype(np.int64), 3), index.search(Q, 3)):
            np.testing.assert_array_equal(got, expect)


@pytest.mark.parametrize("index, name", [
    (ExactIndex(metric="cosine"), "Exact(cosine)"),
    (ExactIndex(metric="manhattan"), "Exact(manhattan)"),
    (HNSWIndex(M=8, ef_construction=40, metric="l1"), "HNSW(M=8, efC=40, l1)"),
    (LSHIndex(n_hashes=3, n_tables=7, w=2.5), "LSH(k=3, L=7, w=2.5)"),
    (LSHIndex(n_hashes=6, n_tables=2), "LSH(k=6, L=2, w=auto)"),
    (ReducedIndex(latent_metric="l2", rerank=50), "Reduced(l2, rerank=50)"),
    (ShardedIndex(n_shards=3, base="hnsw", params={"M": 8, "ef_search": 20}),
     "Sharded(3 x hnsw(M=8, ef_search=20))"),
])
def test_name_and_repr_show_the_parameters(index, name):
    assert index.name == name and repr(index) == name


def test_name_shows_fitted_values():
    X = np.random.default_rng(0).random((50, 4)).astype(np.float32)
    lsh = LSHIndex(n_hashes=2, n_tables=3).fit(X)
    assert lsh.name == f"LSH(k=2, L=3, w={lsh.w_:g})" and lsh.w_ > 0
    assert ExactIndex(metric="manhattan").fit(X).name == "Exact(l1)"  # the canonical metric


# ------------------------------------------------------------ the registry

def test_create_makes_each_kind_and_refuses_unknown_names():
    assert Index.kinds() == ("exact", "hnsw", "lsh", "reduced", "sharded")
    for kind, cls in [("exact", ExactIndex), ("lsh", LSHIndex), ("hnsw", HNSWIndex),
                      ("reduced", ReducedIndex), ("sharded", ShardedIndex)]:
        assert type(Index.create(kind)) is cls and cls.kind == kind
    assert Index.create("HNSW", M=8).get_params()["M"] == 8
    with pytest.raises(TypeError, match=r"^HNSWIndex\(\) got an unknown parameter 'm'; it takes: "
                                         r"M, ef_construction, metric, ef_search, seed$"):
        Index.create("hnsw", m=8)
    with pytest.raises(ValueError, match="unknown index kind 'annoy', expected one of exact, hnsw"):
        Index.create("annoy")
    with pytest.raises(ValueError, match="unknown index kind 'lsh'"):
        HNSWIndex.create("lsh")


def test_declared_query_parameters():
    assert ExactIndex.query_params == ()
    assert HNSWIndex.query_params == ("ef",)
    assert LSHIndex.query_params == ("max_candidates",)
    assert ReducedIndex.query_params == ("rerank",)
    X = np.random.default_rng(0).integers(0, 256, (50, 8), dtype=np.uint8)
    with pytest.raises(TypeError, match=r"^HNSWIndex.search\(\) got an unknown parameter 'eff'; "
                                         r"it takes: ef$"):
        HNSWIndex(M=4).fit(X).search(X, 2, eff=10)
    with pytest.raises(TypeError, match=r"^ExactIndex.search\(\) got an unknown parameter 'ef'; "
                                         r"it takes none$"):
        ExactIndex().fit(X).search(X, 2, ef=10)


def test_metric_aliases_and_fitted_metric():
    X = np.random.default_rng(0).integers(0, 256, (50, 8), dtype=np.uint8)
    for alias, canonical in [("manhattan", "l1"), ("cityblock", "l1"), ("Euclidean", "l2")]:
        index = ExactIndex(alias).fit(X)
        assert index.metric == alias and index.metric_ == canonical
        np.testing.assert_array_equal(index.search(X, 3)[1],
                                      ExactIndex(canonical).fit(X).search(X, 3)[1])
    with pytest.raises(ValueError, match="unknown metric 'hamming', expected one of l1, l2, cosine"):
        ExactIndex("hamming").fit(X)


def test_parameters_are_checked_before_any_work():
    calls = []
    index = ReducedIndex(lambda A: calls.append(1) or project(A), rerank=-1)
    with pytest.raises(ValueError, match="rerank must be at least 0, got -1"):
        index.fit(np.zeros((5, D_DIMS), np.uint8))
    assert calls == [] and index.ntotal == 0
    with pytest.raises(TypeError, match="n_tables must be an integer, got 2.0"):
        LSHIndex(n_tables=2.0).check_params()


def test_concurrent_searches_with_different_knobs_agree_with_sequential():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, (2000, 16), dtype=np.uint8)
    Q = rng.integers(0, 256, (64, 16), dtype=np.uint8)
    index = LSHIndex(n_hashes=3, n_tables=6, seed=2).fit(X)
    caps = [2, 5, 50, None] * 4
    expect = [index.search(Q, 5, return_stats=True, max_candidates=c) for c in caps]
    got = [None] * len(caps)

    def run(i):
        got[i] = index.search(Q, 5, return_stats=True, max_candidates=caps[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(caps))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (D, I, stats), (D2, I2, stats2) in zip(got, expect):
        np.testing.assert_array_equal(D, D2)
        np.testing.assert_array_equal(I, I2)
        assert stats == stats2


def test_load_checks_the_kind(tmp_path):
    X = np.random.default_rng(0).integers(0, 256, (30, D_DIMS), dtype=np.uint8)
    path = ExactIndex().fit(X).save(tmp_path / "exact.npz")
    with pytest.raises(DataFormatError, match="holds a ExactIndex, not a LSHIndex"):
        LSHIndex.load(path)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an index")
    with pytest.raises(DataFormatError, match="not an imsim index"):
        Index.load(bad)
    with pytest.raises(FileNotFoundError):
        Index.load(tmp_path / "missing.npz")
