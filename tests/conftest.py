"""Shared fixtures: the real MNIST files beside the checkout, small random data."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _mnist_dir() -> Path | None:
    env = os.environ.get("IMSIM_MNIST_DIR")
    candidates = [Path(env)] if env else []
    candidates += [ROOT.parent / "shared" / "datasets" / "mnist",
                   ROOT.parent.parent / "shared" / "datasets" / "mnist"]
    for c in candidates:
        if (c / "train-images-idx3-ubyte.gz").exists():
            return c
    return None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Folder with the four MNIST idx files (../shared/datasets/mnist)."""
    d = _mnist_dir()
    if d is None:
        pytest.skip("MNIST files not found beside the checkout (set IMSIM_MNIST_DIR)")
    return d


@pytest.fixture(scope="session")
def mnist_test(mnist_dir):
    """The 10,000 MNIST test images and labels as an ImageSet."""
    from imsim.datasets import read_imageset

    return read_imageset(mnist_dir / "t10k-images-idx3-ubyte.gz",
                         mnist_dir / "t10k-labels-idx1-ubyte.gz")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
