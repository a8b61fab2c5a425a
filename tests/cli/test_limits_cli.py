"""Inputs that used to crash or run out of memory: one clear line each, exit 1, no traceback."""
from __future__ import annotations

import numpy as np
import pytest

from imsim.cli.main import main
from imsim.datasets import write_images, write_labels


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    write_images(tmp_path / "in.idx", rng.integers(0, 256, (30, 12, 12), dtype=np.uint8))
    write_images(tmp_path / "q.idx", rng.integers(0, 256, (2, 12, 12), dtype=np.uint8))
    write_images(tmp_path / "zero.idx", np.zeros((0, 12, 12), np.uint8))
    write_labels(tmp_path / "in.lab", rng.integers(0, 10, 30))
    write_labels(tmp_path / "q.lab", rng.integers(0, 10, 2))
    (tmp_path / "photos").mkdir()
    return tmp_path


@pytest.mark.parametrize("args, message", [
    (["search", "-d", "in.idx", "-q", "q.idx", "--lsh-w", "inf", "--method", "lsh"],
     "w must be positive and finite, got inf"),
    (["search", "-d", "in.idx", "-q", "q.idx", "-L", "100000", "--method", "lsh"],
     "IMSIM_MAX_LSH_TABLES"),
    (["search", "-d", "in.idx", "-q", "q.idx", "-EMD", "-l1", "in.lab", "-l2", "q.lab", "-o", "out.txt",
      "--window", "1000000"], "window 1000000 is larger than the 12x12 images"),
    (["search", "-d", "zero.idx", "-q", "q.idx"], "zero.idx holds no images"),
    (["search", "-d", "in.idx", "-q", "zero.idx"], "zero.idx holds no images"),
    (["elbow", "-d", "in.idx", "-o", "e.png", "--limit", "-5"], "--limit must be a positive integer"),
    (["elbow", "-d", "zero.idx", "-o", "e.png"], "zero.idx holds no images"),
    (["index", "photos", "-c", "coll", "--size", "100000"], "IMSIM_MAX_IMAGE_SIDE"),
])
def test_bad_inputs_give_one_line(files, monkeypatch, capsys, args, message):
    monkeypatch.chdir(files)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and message in err, err
    assert not (files / "coll").exists() and not (files / "out.txt").exists()


def test_emd_window_as_large_as_the_image_warns(files, monkeypatch):
    monkeypatch.chdir(files)
    with pytest.warns(UserWarning, match="window 12 covers the whole side"):
        assert main(["search", "-d", "in.idx", "-q", "q.idx", "-EMD", "-l1", "in.lab", "-l2", "q.lab",
                     "-o", "out.txt", "--window", "12", "--n-queries", "1"]) == 0


def test_emd_signatures_of_a_huge_window_are_one_bin_without_padding(rng):
    from imsim.distances.emd import signatures

    X = rng.integers(1, 256, (3, 13, 13)).astype(np.uint8)
    with pytest.warns(UserWarning, match="covers the whole side"):
        W, P = signatures(X, 10**6)  # padded to 10**6 x 10**6 before: 3 TB
    with pytest.warns(UserWarning):
        W13, P13 = signatures(X, 13)
    np.testing.assert_array_equal(W, W13)
    np.testing.assert_array_equal(P, P13)
