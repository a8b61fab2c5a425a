"""The engine interface, the local engine and the row blocks (no Dask needed)."""
import gzip

import numpy as np
import pytest

from imsim._validation import DataFormatError
from imsim.datasets import write_images
from imsim.engine import LocalEngine, get_engine, using
from imsim.engine.blocks import Block, image_shape, read_rows, row_ranges, split
from imsim.search.sharded import exact_knn, merge_topk
from imsim.search import ExactIndex


def test_local_engine_interface():
    eng = get_engine()
    assert isinstance(eng, LocalEngine) and not eng.distributed and eng.n_workers == 1
    assert eng.map(lambda t, a: t * a, [1, 2, 3], eng.put(10)) == [10, 20, 30]
    assert eng.resident(sorted, [3, 1, 2], worker=5) == [1, 2, 3]
    with using(eng) as same:
        assert same is eng


def test_engine_names_are_checked():
    with pytest.raises(ValueError, match="unknown engine 'spark', expected one of local, dask"):
        get_engine("spark")
    with pytest.raises(ValueError, match="--address needs --engine dask"):
        get_engine("local", address="tcp://127.0.0.1:8786")


@pytest.mark.parametrize("gz", [False, True])
def test_read_rows_reads_only_its_block(tmp_path, rng, gz):
    images = rng.integers(0, 256, (23, 5, 4), dtype=np.uint8)
    path = write_images(tmp_path / ("x.idx.gz" if gz else "x.idx"), images)
    assert image_shape(path) == (23, 5, 4)
    for lo, hi in [(0, 23), (3, 11), (22, 23), (7, 7)]:
        np.testing.assert_array_equal(read_rows(path, lo, hi), images[lo:hi])
    blocks, n = split(path, 4)
    assert n == 23 and sum(b.hi - b.lo for b in blocks) == 23
    np.testing.assert_array_equal(np.concatenate([b.load() for b in blocks]), images)
    with pytest.raises(ValueError, match="rows 20..30 outside the 23 images"):
        read_rows(path, 20, 30)


def test_truncated_file_is_named(tmp_path, rng):
    path = write_images(tmp_path / "x.idx", rng.integers(0, 256, (10, 4, 4), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:16 + 5 * 16 + 3])
    with pytest.raises(DataFormatError, match="truncated.*ends before image 5"):
        read_rows(path, 2, 9)
    labels = tmp_path / "labels.gz"
    labels.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x05"))
    with pytest.raises(DataFormatError, match="wrong magic number 2049, expected 2051"):
        image_shape(labels)


def test_row_ranges_cover_evenly():
    for n, parts in [(10, 3), (5, 8), (60000, 6), (1, 1)]:
        ranges = row_ranges(n, parts)
        assert ranges[0][0] == 0 and ranges[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        sizes = [b - a for a, b in ranges]
        assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1


def test_merge_topk_is_one_search_over_all_rows(rng):
    X = rng.integers(0, 3, (200, 8), dtype=np.uint8)  # many ties
    Q = rng.integers(0, 3, (30, 8), dtype=np.uint8)
    parts = []
    for lo, hi in row_ranges(200, 7):
        D, I = ExactIndex().fit(X[lo:hi]).search(Q, 12)
        parts.append((D, np.where(I >= 0, I + lo, -1)))
    for got, want in zip(merge_topk(parts, 12), ExactIndex().fit(X).search(Q, 12)):
        np.testing.assert_array_equal(got, want)


def test_exact_knn_local_takes_files(tmp_path, rng):
    X = rng.integers(0, 256, (50, 6, 6), dtype=np.uint8)
    Q = rng.integers(0, 256, (5, 6, 6), dtype=np.uint8)
    got = exact_knn(write_images(tmp_path / "q.idx", Q), write_images(tmp_path / "x.idx.gz", X), 4)
    want = ExactIndex().fit(X.reshape(50, -1)).search(Q.reshape(5, -1), 4)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(Block(3, 5, rows=X[3:5]).load(), X[3:5])


def test_emd_searcher_pickles_integer_weights_compactly_and_exactly(rng):
    import pickle

    from imsim.distances.emd import signatures
    from imsim.distances.emd_knn import _Searcher

    images = rng.integers(0, 256, (300, 13, 13), dtype=np.uint8)
    W, positions = signatures(images, 4)
    totals = images.reshape(300, -1).sum(axis=1, dtype=np.float64)
    plain = pickle.dumps(_Searcher(W, positions, "euclidean"))
    packed = _Searcher(W, positions, "euclidean", totals)
    back = pickle.loads(pickle.dumps(packed))
    assert len(pickle.dumps(packed)) < len(plain) / 3  # uint16 window sums, not float64 weights
    for name in ("weights", "M", "axes_cdf"):
        np.testing.assert_array_equal(getattr(back, name), getattr(packed, name))
