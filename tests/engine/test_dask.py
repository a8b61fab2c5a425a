"""Every distributed job on a real Dask cluster (2 worker processes on 127.0.0.1)
gives the local answer: ids and distances exactly, latents within float rounding."""
import numpy as np
import pytest

from imsim.cluster import silhouette
from imsim.datasets import write_images
from imsim.distances.emd_knn import emd_knn
from imsim.search.sharded import exact_knn
from imsim.search import ExactIndex, Index, ShardedIndex


def test_every_socket_is_on_loopback(dask_engine):
    psutil = pytest.importorskip("psutil")
    pids = [psutil.Process().pid, *dask_engine.worker_pids().values()]
    listening = [c.laddr for pid in pids for c in psutil.Process(pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and {addr.ip for addr in listening} == {"127.0.0.1"}
    assert all(w.startswith("tcp://127.0.0.1:") for w in dask_engine.workers())


def test_exact_knn_reads_blocks_and_equals_exact_index(dask_engine, tmp_path, rng):
    X = rng.integers(0, 4, (3000, 7, 7), dtype=np.uint8)  # small values: many ties
    Q = rng.integers(0, 4, (40, 7, 7), dtype=np.uint8)
    want = ExactIndex().fit(X.reshape(3000, -1)).search(Q.reshape(40, -1), 10)
    for data in (write_images(tmp_path / "x.idx.gz", X), X):
        got = exact_knn(Q, data, 10, engine=dask_engine)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    assert sum(dask_engine.last_placement.values()) == 3 * dask_engine.n_workers
    with pytest.raises(ValueError, match="query has 50 dimensions, index has 49"):
        exact_knn(rng.integers(0, 4, (2, 50)), X, 3, engine=dask_engine)


def test_silhouette_on_workers_equals_local(dask_engine, rng):
    X = rng.integers(0, 256, (700, 20), dtype=np.uint8)
    labels = rng.integers(0, 5, 700)
    want = silhouette(X, labels)
    got = silhouette(X, labels, engine=dask_engine)
    np.testing.assert_array_equal(got.samples, want.samples)  # int64 sums: exact
    assert got.total == want.total
    Z = rng.standard_normal((500, 6)).astype(np.float32)
    np.testing.assert_allclose(silhouette(Z, labels[:500], "l2", engine=dask_engine).samples,
                               silhouette(Z, labels[:500], "l2").samples, rtol=1e-12, atol=1e-12)


def test_emd_knn_split_by_queries_equals_local(dask_engine, rng):
    data = rng.integers(0, 256, (150, 12, 12), dtype=np.uint8)
    queries = rng.integers(0, 256, (9, 12, 12), dtype=np.uint8)
    D0, I0, s0 = emd_knn(queries, data, k=4, window=4, n_jobs=1, return_stats=True)
    D1, I1, s1 = emd_knn(queries, data, k=4, window=4, engine=dask_engine, return_stats=True)
    np.testing.assert_array_equal(I1, I0)
    np.testing.assert_array_equal(D1, D0)
    np.testing.assert_array_equal(s1.n_exact, s0.n_exact)  # the same pruning
    assert s1.pruned > 0


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from imsim.models import AutoencoderConfig, ConvAutoencoder, save_checkpoint

    config = AutoencoderConfig(input_shape=(8, 8, 1), n_layers=2, filters=[4, 8], hidden_dim=16,
                               latent_dim=4)
    return save_checkpoint(tmp_path_factory.mktemp("model") / "m", ConvAutoencoder(config))


def test_encoding_on_workers_equals_local(dask_engine, tiny_model, tmp_path, rng):
    images = rng.integers(0, 256, (500, 8, 8), dtype=np.uint8)
    path = write_images(tmp_path / "x.idx", images)
    from imsim.embed import encode_images  # PyTorch: loaded by this test only

    want = encode_images(tiny_model, images)
    got = encode_images(tiny_model, path, engine=dask_engine)
    assert got.shape == (500, 4) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_reduce_files_on_workers(dask_engine, tiny_model, tmp_path, rng):
    from imsim.embed import read_latent_file, reduce_files

    data = write_images(tmp_path / "d.idx", rng.integers(0, 256, (300, 8, 8), dtype=np.uint8))
    query = write_images(tmp_path / "q.idx", rng.integers(0, 256, (20, 8, 8), dtype=np.uint8))
    out = {}
    for name, engine in (("local", None), ("dask", dask_engine)):
        reduce_files(data, query, tmp_path / f"{name}.d", tmp_path / f"{name}.q", model_dir=tiny_model,
                     progress=False, engine=engine)
        out[name] = [read_latent_file(tmp_path / f"{name}.{s}")[0] for s in "dq"]
    for a, b in zip(out["local"], out["dask"]):
        np.testing.assert_allclose(a, b, atol=1e-3)  # the 0..25500 files: one step apart at most


def test_collection_built_on_workers_equals_local(dask_engine, tmp_path, rng):
    from PIL import Image

    from imsim.collection import Collection

    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(
            photos / ("sub" if i % 3 else ".") / f"p{i:02d}.png")
    (photos / "broken.jpg").write_bytes(b"not an image")
    settings = dict(size=8, latent_dim=4, n_cached=5, epochs=1, progress=False)
    with pytest.warns(UserWarning, match="broken.jpg"):
        local = Collection.build(photos, tmp_path / "local", **settings)
    with pytest.warns(UserWarning, match="broken.jpg"):
        remote = Collection.build(photos, tmp_path / "remote", model=tmp_path / "local",
                                  engine=dask_engine, **settings)
    assert [(r.path, r.sha256) for r in remote.records()] == [(r.path, r.sha256) for r in local.records()]
    assert remote.skipped() == local.skipped()
    np.testing.assert_allclose(remote.latents, local.latents, atol=1e-5, rtol=0)
    # the version holds its index as one file per shard (a shard per worker), and an
    # opened collection answers from them: the exact neighbours of these 40 latents
    assert not (remote._dir / "index.npz").exists()
    assert sorted(p.name for p in (remote._dir / "index").iterdir()) == [
        "shard-00000.npz", "shard-00001.npz", "sharded.json"]
    reopened = Collection.open(tmp_path / "remote")
    metric = reopened.settings.metric
    for i in (0, 17, 39):
        hits = reopened.query(photos / reopened.records()[i].path, n=5, mode="default").hits
        _, want = ExactIndex(metric).fit(reopened.latents).search(reopened.latents[i:i + 1], 6)
        assert [h.id for h in hits] == [j for j in want[0] if j != i][:5]


def test_sharded_index_lives_on_workers(dask_engine, tmp_path, rng):
    X = rng.integers(0, 3, (900, 10), dtype=np.uint8)
    Q = rng.integers(0, 3, (30, 10), dtype=np.uint8)
    want = ExactIndex().fit(X).search(Q, 15)
    index = ShardedIndex(n_shards=4, engine=dask_engine).fit(X)
    assert all(type(s).__name__ == "Future" for s in index.shards_)
    for got in (index.search(Q, 15),
                ShardedIndex.load_shards(index.save_shards(tmp_path / "shards"), engine=dask_engine)
                .search(Q, 15),
                Index.load(index.save(tmp_path / "one.npz")).search(Q, 15)):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
