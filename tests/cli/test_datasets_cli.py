import socket
import struct

import numpy as np
import pytest
from PIL import Image

from imsim.cli.main import main
from imsim.datasets import write_images, write_labels

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    """An empty cache and a mirror nobody listens on: nothing leaves this machine."""
    monkeypatch.setenv("IMSIM_CACHE", str(tmp_path / "cache"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for name in ("MNIST", "FASHION_MNIST", "CIFAR10"):
        monkeypatch.setenv(f"IMSIM_{name}_MIRROR", f"http://127.0.0.1:{port}/")


def _rows(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}


@pytest.mark.slow
def test_show_mnist_both_splits_with_label_counts(mnist_dir, capsys):
    assert main(["datasets", "show", "mnist", "--data-dir", str(mnist_dir)]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["train"][:3] == ["60000", "28x28", "uint8"]
    assert rows["test"][:3] == ["10000", "28x28", "uint8"]
    for digit in range(10):
        assert rows[str(digit)] == [str(MNIST_TRAIN_COUNTS[digit]), str(MNIST_TEST_COUNTS[digit])]


@pytest.mark.slow
def test_show_digits_one_split_with_grid(tmp_path, capsys):
    grid = tmp_path / "grid.png"
    assert main(["datasets", "show", "digits", "--split", "test", "--grid", str(grid),
                 "--samples", "9"]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert rows["test"][:2] == ["355", "8x8"] and "train" not in rows
    assert "wrote 9 sample images" in out
    with Image.open(grid) as img:
        assert img.format == "PNG" and img.size[0] > 3 * 8


def test_show_image_folder_reports_skipped_files(tmp_path, capsys, rng):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    (photos / "bad.jpg").write_bytes(b"nope")
    with pytest.warns(UserWarning, match="bad.jpg"):
        assert main(["datasets", "show", str(photos), "--size", "16", "--gray"]) == 0
    out = capsys.readouterr().out
    assert _rows(out)["all"][:3] == ["2", "16x16", "uint8"]
    assert "skipped 1 unreadable file(s), e.g. bad.jpg" in out
    assert "no labels" in out


def test_list_says_where_each_set_is(mnist_dir, capsys):
    assert main(["datasets", "list", "--data-dir", str(mnist_dir)]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert rows["mnist"][:4] == ["28x28", "60000", "10000", "data"]
    assert rows["digits"][:4] == ["8x8", "1442", "355", "built"]
    assert rows["cifar10"][:4] == ["32x32x3", "50000", "10000", "needs"]


def _idx_images(path, header, payload=b""):
    path.write_bytes(struct.pack(">4i", *header) + payload)
    return path


@pytest.fixture
def bad_idx(tmp_path):
    """Malformed idx files: name -> (args after 'datasets show', expected message part)."""
    d = tmp_path / "bad"
    d.mkdir()
    write_images(d / "ok-images", np.zeros((3, 2, 2), np.uint8))
    write_labels(d / "two-labels", np.array([1, 2]))
    write_labels(d / "many-labels", np.arange(20) % 10)
    (d / "empty").write_bytes(b"")
    (d / "short-header").write_bytes(b"\x00\x00\x08")
    (d / "corrupt.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 20)
    cases = {
        "empty": ([str(d / "empty")], "file is empty"),
        "short header": ([str(d / "short-header")], "shorter than the 16-byte idx header"),
        "truncated": ([str(_idx_images(d / "trunc", (2051, 3, 2, 2), b"\x00" * 11))], "truncated"),
        "padded": ([str(_idx_images(d / "pad", (2051, 3, 2, 2), b"\x00" * 13))], "padded"),
        "wrong magic": ([str(_idx_images(d / "magic", (1234, 1, 2, 2), b"\x00" * 4))],
                        "wrong magic number 1234"),
        "labels as images": ([str(d / "many-labels")], "this is a labels file"),
        "corrupt gzip": ([str(d / "corrupt.gz")], "corrupt gzip"),
        "label count": ([str(d / "ok-images"), "--labels", str(d / "two-labels")],
                        "holds 2 labels but"),
    }
    return cases


CASES = ["empty", "short header", "truncated", "padded", "wrong magic", "labels as images",
         "corrupt gzip", "label count"]


@pytest.mark.parametrize("case", CASES)
def test_malformed_idx_gives_one_error_line(bad_idx, case, capsys):
    args, expected = bad_idx[case]
    assert main(["datasets", "show", *args]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert expected in lines[0]
    assert "Traceback" not in captured.err + captured.out


def test_missing_data_set_offline_names_the_files(capsys, tmp_path):
    assert main(["datasets", "show", "fashion-mnist", "--split", "test"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: fashion-mnist test split")
    assert "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz" in err
    assert str(tmp_path / "cache" / "fashion-mnist") in err


def test_bad_arguments(capsys):
    assert main(["datasets", "show", "nothing-here"]) == 1
    assert "expected one of mnist" in capsys.readouterr().err
    assert main(["datasets", "show", "digits", "--split", "dev"]) == 1
    assert "--split must be one of train, test, both" in capsys.readouterr().err
