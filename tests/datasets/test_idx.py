import gzip
import struct

import numpy as np
import pytest

from imsim._validation import DataFormatError
from imsim.datasets import idx


@pytest.fixture
def images(rng):
    return rng.integers(0, 256, size=(7, 5, 4), dtype=np.uint8)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_images_round_trip(tmp_path, images, suffix):
    path = tmp_path / f"imgs{suffix}"
    idx.write_images(path, images)
    got = idx.read_images(path)
    assert got.dtype == np.uint8 and got.shape == images.shape
    np.testing.assert_array_equal(got, images)
    if suffix:
        assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert idx.read_idx(path)[0] == "images"


def test_header_is_big_endian_mnist_layout(tmp_path, images):
    path = tmp_path / "imgs"
    idx.write_images(path, images)
    raw = path.read_bytes()
    assert struct.unpack(">4i", raw[:16]) == (2051, 7, 5, 4)
    assert raw[16:] == images.tobytes()


def test_labels_round_trip(tmp_path, rng):
    labels = rng.integers(0, 10, size=50)
    path = tmp_path / "labels.gz"
    idx.write_labels(path, labels)
    got = idx.read_labels(path)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, labels)
    assert idx.read_idx(path)[0] == "labels"


def test_mnist_real_files(mnist_dir):
    imgs = idx.read_images(mnist_dir / "t10k-images-idx3-ubyte.gz")
    labels = idx.read_labels(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    assert imgs.shape == (10000, 28, 28)
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case, message", [
    ("empty", "empty"),
    ("short_header", "shorter than"),
    ("wrong_magic", "wrong magic number 1234"),
    ("truncated", "truncated"),
    ("padded", "padded"),
    ("labels_as_images", "labels file"),
    ("bad_gzip", "corrupt gzip"),
])
def test_read_images_errors(tmp_path, images, case, message):
    good = struct.pack(">4i", 2051, 7, 5, 4) + images.tobytes()
    data = {
        "empty": b"",
        "short_header": good[:10],
        "wrong_magic": struct.pack(">4i", 1234, 7, 5, 4) + images.tobytes(),
        "truncated": good[:-3],
        "padded": good + b"\x00\x00",
        "labels_as_images": struct.pack(">2i", 2049, 2) + b"\x01\x02",
        "bad_gzip": gzip.compress(good)[:-20],
    }[case]
    path = _write(tmp_path / case, data)
    with pytest.raises(DataFormatError, match=message):
        idx.read_images(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        idx.read_images(tmp_path / "nope")


def test_write_rejects_bad_input_and_leaves_no_file(tmp_path):
    path = tmp_path / "imgs"
    with pytest.raises(TypeError, match="uint8"):
        idx.write_images(path, np.zeros((1, 2, 2), dtype=np.float32))
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_file(tmp_path, images, monkeypatch):
    path = tmp_path / "imgs"
    idx.write_images(path, images)
    before = path.read_bytes()

    class Boom(Exception):
        pass

    def explode(*a, **k):
        raise Boom()

    # fail after the temporary file is written, at the rename
    import imsim._io

    monkeypatch.setattr(imsim._io.os, "replace", explode)
    with pytest.raises(Boom):
        idx.write_images(path, images)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs"]


def test_read_imageset_mismatched_counts(tmp_path, images):
    idx.write_images(tmp_path / "i", images)
    idx.write_labels(tmp_path / "l", np.zeros(3, dtype=int))
    with pytest.raises(DataFormatError, match="3 labels but .* 7 images"):
        idx.read_imageset(tmp_path / "i", tmp_path / "l")
