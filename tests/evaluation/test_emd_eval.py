"""The EMD correctness experiment: EMD against Manhattan on the same queries."""
import numpy as np
import pytest
from _reference import topk_of

from imsim.distances import pairwise
from imsim.distances.emd import emd, ground_distance, signatures
from imsim.evaluation.emd import emd_correctness, emd_sweep
from imsim.evaluation.metrics import label_accuracy


def shifted_strokes(rng, n, size=12):
    """Two classes: label 0 a vertical bar, label 1 a horizontal bar, at random offsets.

    Random intensities inside each bar keep distances from tying exactly, so the
    brute-force references below order the neighbours as the search does.
    """
    X = np.zeros((n, size, size), dtype=np.uint8)
    y = rng.integers(0, 2, n)
    for img, label in zip(X, y):
        r, c = rng.integers(0, size - 6, size=2)
        shape = (6, 2) if label == 0 else (2, 6)
        img[r:r + shape[0], c:c + shape[1]] = rng.integers(100, 256, size=shape)
    return X, y


def test_emd_correctness_against_independent_references(rng):
    X, y = shifted_strokes(rng, 80)
    Q, yq = shifted_strokes(rng, 12)
    r = emd_correctness(X, Q, y, yq, window=2, k=5, n_jobs=1)
    # Manhattan: brute force over the full L1 matrix
    L1 = pairwise(Q.reshape(12, -1), X.reshape(80, -1)).astype(float)
    I_l1 = topk_of(L1, 5)[1]
    assert r.manhattan_correct == label_accuracy(I_l1, y, yq)
    # EMD: brute force, every pair solved
    Wq, P = signatures(Q, 2)
    Wx, _ = signatures(X, 2)
    M = ground_distance(P)
    E = np.array([[emd(q, x, M) for x in Wx] for q in Wq])
    I_emd = topk_of(E, 5)[1]
    assert r.emd_correct == label_accuracy(I_emd, y, yq)
    assert (r.window, r.bins, r.k, r.n_queries, r.n_data) == (2, 36, 5, 12, 80)
    assert 5 <= r.exact_per_query <= 80
    assert r.emd_seconds > 0 and r.manhattan_seconds >= 0
    assert r.as_dict()["emd_correct"] == r.emd_correct


def test_sweep_one_row_per_window_same_manhattan(rng):
    X, y = shifted_strokes(rng, 40)
    Q, yq = shifted_strokes(rng, 5)
    rows = emd_sweep(X, Q, y, yq, windows=(6, 3, 5), k=3, ground="manhattan", n_jobs=1)
    assert [r.window for r in rows] == [6, 3, 5]
    assert [r.bins for r in rows] == [4, 16, 9]  # a 12-pixel side in windows of 5: 5 + 5 + 2
    assert len({r.manhattan_correct for r in rows}) == 1
    assert all(r.ground == "manhattan" and 0 <= r.emd_correct <= 1 for r in rows)


def test_bad_inputs(rng):
    X, y = shifted_strokes(rng, 20)
    Q, yq = shifted_strokes(rng, 3)
    with pytest.raises(ValueError, match=r"data_labels has shape \(19,\), expected \(20,\)"):
        emd_correctness(X, Q, y[:-1], yq)
    with pytest.raises(ValueError, match="query_labels"):
        emd_correctness(X, Q, y, yq[:2])
    with pytest.raises(ValueError, match="k=21 but the data holds 20"):
        emd_correctness(X, Q, y, yq, k=21)
    with pytest.raises(ValueError, match="windows is empty"):
        emd_sweep(X, Q, y, yq, windows=())
    with pytest.raises(ValueError, match="window must be a positive integer"):
        emd_sweep(X, Q, y, yq, windows=(4, 0))


@pytest.mark.slow
def test_real_mnist_subset_matches_brute_force(mnist_test):
    X, y = mnist_test.images[:400], mnist_test.labels[:400]
    Q, yq = mnist_test.images[9000:9010], mnist_test.labels[9000:9010]
    r = emd_correctness(X, Q, y, yq, window=4, n_jobs=2)
    Wq, P = signatures(Q, 4)
    Wx, _ = signatures(X, 4)
    M = ground_distance(P)
    E = np.array([[emd(q, x, M) for x in Wx] for q in Wq])
    I = topk_of(E, 10)[1]
    assert r.emd_correct == label_accuracy(I, y, yq)
    assert r.n_data == 400 and r.bins == 49
    assert r.exact_per_query < 400  # the bounds prune
