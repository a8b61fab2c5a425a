import numpy as np
import pytest

from imsim.datasets import ImageSet


def make(n=10):
    imgs = np.arange(n * 4, dtype=np.uint8).reshape(n, 2, 2)
    return ImageSet(imgs, labels=np.arange(n) % 3, paths=[f"p{i}.png" for i in range(n)], name="t")


def test_defaults_and_shapes():
    s = make()
    assert len(s) == 10 and s.shape == (2, 2) and s.n_features == 4
    np.testing.assert_array_equal(s.ids, np.arange(10))
    assert s.flat().shape == (10, 4)
    assert s.label_counts() == {0: 4, 1: 3, 2: 3}


@pytest.mark.parametrize("index", [slice(2, 5), np.array([7, 1, 3]), np.arange(10) % 2 == 0, 4, -1])
def test_subsets_stay_aligned(index):
    s = make()
    sub = s[index]
    for j, i in enumerate(sub.ids):
        np.testing.assert_array_equal(sub.images[j], s.images[i])
        assert sub.labels[j] == s.labels[i]
        assert sub.paths[j] == s.paths[i]
    # ids survive a second subset
    np.testing.assert_array_equal(sub[::1].ids, sub.ids)


def test_sample_is_seeded_and_ordered():
    s = make(100)
    a, b = s.sample(10, seed=3), s.sample(10, seed=3)
    np.testing.assert_array_equal(a.ids, b.ids)
    assert (np.diff(a.ids) > 0).all()
    assert s.head(5).ids.tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("kwargs, message", [
    (dict(images=np.zeros((2, 3, 3), dtype=np.float32)), "uint8"),
    (dict(images=np.zeros((2, 3), dtype=np.uint8)), "shape"),
    (dict(images=np.zeros((2, 3, 3), dtype=np.uint8), labels=[1, 2, 3]), "labels"),
    (dict(images=np.zeros((2, 3, 3), dtype=np.uint8), ids=[1]), "ids"),
    (dict(images=np.zeros((2, 3, 3), dtype=np.uint8), paths=["a"]), "paths"),
])
def test_validation(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ImageSet(**kwargs)
