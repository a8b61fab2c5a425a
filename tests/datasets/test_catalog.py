import functools
import gzip
import pickle
import shutil
import socket
import tarfile
import threading
from pathlib import Path
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from imsim._validation import DataFormatError
from imsim.datasets import (DatasetUnavailableError, ImageSet, has_splits, load_dataset, locate,
                            open_images, write_images, write_labels)
from imsim.datasets import catalog

MNIST_TEST_COUNTS = {0: 980, 1: 1135, 2: 1032, 3: 1010, 4: 982, 5: 892, 6: 958, 7: 1028,
                     8: 974, 9: 1009}
T10K = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("IMSIM_CACHE", str(root))
    monkeypatch.delenv("IMSIM_MNIST_MIRROR", raising=False)
    return root


def _write_small_mnist(directory, rng, n=5, split="test", names=None):
    directory.mkdir(parents=True, exist_ok=True)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n)
    img_name, lab_name = names or catalog._IDX_FILES[split]
    write_images(directory / img_name, images)
    write_labels(directory / lab_name, labels)
    return images, labels


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, mnist_dir):
    """An HTTP server on 127.0.0.1 with good/ (the shared MNIST test files) and
    bad/ (a corrupt gzip of the images, labels with one label changed)."""
    root = tmp_path_factory.mktemp("mirror")
    (root / "good").mkdir()
    (root / "bad").mkdir()
    for name in T10K:
        (root / "good" / name).symlink_to(mnist_dir / name)
    raw = bytearray((mnist_dir / T10K[0]).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (root / "bad" / T10K[0]).write_bytes(bytes(raw))
    labels = bytearray(gzip.decompress((mnist_dir / T10K[1]).read_bytes()))
    labels[8] = (labels[8] + 1) % 10
    (root / "bad" / T10K[1]).write_bytes(gzip.compress(bytes(labels)))
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_data_dir_is_used_first(cache, mnist_dir, rng):
    _write_small_mnist(cache / "mnist", rng)
    test = load_dataset("mnist", "test", data_dir=mnist_dir, download=False)
    assert test.images.shape == (10000, 28, 28) and test.images.dtype == np.uint8
    assert test.label_counts() == MNIST_TEST_COUNTS
    assert test.meta["source"] == "data dir" and str(mnist_dir) in test.name
    assert locate("mnist", "test", data_dir=mnist_dir) == ("data dir", mnist_dir)


def test_cache_is_used_when_data_dir_lacks_the_files(cache, tmp_path, rng):
    images, labels = _write_small_mnist(cache / "mnist", rng)
    empty = tmp_path / "empty"
    empty.mkdir()
    got = load_dataset("mnist", "test", data_dir=empty, download=False)
    np.testing.assert_array_equal(got.images, images)
    np.testing.assert_array_equal(got.labels, labels)
    assert got.meta["source"] == "cache" and "cache" in got.name
    assert locate("mnist", "test") == ("cache", cache / "mnist")
    with pytest.raises(FileNotFoundError, match="data directory not found"):
        load_dataset("mnist", "test", data_dir=tmp_path / "typo")


def test_data_dir_subfolder_and_unzipped_names(cache, tmp_path, rng):
    names = ("train-images.idx3-ubyte", "train-labels-idx1-ubyte")
    images, _ = _write_small_mnist(tmp_path / "data" / "fashion-mnist", rng, names=names)
    got = load_dataset("fashion-mnist", "train", data_dir=tmp_path / "data", download=False)
    np.testing.assert_array_equal(got.images, images)
    assert got.meta["classes"][0] == "T-shirt/top"


def test_download_through_mirrors_then_cache(cache, mirror, mnist_test, monkeypatch):
    # the first mirror answers 404; the second serves the files
    monkeypatch.setitem(catalog.MIRRORS, "mnist", [f"{mirror}/missing/", f"{mirror}/good/"])
    got = load_dataset("mnist", "test")
    assert got.meta["source"] == "download"
    np.testing.assert_array_equal(got.images, mnist_test.images)
    np.testing.assert_array_equal(got.labels, mnist_test.labels)
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(T10K)  # no temp files
    # now cached: no network needed
    monkeypatch.setitem(catalog.MIRRORS, "mnist", [_dead_url()])
    again = load_dataset("mnist", "test")
    assert again.meta["source"] == "cache"
    np.testing.assert_array_equal(again.images, got.images)


def test_corrupted_download_is_refused_and_leaves_nothing(cache, mirror, monkeypatch):
    monkeypatch.setitem(catalog.MIRRORS, "mnist", [f"{mirror}/bad/"])
    with pytest.raises(DatasetUnavailableError, match="not a valid gzip file") as err:
        load_dataset("mnist", "test")
    assert "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz" in str(err.value)
    assert not cache.exists()


def test_checksum_mismatch_is_refused_and_next_mirror_used(cache, mirror, mnist_dir, monkeypatch):
    (cache / "mnist").mkdir(parents=True)
    shutil.copy(mnist_dir / T10K[0], cache / "mnist" / T10K[0])  # only the labels are missing
    monkeypatch.setitem(catalog.MIRRORS, "mnist", [f"{mirror}/bad/"])
    with pytest.raises(DatasetUnavailableError, match="checksum mismatch"):
        load_dataset("mnist", "test")
    assert [p.name for p in (cache / "mnist").iterdir()] == [T10K[0]]
    monkeypatch.setitem(catalog.MIRRORS, "mnist", [f"{mirror}/bad/", f"{mirror}/good/"])
    assert load_dataset("mnist", "test").label_counts() == MNIST_TEST_COUNTS


def test_offline_message_names_files_and_where_to_put_them(cache, monkeypatch):
    monkeypatch.setitem(catalog.MIRRORS, "mnist", [_dead_url()])
    with pytest.raises(DatasetUnavailableError) as err:
        load_dataset("mnist", "train")
    message = str(err.value)
    assert "\n" not in message
    for part in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 str(cache / "mnist"), "--data-dir", "download failed"):
        assert part in message
    assert isinstance(err.value, OSError)
    assert not cache.exists()
    with pytest.raises(DatasetUnavailableError, match="downloads are turned off"):
        load_dataset("mnist", "train", download=False)


def test_mirror_env_variable_replaces_the_list(monkeypatch):
    monkeypatch.setenv("IMSIM_FASHION_MNIST_MIRROR", "http://a.example/x/, file:///b/")
    assert catalog.mirrors("fashion-mnist") == ["http://a.example/x/", "file:///b/"]
    monkeypatch.delenv("IMSIM_FASHION_MNIST_MIRROR")
    assert catalog.mirrors("fashion-mnist") == catalog.MIRRORS["fashion-mnist"]


def test_mnist_checksums_are_the_shared_content_sums(mnist_dir):
    sums = dict(line.split()[::-1] for line in
                (mnist_dir / "CONTENT-SHA256SUMS").read_text().splitlines() if line.strip())
    for name, (kind, digest) in catalog.DATASETS["mnist"].checksums.items():
        assert kind == "content-sha256"
        assert sums[name[:-3]] == digest


def test_digits_offline_with_a_stratified_deterministic_split():
    from sklearn.datasets import load_digits

    ref = load_digits()
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert train.images.shape == (1442, 8, 8) and test.images.shape == (355, 8, 8)
    assert train.images.dtype == np.uint8 and train.images.max() == 255
    assert set(train.ids.tolist()).isdisjoint(test.ids.tolist())
    assert len(train) + len(test) == len(ref.images)
    for part in (train, test):
        np.testing.assert_array_equal(part.labels, ref.target[part.ids])
        np.testing.assert_array_equal(part.images, np.rint(ref.images[part.ids] * 255 / 16))
    totals = np.bincount(ref.target)
    assert [test.label_counts()[d] for d in range(10)] == (totals // 5).tolist()
    np.testing.assert_array_equal(load_dataset("digits", "test").ids, test.ids)


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match="unknown data set 'svhn'; known: mnist"):
        load_dataset("svhn")
    with pytest.raises(ValueError, match="split must be one of train, test"):
        load_dataset("digits", "validation")
    assert catalog.dataset_info("Fashion_MNIST").name == "fashion-mnist"


def _cifar_batch(rng, n):
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    return {"batch_label": "fake", "labels": labels, "data": data,
            "filenames": [f"img{i}.png" for i in range(n)]}


@pytest.fixture
def cifar_dir(tmp_path, rng):
    root = tmp_path / "cifar"
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {f"data_batch_{i}": _cifar_batch(rng, 2) for i in range(1, 6)}
    batches["test_batch"] = _cifar_batch(rng, 3)
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return root, batches


def test_cifar10_from_batches_folder_and_archive(cache, cifar_dir, tmp_path):
    root, batches = cifar_dir
    train = load_dataset("cifar10", "train", data_dir=root, download=False)
    assert train.images.shape == (10, 32, 32, 3) and train.images.dtype == np.uint8
    expected_labels = sum((batches[f"data_batch_{i}"]["labels"] for i in range(1, 6)), [])
    np.testing.assert_array_equal(train.labels, expected_labels)
    row = batches["data_batch_1"]["data"][1]  # red plane, green plane, blue plane
    for y, x, c in [(0, 0, 0), (5, 17, 1), (31, 2, 2), (20, 31, 0)]:
        assert train.images[1, y, x, c] == row[c * 1024 + y * 32 + x]
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    with tarfile.open(archive_dir / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(root / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    test = load_dataset("cifar10", "test", data_dir=archive_dir, download=False)
    np.testing.assert_array_equal(
        test.images[2], batches["test_batch"]["data"][2].reshape(3, 32, 32).transpose(1, 2, 0))
    assert test.meta["classes"][0] == "airplane"


def test_cifar10_refuses_pickles_that_run_code(cache, cifar_dir):
    root, _ = cifar_dir

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    (root / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(Evil(), protocol=2))
    with pytest.raises(DataFormatError, match=r"refusing to load \w+\.print"):
        load_dataset("cifar10", "test", data_dir=root, download=False)


def test_open_images_on_name_idx_file_idx_folder_and_image_folder(cache, tmp_path, rng):
    digits = open_images("digits", "test")
    assert digits.images.shape == (355, 8, 8)
    resized = open_images("digits", "test", size=16, color=True)
    assert resized.images.shape == (355, 16, 16, 3) and resized.name == digits.name

    images, labels = _write_small_mnist(tmp_path / "idx", rng, n=4, split="train")
    _write_small_mnist(tmp_path / "idx", rng, n=3, split="test")
    one = open_images(tmp_path / "idx" / "train-images-idx3-ubyte.gz",
                      labels=tmp_path / "idx" / "train-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(one.images, images)
    np.testing.assert_array_equal(one.labels, labels)
    assert has_splits(tmp_path / "idx") and has_splits("mnist")
    assert not has_splits(tmp_path / "digits")  # a Path is never a catalog name
    assert len(open_images(tmp_path / "idx", "test")) == 3

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    from_folder = open_images(photos)
    assert from_folder.images.shape == (3, 64, 64, 3) and not has_splits(photos)
    assert from_folder.paths == ["0.png", "1.png", "2.png"]
    single = open_images(photos / "1.png", size=8, color=False)
    assert single.images.shape == (1, 8, 8)

    subset = ImageSet(images)
    assert open_images(subset) is subset


def test_open_images_errors(cache, tmp_path):
    with pytest.raises(FileNotFoundError, match="expected one of mnist, fashion-mnist"):
        open_images("no-such-thing")
    with pytest.raises(ValueError, match="labels= .* idx images file only"):
        open_images("digits", labels=tmp_path / "labels.gz")


# the real files, in shared/datasets/mnist beside the checkout or above it
_SHARED_MNIST = next((p / "shared" / "datasets" / "mnist" for p in Path(__file__).resolve().parents
                      if (p / "shared" / "datasets" / "mnist").is_dir()), Path("/nonexistent"))


def test_mnist_labels_hash_to_the_published_content_sum(rng):
    # the check below hashes labels as the idx file holding them: a round trip through
    # a written file must give the same SHA-256 as that file's decompressed bytes
    import hashlib
    import tempfile

    labels = rng.integers(0, 10, size=37)
    with tempfile.TemporaryDirectory() as tmp:
        write_labels(Path(tmp) / "l.gz", labels)
        content = gzip.decompress((Path(tmp) / "l.gz").read_bytes())
    assert catalog._idx_labels_sha256(labels) == hashlib.sha256(content).hexdigest()


@pytest.mark.skipif(not (_SHARED_MNIST / "t10k-labels-idx1-ubyte.gz").is_file(),
                    reason="the real MNIST files are not beside the checkout")
def test_mnist_files_are_refused_as_fashion_mnist(cache):
    # the same file names, so only the content tells them apart
    with pytest.raises(DataFormatError, match="holds MNIST's digits, not Fashion-MNIST"):
        load_dataset("fashion-mnist", "test", data_dir=_SHARED_MNIST, download=False)
    assert len(load_dataset("mnist", "test", data_dir=_SHARED_MNIST, download=False)) == 10000
