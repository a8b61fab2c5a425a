import numpy as np
import pytest

from imsim.evaluation import approximation_factor, label_accuracy, recall_at_k


def test_approximation_factor_rules():
    f, excluded = approximation_factor([2, 3, 0, 5, np.inf], [1, 3, 0, 0, 1])
    # 2/1, 3/3, 0/0 -> 1; 5/0 excluded; not found excluded
    assert f == pytest.approx((2 + 1 + 1) / 3)
    assert excluded == 2


def test_recall_is_tie_aware():
    D_true = np.array([[1.0, 2.0, 2.0]])
    assert recall_at_k(np.array([[1.0, 2.0, 2.0]]), D_true, 3) == 1.0
    assert recall_at_k(np.array([[2.0, 2.0, 3.0]]), D_true, 3) == pytest.approx(2 / 3)
    assert recall_at_k(np.array([[2.0]]), np.array([[2.0]]), 1) == 1.0
    assert recall_at_k(np.array([[np.inf]]), np.array([[2.0]]), 1) == 0.0


def test_label_accuracy_is_a_fraction():
    I = np.array([[0, 1, 2, -1], [3, 3, 3, 3]])
    data = np.array([7, 7, 1, 2])
    q = np.array([7, 2])
    assert label_accuracy(I, data, q) == pytest.approx((2 / 4 + 4 / 4) / 2)
    assert label_accuracy(I, data, q, k=2) == pytest.approx((1 + 1) / 2)
