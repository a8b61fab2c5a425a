"""The one vocabulary, the one integer check and the one environment reader (imsim._validation)."""
import numpy as np
import pytest

from imsim._validation import (GROUNDS, METRICS, check_ground, check_int, check_k, check_metric,
                               check_positive_int, env_int)
from imsim import _idx, _io, _threads, _validation
from imsim.collection import CollectionSettings
from imsim.datasets import image
from imsim.distances import pairwise
from imsim.search import LSHIndex
from imsim.distances.emd import ground_distance


@pytest.mark.parametrize("given, canonical", [
    ("l1", "l1"), ("L1", "l1"), ("manhattan", "l1"), ("cityblock", "l1"),
    ("l2", "l2"), ("Euclidean", "l2"), ("cosine", "cosine")])
def test_metric_aliases(given, canonical):
    assert check_metric(given) == canonical
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(pairwise(X, metric=given), pairwise(X, metric=canonical))


def test_metric_errors_list_what_the_caller_takes():
    with pytest.raises(ValueError, match=r"^unknown metric 'hamming', expected one of l1, l2, "
                                         r"cosine$"):
        check_metric("hamming")
    collection_order = ("l2", "cosine", "l1")
    assert check_metric("euclidean", collection_order) == "l2"
    with pytest.raises(ValueError, match="expected one of l2, cosine, l1"):
        check_metric("chebyshev", collection_order)
    with pytest.raises(ValueError, match="unknown metric 'cosine', expected one of l1$"):
        check_metric("cosine", ("l1",))
    assert METRICS == ("l1", "l2", "cosine")


@pytest.mark.parametrize("given, canonical", [
    ("euclidean", "euclidean"), ("l2", "euclidean"), ("Manhattan", "manhattan"),
    ("l1", "manhattan")])
def test_ground_aliases(given, canonical):
    assert check_ground(given) == canonical
    P = np.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_array_equal(ground_distance(P, ground=given),
                                  ground_distance(P, ground=canonical))
    assert GROUNDS == ("euclidean", "manhattan")


def test_ground_errors():
    with pytest.raises(ValueError, match="unknown ground distance 'cosine', expected one of "
                                         "euclidean, manhattan"):
        check_ground("cosine")


@pytest.mark.parametrize("value", [2.5, 3.0, "3", True, None, np.float32(2)])
def test_a_non_integer_is_a_type_error(value):
    for check in (lambda v: check_int(v, "k"), lambda v: check_k(v, 10),
                  lambda v: check_positive_int(v, "k")):
        with pytest.raises(TypeError, match="k must be an integer, got "):
            check(value)


def test_an_integer_out_of_range_is_a_value_error():
    assert check_int(np.int64(3), "k") == 3 and type(check_int(np.int64(3), "k")) is int
    with pytest.raises(ValueError, match="^k must be a positive integer, got 0$"):
        check_positive_int(0, "k")
    with pytest.raises(ValueError, match="^rerank must be at least 0, got -1$"):
        check_int(-1, "rerank", low=0)
    with pytest.raises(ValueError, match="^n_hashes must be at most 32, got 33$"):
        check_int(33, "n_hashes", high=32)
    with pytest.raises(ValueError, match="^k=20 but the data holds 12 items$"):
        check_k(20, 12)
    assert check_int(-5, "seed", low=None) == -5


# every limit read from the environment goes through env_int: one rule, one message
READERS = {
    "IMSIM_MAX_TEXT_BYTES": lambda: _io.read_text_file(__file__),
    "IMSIM_MAX_IDX_BYTES": _idx.max_idx_bytes,
    "IMSIM_MAX_IMAGE_BYTES": image.limits,
    "IMSIM_MAX_IMAGE_PIXELS": image.limits,
    "IMSIM_DECODE_PIXELS": lambda: image.DecodeBudget().total,
    "IMSIM_MAX_IMAGE_SIDE": CollectionSettings,
    "IMSIM_MAX_LSH_TABLES": lambda: LSHIndex().fit(np.zeros((4, 2), np.float32)),
    "IMSIM_THREADS": _threads.kernel_threads,
    "IMSIM_NUM_THREADS": _threads.kernel_threads,
}
#: the readers whose minimum is not 1, and that minimum
MINIMUM = {"IMSIM_MAX_IMAGE_SIDE": 4}


def test_env_int_default_value_and_errors(monkeypatch):
    monkeypatch.delenv("IMSIM_TEST_LIMIT", raising=False)
    assert env_int("IMSIM_TEST_LIMIT", 7) == 7
    monkeypatch.setenv("IMSIM_TEST_LIMIT", "  ")
    assert env_int("IMSIM_TEST_LIMIT", None) is None
    monkeypatch.setenv("IMSIM_TEST_LIMIT", " 12 ")
    assert env_int("IMSIM_TEST_LIMIT", 7) == 12
    for bad in ("0", "-3", "1.5", "lots"):
        monkeypatch.setenv("IMSIM_TEST_LIMIT", bad)
        with pytest.raises(ValueError, match=f"^IMSIM_TEST_LIMIT must be a positive integer, got '{bad}'$"):
            env_int("IMSIM_TEST_LIMIT", 7)


def test_env_int_minimum(monkeypatch):
    monkeypatch.setenv("IMSIM_TEST_LIMIT", "0")
    assert env_int("IMSIM_TEST_LIMIT", 7, minimum=0) == 0
    monkeypatch.setenv("IMSIM_TEST_LIMIT", "4")
    assert env_int("IMSIM_TEST_LIMIT", 7, minimum=4) == 4
    for bad in ("3", "-3", "4.0", "lots"):
        monkeypatch.setenv("IMSIM_TEST_LIMIT", bad)
        with pytest.raises(ValueError, match=f"^IMSIM_TEST_LIMIT must be an integer >= 4, got '{bad}'$"):
            env_int("IMSIM_TEST_LIMIT", 7, minimum=4)


def test_every_env_int_reader_is_checked_here():
    """A new limit read from the environment is added to READERS (and so checked)."""
    import ast
    from pathlib import Path

    src = Path(_validation.__file__).parent
    read = set()
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "env_int" \
                    and node.args and isinstance(node.args[0], ast.Constant):
                read.add(node.args[0].value)
    read |= {_threads.ENV, _threads.ALIAS}  # read through a loop over the two names
    assert read == set(READERS)


@pytest.mark.parametrize("name", sorted(READERS))
def test_every_limit_reader_uses_the_one_rule(monkeypatch, name):
    read = READERS[name]
    monkeypatch.delenv(name, raising=False)
    read()  # the default works
    if name == _threads.ALIAS:
        monkeypatch.delenv(_threads.ENV, raising=False)  # the alias is read when it is unset
    expected = f"an integer >= {MINIMUM[name]}" if name in MINIMUM else "a positive integer"
    for bad in ("lots", str(MINIMUM.get(name, 1) - 1)):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ValueError, match=f"^{name} must be {expected}, got '{bad}'$"):
            read()
