"""ShardedIndex: the common conformance suite, unchanged, and exact shards == ExactIndex."""
import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest

from imsim.search import ExactIndex, Index, LSHIndex
from imsim.search.sharded import ShardedIndex

# every check of tests/search/test_common.py that takes an index case, run here with
# sharded factories of the same cases (the suite itself is unchanged)
_spec = importlib.util.spec_from_file_location("_common_suite", Path(__file__).with_name("test_common.py"))
_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_common)
globals().update({name: fn for name, fn in vars(_common).items()
                  if name.startswith("test_") and "case" in inspect.signature(fn).parameters})

SHARDS = {"exact": 3, "lsh": 2, "hnsw": 2}
CASES = [c for c in _common.CASES if c[0] in SHARDS]  # reduced: its encoder is a callable, not saved


# The re-run of the whole suite (some 180 cases) is left to the full run: the fast subset
# has the suite on the plain indexes and ShardedIndex's own tests below.
@pytest.fixture(params=[pytest.param(c, marks=pytest.mark.slow) for c in CASES],
                ids=["sharded-" + "-".join(c) for c in CASES])
def case(request):
    kind, dtype, metric = request.param
    _, X, Q, truth, metric = _common.make_case(kind, dtype, metric)
    params = {"metric": metric, **_common.BUILD[kind]}
    return (lambda: ShardedIndex(kind, params, n_shards=SHARDS[kind])), X, Q, truth, metric


@pytest.fixture
def planted():
    _, X, Q, truth, _ = _common.make_case("lsh", "uint8", "l1")
    return X, Q, truth


@pytest.mark.parametrize("n_shards", [1, 2, 5, 64])
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_exact_shards_equal_exact_index_bit_for_bit(rng, n_shards, dtype):
    # values 0..2 in 6 dimensions: most distances tie, so the id order is tested
    X = rng.integers(0, 3, (400, 6)).astype(dtype)
    Q = rng.integers(0, 3, (60, 6)).astype(dtype)
    want = ExactIndex().fit(X).search(Q, 25)
    got = ShardedIndex(n_shards=n_shards).fit(X).search(Q, 25)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_l2_and_cosine_shards(rng):
    X = rng.standard_normal((300, 10)).astype(np.float32)
    Q = rng.standard_normal((20, 10)).astype(np.float32)
    for metric in ("l2", "cosine"):
        D0, I0 = ExactIndex(metric).fit(X).search(Q, 7)
        D1, I1 = ShardedIndex(params={"metric": metric}, n_shards=4).fit(X).search(Q, 7)
        np.testing.assert_array_equal(I1, I0)
        np.testing.assert_allclose(D1, D0, rtol=1e-6, atol=1e-6)


def test_shard_files_round_trip(tmp_path, planted):
    X, Q, _ = planted
    index = ShardedIndex("LSHIndex", {"n_hashes": 4, "n_tables": 8, "seed": 3}, n_shards=3).fit(X)
    folder = index.save_shards(tmp_path / "index")
    assert sorted(p.name for p in folder.iterdir()) == [
        "shard-00000.npz", "shard-00001.npz", "shard-00002.npz", "sharded.json"]
    # each shard is an ordinary index file
    assert type(Index.load(folder / "shard-00001.npz")) is LSHIndex
    again = ShardedIndex.load_shards(folder)
    assert again.name == index.name and again.ntotal == len(X)
    for got, want in zip(again.search(Q, 5), index.search(Q, 5)):
        np.testing.assert_array_equal(got, want)


def test_bad_shard_settings(planted):
    X = planted[0]
    with pytest.raises(ValueError, match="unknown shard index .FaissIndex., expected one of"):
        ShardedIndex("FaissIndex").fit(X)
    with pytest.raises(ValueError, match="n_shards must be a positive integer"):
        ShardedIndex(n_shards=0).fit(X)
    with pytest.raises(ValueError, match="ShardedIndex supports metric .l1. with LSHIndex shards, got .l2."):
        ShardedIndex("LSHIndex", {"metric": "l2"}).fit(X)
