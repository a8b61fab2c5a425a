import numpy as np
import pytest

from imsim._validation import DataFormatError
from imsim.formats.classes import format_classes, parse_classes, read_classes, write_classes


def test_written_format_and_round_trip(tmp_path, rng):
    labels = np.array([1, 0, 1, 3, 1])
    text = format_classes(labels, n_classes=5)
    assert text == ("CLUSTER-1 { size: 1, 1}\n"
                    "CLUSTER-2 { size: 3, 0, 2, 4}\n"
                    "CLUSTER-3 { size: 0}\n"
                    "CLUSTER-4 { size: 1, 3}\n"
                    "CLUSTER-5 { size: 0}\n")
    big = rng.integers(0, 10, size=1000)
    path = write_classes(tmp_path / "classes.txt", big, n_classes=10)
    np.testing.assert_array_equal(read_classes(path, n_images=1000), big)
    assert [p.name for p in tmp_path.iterdir()] == ["classes.txt"]  # no temporary left


@pytest.mark.parametrize("text", [
    "CLUSTER-1 { size: 2, 0, 3}\nCLUSTER-2 { size: 2, 1, 2}\n",   # canonical
    "CLUSTER-0 { size: 2, 0, 3}\nCLUSTER-1 { size: 2, 1, 2}\n",   # 0-based clusters
    "CLUSTER-1 {size:2,0,3}\nCLUSTER-2 {size:2,1,2}\n",           # no spaces
    "CLUSTER-0 {size:2,0,3}\n\nCLUSTER-1 {size:2,1,2}",           # both, blank line
    "CLUSTER-1 {0, 3}\r\nCLUSTER-2 {1, 2, }\r\n",                 # no size, CRLF, comma
])
def test_reads_original_variants(text):
    np.testing.assert_array_equal(parse_classes(text), [0, 1, 1, 0])


def test_empty_classes_keep_their_number():
    labels = parse_classes("CLUSTER-1 { size: 0}\nCLUSTER-2 { size: 2, 0, 1}\n")
    np.testing.assert_array_equal(labels, [1, 1])


@pytest.mark.parametrize("text, n, message", [
    ("CLUSTER-1 { size: 1, 0}\nCLUSTR-2 { size: 1, 1}\n", None, r":2: expected 'CLUSTER-<n>"),
    ("CLUSTER-1 { size: 2, 0, x}\n", None, r":1: image ids must be .* found 'x'"),
    ("CLUSTER-1 { size: 3, 0, 1}\n", None, r":1: size says 3 images but 2 ids follow"),
    ("CLUSTER-1 { size: two, 0}\n", None, r":1: size must be a non-negative integer"),
    ("CLUSTER-1 { size: 2, 0, 1}\nCLUSTER-2 { size: 1, 1}\n", None,
     r":2: image 1 is listed again \(first on line 1\)"),
    ("CLUSTER-1 { size: 2, 0, 0}\n", None, r":1: image 0 is listed twice on this line"),
    ("CLUSTER-1 { size: 1, 0}\nCLUSTER-1 { size: 1, 1}\n", None,
     r":2: CLUSTER-1 appears again \(first on line 1\)"),
    ("CLUSTER-1 { size: 2, 0, 3}\n", None, r"2 of 4 images are in no class \(ids 1, 2\)"),
    ("CLUSTER-1 { size: 2, 0, 1}\n", 3, r"1 of 3 images are in no class \(ids 2\)"),
    ("CLUSTER-1 { size: 2, 0, 5}\n", 3, r":1: image id 5 out of range, there are 3 images"),
    ("\n\n", None, "no CLUSTER lines"),
])
def test_bad_files_say_what_and_where(text, n, message):
    with pytest.raises(DataFormatError, match=message):
        parse_classes(text, n, source="classes.txt")


def test_read_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="classes file not found"):
        read_classes(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("CLUSTER-1 { size: 1, 0}\nhello\n")
    with pytest.raises(DataFormatError, match=r"bad\.txt:2:"):
        read_classes(bad)
    with pytest.raises(ValueError, match="labels hold class 3 but n_classes=2"):
        write_classes(tmp_path / "c.txt", np.array([0, 3]), n_classes=2)
    with pytest.raises(TypeError, match="integer"):
        write_classes(tmp_path / "c.txt", np.array([0.5]))
