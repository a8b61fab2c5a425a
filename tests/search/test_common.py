"""One conformance suite run over every Index (as scikit-learn's common checks)."""
import numpy as np
import pytest

from imsim._validation import DataFormatError, NotFittedError
from imsim.distances import distances_at
from imsim.search import ExactIndex, HNSWIndex, Index, LSHIndex, ReducedIndex

D_DIMS = 32
_P = np.random.default_rng(7).standard_normal((D_DIMS, 6)).astype(np.float32)


def project(A):
    """A fixed linear 'encoder' standing in for the autoencoder."""
    return np.asarray(A, dtype=np.float32) @ _P


FACTORIES = {
    "exact": lambda: ExactIndex(),
    "lsh": lambda: LSHIndex(k=4, L=8, seed=3),
    "hnsw": lambda: HNSWIndex(M=8, ef_construction=40, seed=3),
    "reduced": lambda: ReducedIndex(project, rerank=30),
}


@pytest.fixture(params=sorted(FACTORIES))
def make(request):
    return FACTORIES[request.param]


@pytest.fixture(scope="module")
def planted():
    """300 random uint8 vectors; each query is a slightly perturbed copy of one."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (300, D_DIMS), dtype=np.uint8)
    truth = rng.choice(300, 40, replace=False)
    noise = rng.integers(-3, 4, (40, D_DIMS))
    Q = np.clip(X[truth].astype(int) + noise, 0, 255).astype(np.uint8)
    return X, Q, truth


def check_result(D, I, nq, k):
    assert D.shape == I.shape == (nq, k)
    assert D.dtype == np.float32 and I.dtype == np.int64
    assert np.all(D[:, 1:] >= D[:, :-1]), "distances must ascend along each row"
    assert np.all(np.isinf(D[I < 0])) and np.all(np.isfinite(D[I >= 0]))
    for row in I:
        valid = row[row >= 0]
        assert len(np.unique(valid)) == len(valid), "ids repeat in a row"
        assert np.all(row[len(valid):] == -1), "-1 only at the end of a row"


def test_search_shapes_sorted_unique(make, planted):
    X, Q, _ = planted
    index = make().fit(X)
    assert index.ntotal == len(X)
    D, I = index.search(Q, 10)
    check_result(D, I, len(Q), 10)
    # distances are the true original-space distances of the returned ids
    np.testing.assert_array_equal(D, distances_at(Q, X, I))


def test_planted_neighbours_are_found(make, planted):
    X, Q, truth = planted
    D, I = make().fit(X).search(Q, 1)
    assert np.mean(I[:, 0] == truth) >= 0.9


def test_k_larger_than_index_pads(make, planted):
    X, Q, _ = planted
    small = X[:7]
    D, I = make().fit(small).search(Q[:3], 10)
    check_result(D, I, 3, 10)
    assert np.all(I[:, 7:] == -1) and np.all(np.isinf(D[:, 7:]))


def test_empty_queries(make, planted):
    X, _, _ = planted
    D, I = make().fit(X).search(np.empty((0, D_DIMS), dtype=np.uint8), 5)
    assert D.shape == I.shape == (0, 5)


def test_empty_data_is_refused(make):
    with pytest.raises(ValueError, match="empty"):
        make().fit(np.empty((0, D_DIMS), dtype=np.uint8))


def test_same_seed_same_result(make, planted):
    X, Q, _ = planted
    a = make().fit(X).search(Q, 5)
    b = make().fit(X).search(Q, 5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_save_load_round_trip(make, planted, tmp_path):
    X, Q, _ = planted
    index = make().fit(X)
    path = index.save(tmp_path / "index.npz")
    again = Index.load(path)
    assert type(again) is type(index) and again.name == index.name
    assert again.ntotal == index.ntotal
    if isinstance(again, ReducedIndex):
        again.encode = project
    for got, expect in zip(again.search(Q, 5), index.search(Q, 5)):
        np.testing.assert_array_equal(got, expect)
    assert type(type(index).load(path)) is type(index)


def test_not_fitted(make, planted):
    with pytest.raises(NotFittedError, match="not fitted"):
        make().search(planted[1], 1)
    with pytest.raises(NotFittedError):
        make().save("never-written.npz")


def test_bad_queries(make, planted):
    X, Q, _ = planted
    index = make().fit(X)
    with pytest.raises(ValueError, match="query has 31 dimensions, index has 32"):
        index.search(Q[:, :31], 1)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        index.search(Q, 0)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        index.search(Q, 2.5)
    with pytest.raises(TypeError, match="outside the integers 0..255"):
        index.search(Q + 0.5, 1)
    with pytest.raises(ValueError, match="NaN"):
        index.search(np.full((1, D_DIMS), np.nan), 1)
    # integer-valued queries of another dtype are the same pixels
    for got, expect in zip(index.search(Q.astype(np.int64), 3), index.search(Q, 3)):
        np.testing.assert_array_equal(got, expect)


def test_name_and_repr(make):
    index = make()
    assert isinstance(index.name, str) and index.name == repr(index)


def test_load_checks_the_kind(tmp_path, planted):
    path = ExactIndex().fit(planted[0]).save(tmp_path / "exact.npz")
    with pytest.raises(DataFormatError, match="holds a ExactIndex, not a LSHIndex"):
        LSHIndex.load(path)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an index")
    with pytest.raises(DataFormatError, match="not an imsim index"):
        Index.load(bad)
    with pytest.raises(FileNotFoundError):
        Index.load(tmp_path / "missing.npz")
