"""Earth Mover's Distance: signatures, exact solvers, lower bounds, pruned k-NN."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from imsim.distances import topk
from imsim.distances.emd import GROUNDS, emd, ground_distance, lower_bounds, signatures
from imsim.distances.emd_knn import emd_knn


def blobs(rng, n, size=12, max_blobs=3):
    """Digit-like images: a few bright squares on a dark background."""
    out = np.zeros((n, size, size), dtype=np.uint8)
    for img in out:
        for _ in range(rng.integers(1, max_blobs + 1)):
            r, c = rng.integers(0, size - 2, size=2)
            img[r:r + 3, c:c + 3] = rng.integers(60, 256)
    return out


def brute_emd(Q, X, window, ground):
    """Every query-image EMD through the public emd(), shape (len(Q), len(X))."""
    Wq, P = signatures(Q, window)
    Wx, _ = signatures(X, window)
    M = ground_distance(P, ground=ground)
    return np.array([[emd(q, x, M) for x in Wx] for q in Wq])


def assert_true_knn(D, I, E):
    """Tie-aware: the distances are the k smallest and the ids really have them.

    Mathematically equal EMDs (common with blocky images) may differ in the last
    bits between solvers, so equal-distance ids may come in either order.
    """
    k = I.shape[1]
    np.testing.assert_allclose(D, np.sort(E, axis=1)[:, :k], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.take_along_axis(E, I, axis=1), D, rtol=1e-6, atol=1e-9)
    assert all(len(set(row)) == k for row in I.tolist())


# ------------------------------------------------------------------ signatures

def test_signatures_partial_windows_keep_their_pixels():
    img = np.arange(1, 26, dtype=np.uint8).reshape(1, 5, 5)
    W, P = signatures(img, window=2)
    assert W.shape == (1, 9) and P.shape == (9, 2)
    sums = np.array([[1 + 2 + 6 + 7, 3 + 4 + 8 + 9, 5 + 10],
                     [11 + 12 + 16 + 17, 13 + 14 + 18 + 19, 15 + 20],
                     [21 + 22, 23 + 24, 25]], dtype=float).ravel()
    np.testing.assert_allclose(W[0], sums / 325)
    # the centre of the last, one-pixel-wide window is that pixel
    assert sorted(set(P[:, 0])) == [0.5, 2.5, 4.0]
    assert tuple(P[5]) == (2.5, 4.0)


def test_signatures_weights_sum_to_one_for_any_window(rng):
    X = blobs(rng, 4, size=13)
    for window in (1, 2, 3, 5, 13, 20):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            W, P = signatures(X, window)
        # one bin per image says little: the caller is told, for windows of the side or more
        assert [str(w.message).split(":")[0] for w in caught] == (
            [f"window {window} covers the whole side of the 13x13 images"] if window >= 13 else [])
        np.testing.assert_allclose(W.sum(axis=1), 1.0)
        assert len(P) == (-(-13 // window)) ** 2


def test_signatures_all_zero_image_is_a_clear_error(rng):
    X = blobs(rng, 3)
    X[1] = 0
    with pytest.raises(ValueError, match=r"images 1 is all zero"):
        signatures(X)


def test_signatures_rejects_negative_and_flat_inputs():
    with pytest.raises(ValueError, match="negative"):
        signatures(-np.ones((1, 4, 4), dtype=np.float32), window=2)
    with pytest.raises(ValueError, match="expected 3"):
        signatures(np.ones((4, 16), dtype=np.uint8))
    with pytest.raises(ValueError, match="window"):
        signatures(np.ones((1, 4, 4), dtype=np.uint8), window=0)


# ------------------------------------------------------------------ exact EMD

def test_emd_known_values_point_masses():
    # all mass at pixel (0, 0) against all mass at pixel (3, 4)
    a = np.zeros((2, 4, 5), dtype=np.uint8)
    a[0, 0, 0] = a[1, 3, 4] = 9
    W, P = signatures(a, window=1)
    assert emd(W[0], W[1], ground_distance(P)) == pytest.approx(5.0)
    assert emd(W[0], W[1], ground_distance(P, ground="manhattan")) == pytest.approx(7.0)


def test_emd_identity_symmetry_and_solvers_agree(rng):
    W, P = signatures(blobs(rng, 6), window=3)
    for ground in GROUNDS:
        M = ground_distance(P, ground=ground)
        for i in range(5):
            a, b = W[i], W[i + 1]
            assert emd(a, a, M) == pytest.approx(0.0, abs=1e-12)
            d = emd(a, b, M)
            assert d > 0
            assert emd(b, a, M) == pytest.approx(d, abs=1e-9)
            assert emd(a, b, M, solver="lp") == pytest.approx(d, abs=1e-6)


def test_network_simplex_equals_lp_on_random_histograms(rng):
    for n, m in ((7, 7), (12, 5), (30, 30)):
        a = rng.random(n) * (rng.random(n) < 0.7)
        a[0] += 0.1
        b = rng.random(m)
        M = rng.random((n, m)) * 10
        a, b = a / a.sum(), b / b.sum()
        assert emd(a, b, M) == pytest.approx(emd(a, b, M, solver="lp"), abs=1e-6)


def test_emd_bad_inputs():
    a = np.array([0.5, 0.5])
    M = np.ones((2, 2))
    with pytest.raises(ValueError, match="same positive total mass"):
        emd(a, np.array([0.5, 0.6]), M)
    with pytest.raises(ValueError, match=r"M has shape \(2, 2\), expected \(2, 3\)"):
        emd(a, np.array([0.2, 0.3, 0.5]), M)
    with pytest.raises(ValueError, match="unknown solver"):
        emd(a, a, M, solver="simplex")
    with pytest.raises(ValueError, match="non-negative"):
        emd(np.array([1.5, -0.5]), a, M)
    with pytest.raises(ValueError, match="unknown ground"):
        ground_distance(np.zeros((2, 2)), ground="cosine")


# ------------------------------------------------------------------ lower bounds

images = st.tuples(st.integers(1, 7), st.integers(1, 7)).flatmap(
    lambda hw: arrays(np.uint8, (2,) + hw, elements=st.sampled_from([0, 0, 1, 7, 255])))


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(images=images, window=st.integers(1, 3), ground=st.sampled_from(GROUNDS))
@pytest.mark.filterwarnings("ignore:window .* covers the whole side:UserWarning")
def test_every_lower_bound_is_at_most_the_exact_emd(images, window, ground):
    images = images.copy()
    images[:, 0, 0] |= 1  # no all-zero image
    W, P = signatures(images, window)
    exact = emd(W[0], W[1], ground_distance(P, ground=ground))
    for name, bound in lower_bounds(W[0], W[1], P, ground).items():
        assert bound.shape == ()
        assert 0.0 <= bound <= exact + 1e-9, (name, float(bound), exact)


def test_bounds_are_exact_in_one_dimension(rng):
    # one row of pixels: the column marginal is the whole distribution
    X = rng.integers(0, 256, size=(8, 1, 20)).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # window 1 is the finest: no "covers the whole side"
        W, P = signatures(X, window=1)
    for ground in GROUNDS:
        M = ground_distance(P, ground=ground)
        exact = np.array([emd(W[0], w, M) for w in W[1:]])
        bounds = lower_bounds(W[0], W[1:], P, ground)
        np.testing.assert_allclose(bounds["cols"], exact, atol=1e-9)
        np.testing.assert_allclose(bounds["sliced"], exact, atol=1e-9)
        np.testing.assert_allclose(bounds["rows"], 0.0, atol=1e-12)


def test_bound_order_and_batching(rng):
    W, P = signatures(blobs(rng, 9), window=2)
    e = lower_bounds(W[0], W[1:], P, "euclidean")
    assert e["sliced"].shape == (8,)
    assert np.all(e["marginal_norm"] >= e["max_marginal"] - 1e-12)
    assert np.all(e["marginal_norm"] >= e["sum_marginals_over_sqrt2"] - 1e-12)
    assert np.all(e["marginal_norm"] >= e["centroid"] - 1e-12)
    assert np.all(e["sliced"] >= e["marginal_norm"] - 1e-12)
    m = lower_bounds(W[1:], W[0], P, "manhattan")  # order of the arguments does not matter
    np.testing.assert_allclose(m["sum_marginals"], m["rows"] + m["cols"])
    assert np.all(m["sliced"] >= m["sum_marginals"] - 1e-12)
    with pytest.raises(ValueError, match="expected \\(36,\\)"):
        lower_bounds(W[0, :10], W[1], P)


@pytest.mark.parametrize("window, size", [(1, 12), (2, 20)])
@pytest.mark.parametrize("ground", GROUNDS)
def test_small_windows_bounds_match_brute_force_projections(rng, window, size, ground):
    """Windows of 1-2 pixels give many bins, so the oblique projections take the
    sorted cumulative-sum branch (not the small-matrix one): each 1-D EMD there must
    equal SciPy's Wasserstein distance of the projected positions, and the bounds
    must stay below the exact EMD."""
    from scipy.stats import wasserstein_distance

    from imsim.distances.emd import _L1_DIRECTIONS, _N_FRAMES, _frame_directions, _Projections

    X = blobs(rng, 5, size=size)
    W, P = signatures(X, window)
    directions = _frame_directions(_N_FRAMES) + (list(_L1_DIRECTIONS) if ground == "manhattan"
                                                  else [])
    projections = _Projections(P, directions)
    assert projections.L is None, "the test must exercise the cumulative-sum branch"
    e = projections.emds(projections.cdf(W[0] - W[1:]))
    brute = np.array([[wasserstein_distance(P @ u, P @ u, W[0], w) for u in directions]
                      for w in W[1:]])
    np.testing.assert_allclose(e, brute, rtol=1e-9, atol=1e-12)
    # the sliced bound from those projections, by brute force, and below the exact EMD
    bounds = lower_bounds(W[0], W[1:], P, ground)
    frames = np.hypot(brute[:, :_N_FRAMES], brute[:, _N_FRAMES:2 * _N_FRAMES]).max(axis=1)
    first = bounds["rows"] + bounds["cols"] if ground == "manhattan" else \
        np.hypot(bounds["rows"], bounds["cols"])
    expect = np.maximum(first, frames)
    if ground == "manhattan":
        expect = np.maximum(expect, brute[:, 2 * _N_FRAMES:].max(axis=1))
    np.testing.assert_allclose(bounds["sliced"], expect, rtol=1e-9, atol=1e-12)
    exact = brute_emd(X[:1], X[1:], window, ground)[0]
    for name, bound in bounds.items():
        assert np.all(bound <= exact + 1e-9), name


@pytest.mark.parametrize("ground", GROUNDS)
def test_pruned_knn_with_one_pixel_windows_equals_brute_force(rng, ground):
    X = blobs(rng, 40)
    Q = np.concatenate([blobs(rng, 3), X[7:8]])
    D, I = emd_knn(Q, X, k=4, window=1, ground=ground, n_jobs=1)
    assert_true_knn(D, I, brute_emd(Q, X, 1, ground))
    assert I[-1, 0] == 7 and D[-1, 0] == 0.0


# ------------------------------------------------------------------ k-NN

@pytest.mark.parametrize("ground", GROUNDS)
def test_pruned_knn_equals_brute_force(rng, ground):
    X = blobs(rng, 150)
    X[100:110] = X[:10]  # exact duplicates: ties resolved by the smaller id
    Q = np.concatenate([blobs(rng, 6), X[3:5]])
    D, I, stats = emd_knn(Q, X, k=7, window=2, ground=ground, n_jobs=1, return_stats=True)
    assert D.dtype == np.float32 and I.dtype == np.int64
    assert_true_knn(D, I, brute_emd(Q, X, 2, ground))
    assert I[-1, 0] == 4 and I[-1, 1] == 104 and D[-1, 0] == 0.0
    assert np.all((stats.n_exact >= 7) & (stats.n_exact <= len(X)))
    assert stats.n_exact.mean() < len(X) / 2  # the bounds rule out most images


def test_knn_parallel_and_partial_windows_match_serial(rng):
    X, Q = blobs(rng, 120, size=11), blobs(rng, 9, size=11)
    serial = emd_knn(Q, X, k=5, window=3, n_jobs=1)
    parallel = emd_knn(Q, X, k=5, window=3, n_jobs=2)
    np.testing.assert_array_equal(serial[1], parallel[1])
    np.testing.assert_array_equal(serial[0], parallel[0])
    assert_true_knn(*serial, brute_emd(Q, X, 3, "euclidean"))


def test_shortlist_reranks_the_l1_neighbours(rng):
    X, Q = blobs(rng, 100), blobs(rng, 4)
    D, I, stats = emd_knn(Q, X, k=3, window=2, shortlist=20, n_jobs=1, return_stats=True)
    _, cand = topk(Q.reshape(4, -1), X.reshape(100, -1), 20, metric="l1")
    E = brute_emd(Q, X, 2, "euclidean")
    # the true 3-NN among each query's shortlist: other images count as infinitely far
    in_shortlist = np.zeros(E.shape, dtype=bool)
    np.put_along_axis(in_shortlist, cand, True, axis=1)
    assert_true_knn(D, I, np.where(in_shortlist, E, np.inf))
    assert np.all(stats.n_exact == 20)
    # the full shortlist is the exact search
    np.testing.assert_array_equal(emd_knn(Q, X, k=3, window=2, shortlist=100, n_jobs=1)[1],
                                  emd_knn(Q, X, k=3, window=2, n_jobs=1)[1])


def test_knn_bad_inputs(rng):
    X, Q = blobs(rng, 10), blobs(rng, 2)
    with pytest.raises(ValueError, match="k=11 but the data holds 10"):
        emd_knn(Q, X, k=11)
    with pytest.raises(ValueError, match="queries are 12x12 images, data are 11x11"):
        emd_knn(Q, blobs(rng, 10, size=11), k=2)
    with pytest.raises(ValueError, match="shortlist=3 is smaller than k=5"):
        emd_knn(Q, X, k=5, shortlist=3)
    with pytest.raises(ValueError, match="unknown ground"):
        emd_knn(Q, X, k=2, ground="chebyshev")
    with pytest.raises(ValueError, match="n_jobs"):
        emd_knn(Q, X, k=2, n_jobs=0)
    X[4] = 0
    with pytest.raises(ValueError, match="data image 4 is all zero"):
        emd_knn(Q, X, k=2)


def test_solver_failure_becomes_a_warning(monkeypatch):
    import imsim.distances.emd as mod

    rng = np.random.default_rng(1)
    a = rng.random(30)
    a /= a.sum()
    monkeypatch.setattr(mod, "MAX_ITER", 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        emd(a, a[::-1].copy(), rng.random((30, 30)))
    assert any("did not reach the optimum" in str(w.message) for w in caught)
