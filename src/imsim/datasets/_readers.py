"""Readers of the catalog's non-idx sources: scikit-learn's digits, CIFAR-10 python batches
(read safely: numpy arrays only, from a folder or the archive)."""
from __future__ import annotations

import codecs
import pickle
from pathlib import Path, PurePosixPath

import numpy as np

from .._validation import DataFormatError
from .imageset import ImageSet

_CIFAR_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}

__all__ = ["load_cifar_parts", "load_digits"]


def _cifar_unpickler(stream):
    """An unpickler that rebuilds numpy arrays and nothing else.

    CIFAR batches are pickles, and a pickle can run arbitrary code; the files may
    come from anywhere (a user's folder), so only the globals a numpy array needs
    are allowed.
    """
    reconstruct = np.ndarray(0).__reduce__()[0]  # numpy's _reconstruct, wherever it lives
    allowed = {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # how protocol 2 stores bytes
    }

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) not in allowed:
                raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
            return allowed[(module, name)]

    # latin1 is how numpy arrays pickled under Python 2 (the published batches) load
    return _Unpickler(stream, encoding="latin1")


def _read_cifar_batch(stream, label: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _cifar_unpickler(stream).load()
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise DataFormatError(f"{label}: not a CIFAR-10 python batch ({exc})") from None
    if not isinstance(batch, dict):
        raise DataFormatError(f"{label}: expected a dict with 'data' and 'labels', "
                              f"found {type(batch).__name__}")
    data = batch.get("data", batch.get(b"data"))
    labels = batch.get("labels", batch.get(b"labels"))
    data = np.asarray(data) if data is not None else None
    if data is None or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        found = "nothing" if data is None else f"{data.dtype} {data.shape}"
        raise DataFormatError(f"{label}: 'data' should be uint8 of shape (N, 3072), found {found}")
    labels = np.asarray(labels if labels is not None else [], dtype=np.int64)
    if labels.shape != (len(data),):
        raise DataFormatError(f"{label}: {labels.size} labels for {len(data)} images")
    # rows hold the red plane, then green, then blue, each 32x32 row-major
    images = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, labels


def load_cifar_parts(what: Path, split: str) -> list[tuple[np.ndarray, np.ndarray]]:
    wanted = _CIFAR_BATCHES[split]
    if what.is_dir():
        parts = []
        for batch in wanted:
            with open(what / batch, "rb") as f:
                parts.append(_read_cifar_batch(f, str(what / batch)))
        return parts
    import tarfile
    import zlib

    found = {}
    try:
        with tarfile.open(what, "r:*") as tar:
            for member in tar:
                base = PurePosixPath(member.name).name
                if member.isfile() and base in wanted and base not in found:
                    # read in memory: nothing from the archive is written to disk
                    found[base] = _read_cifar_batch(tar.extractfile(member), f"{what}:{member.name}")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataFormatError(f"{what}: not a readable CIFAR-10 archive ({exc})") from None
    missing = [b for b in wanted if b not in found]
    if missing:
        raise DataFormatError(f"{what}: archive lacks {', '.join(missing)}")
    return [found[b] for b in wanted]


def load_digits(split: str, classes) -> ImageSet:
    """scikit-learn's 8x8 digits (0..255), split deterministically: every fifth of each digit is test."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # scikit-learn stores 0..16 (counts of set pixels in 4x4 blocks); scale to 0..255
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    ids = np.arange(len(images), dtype=np.int64)
    # Deterministic, stratified split: within each digit, in file order, every
    # fifth image (the 5th, 10th, ...) is a test image.
    by_label = np.argsort(labels, kind="stable")
    first = np.searchsorted(labels[by_label], labels[by_label])
    rank = np.empty_like(ids)
    rank[by_label] = np.arange(len(ids)) - first
    mask = (rank % 5 == 4) if split == "test" else (rank % 5 != 4)
    return ImageSet(images[mask], labels=labels[mask], ids=ids[mask],
                    name=f"digits {split} (scikit-learn)",
                    meta={"dataset": "digits", "split": split, "source": "built in",
                          "location": None, "classes": list(classes)})
