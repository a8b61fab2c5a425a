import numpy as np
import pytest

from imsim.search import ExactIndex, LSHIndex
from imsim.search.lsh import _M_BASE


def formula_hash(x, s, w, k):
    """The assignment's h(x) = (sum_j a_j m^(d-1-j)) mod M with Python integers."""
    M = 2 ** (32 // k)
    d = len(x)
    a = [int(np.floor((float(x[j]) - s[j]) / w)) for j in range(d)]
    return sum(a[j] * _M_BASE ** (d - 1 - j) for j in range(d)) % M


def test_g_is_the_assignment_formula(rng):
    X = rng.integers(0, 256, (6, 9), dtype=np.uint8)
    index = LSHIndex(n_hashes=3, n_tables=2, w=100.0, seed=5).fit(X)
    G = index._hash(X)
    for t in range(2):
        for r in range(len(X)):
            h = [formula_hash(X[r], index.shifts_[t, i], 100.0, 3) for i in range(3)]
            assert G[r, t] == h[0] | h[1] << 10 | h[2] << 20


@pytest.mark.parametrize("w", [3.0, 100.0, 700.0, 5e4])
def test_step_tables_equal_the_dense_formula(rng, w):
    X = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    index = LSHIndex(n_hashes=4, n_tables=3, w=w).fit(X)
    for t in range(3):
        dense = index._hash_dense(X, t) & index._mask
        steps_g = index._hash(X)[:, t]
        expect = sum(dense[:, i] << (index._bits * i) for i in range(4))
        np.testing.assert_array_equal(steps_g, expect)


def test_float_data_uses_the_dense_formula(rng):
    X = rng.standard_normal((200, 8)).astype(np.float32)
    D, I = LSHIndex(n_hashes=2, n_tables=6).fit(X).search(X[:20], 1)
    assert np.mean(I[:, 0] == np.arange(20)) >= 0.9 and np.all(D[I[:, 0] == np.arange(20), 0] == 0)


def test_every_table_has_its_own_shifts(rng):
    index = LSHIndex(n_hashes=2, n_tables=4).fit(rng.integers(0, 256, (30, 10), dtype=np.uint8))
    flat = index.shifts_.reshape(4, -1)
    assert len({row.tobytes() for row in flat}) == 4


def test_default_w_is_factor_times_mean_nn_distance(rng):
    X = rng.integers(0, 256, (60, 12), dtype=np.uint8)
    index = LSHIndex(w_factor=2.0, sample_size=1000).fit(X)
    full = np.abs(X[:, None].astype(int) - X[None]).sum(-1)
    np.fill_diagonal(full, np.iinfo(int).max)
    assert index.w_ == pytest.approx(2.0 * full.min(1).mean())


def test_not_found_queries_are_counted(rng):
    X = np.zeros((50, 16), dtype=np.uint8)
    X[25:] = 10
    Q = np.concatenate([X[:2], np.full((3, 16), 255, dtype=np.uint8)])
    index = LSHIndex(n_hashes=4, n_tables=2, w=20.0).fit(X)
    D, I, stats = index.search(Q, 2, return_stats=True)
    assert stats.n_not_found == 3 and stats.n_queries == 5
    assert (I[2:] == -1).all() and np.isinf(D[2:]).all()
    assert D[:2].tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_candidate_cap_is_respected_and_recall_grows(rng):
    centers = rng.integers(0, 256, (20, 64))
    X = np.clip(centers[rng.integers(0, 20, 2000)] + rng.integers(-20, 21, (2000, 64)), 0, 255).astype(np.uint8)
    Q = np.clip(X[:100].astype(int) + rng.integers(-2, 3, (100, 64)), 0, 255).astype(np.uint8)
    index = LSHIndex(n_hashes=6, n_tables=10, seed=1).fit(X)
    true_d, _ = ExactIndex().fit(X).search(Q, 1)
    hits = []
    for cap in (5, 50, None):
        D, _, stats = index.search(Q, 1, max_candidates=cap, return_stats=True)
        if cap:
            assert stats.mean_checked <= cap
        hits.append(np.mean(D[:, 0] <= true_d[:, 0]))
    assert hits[0] <= hits[1] <= hits[2] and hits[2] >= 0.9


def test_bad_parameters(rng):
    X = rng.integers(0, 256, (20, 4), dtype=np.uint8)
    with pytest.raises(ValueError, match="n_hashes must be at most 32, got 33"):
        LSHIndex(n_hashes=33).fit(X)
    with pytest.raises(ValueError, match="n_tables must be a positive integer, got 0"):
        LSHIndex(n_tables=0).fit(X)
    with pytest.raises(TypeError, match="n_hashes must be an integer, got 4.5"):
        LSHIndex(n_hashes=4.5).fit(X)
    with pytest.raises(ValueError, match="w must be positive and finite"):
        LSHIndex(w=0).fit(X)
    with pytest.raises(ValueError, match="supports metric 'l1'"):
        LSHIndex(metric="l2").fit(X)
    with pytest.raises(ValueError, match="max_candidates must be a positive integer"):
        LSHIndex().fit(X).search(X, 1, max_candidates=0)


def test_real_mnist_default_parameters(mnist_test):
    from imsim.evaluation import approximation_factor

    X = mnist_test.images.reshape(len(mnist_test.images), -1)
    data, queries = X[:5000], X[9900:]
    true_d, _ = ExactIndex().fit(data).search(queries, 1)
    index = LSHIndex(n_hashes=4, n_tables=5).fit(data)
    D, _, stats = index.search(queries, 1, return_stats=True)
    factor, excluded = approximation_factor(D[:, 0], true_d[:, 0])
    assert stats.n_not_found == 0 and excluded == 0
    assert factor <= 1.05


def test_the_assignments_names_are_accepted_by_create_and_old_files(rng, tmp_path):
    import json

    from imsim.search import Index

    X = rng.integers(0, 256, (200, 12), dtype=np.uint8)
    index = Index.create("lsh", k=3, L=7, seed=4)
    assert (index.n_hashes, index.n_tables) == (3, 7) and index.name.startswith("LSH(k=3, L=7")
    index.fit(X)
    with pytest.raises(TypeError, match="got 'n_hashes' twice"):
        Index.create("lsh", k=3, n_hashes=3)
    # a file written before the rename stored {"k": ..., "L": ...}
    path = index.save(tmp_path / "lsh.npz")
    with np.load(path) as f:
        arrays = dict(f)
    meta = json.loads(arrays["__meta__"].tobytes())
    meta["params"]["k"], meta["params"]["L"] = meta["params"].pop("n_hashes"), \
        meta["params"].pop("n_tables")
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(tmp_path / "old.npz", "wb") as f:
        np.savez(f, **arrays)
    old = Index.load(tmp_path / "old.npz")
    assert old.get_params() == index.get_params()
    for got, expect in zip(old.search(X[:9], 4), index.search(X[:9], 4)):
        np.testing.assert_array_equal(got, expect)


def test_changing_parameters_after_fit_leaves_the_fitted_tables(rng):
    X = rng.integers(0, 256, (300, 12), dtype=np.uint8)
    index = LSHIndex(n_hashes=3, n_tables=4, seed=1).fit(X)
    before = index.search(X[:20], 3)
    index.n_hashes, index.n_tables = 9, 1
    for got, expect in zip(index.search(X[:20], 3), before):
        np.testing.assert_array_equal(got, expect)
