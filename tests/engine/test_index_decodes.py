"""A build decodes each new photo once for its vector, on either engine (the
Dask path decoded each photo in the scan and again on a worker). Every such decode goes
through ``imsim.collection._scan.decode_photo``, counted per file here and on each
worker (tests/_decodes.py)."""
from collections import Counter

import numpy as np
import pytest
from PIL import Image

import _decodes
from imsim.collection import Collection
from imsim.collection._scan import scan

SETTINGS = dict(size=16, n_cached=4, encoder="thumbnail", progress=False)


def _photos(root, rng, n=12):
    """``n`` small JPEGs and PNGs in two folders, and a JPEG whose header is intact but
    whose pixels are cut off (the header reads, the decode fails)."""
    (root / "sub").mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(
            root / ("sub" if i % 2 else ".") / f"p{i:02d}.{'png' if i % 3 == 0 else 'jpg'}")
    whole = (root / "sub" / "p01.jpg").read_bytes()
    (root / "cut.jpg").write_bytes(whole[:len(whole) // 2])
    return root


def _names(root):
    return sorted(p.name for p in root.rglob("*") if p.is_file())


@pytest.fixture
def counted(monkeypatch):
    _decodes.install()
    yield _decodes.counts
    _decodes.uninstall()


def test_the_scan_decodes_each_file_once_or_reads_headers_only(tmp_path, rng, counted):
    root = _photos(tmp_path / "photos", rng)
    full = scan(root, size=8, color=True, workers=2)
    assert counted() == {name: 1 for name in _names(root)}
    _decodes.install()  # counts from zero
    headers = scan(root, size=8, color=True, workers=2, decode=False)
    assert counted() == {}
    assert len(headers.pixels) == 0 and len(full.pixels) == len(full.records) == 12
    # header sizes equal the decoded ones; the cut file is caught only by a decode
    assert [(r.path, r.width, r.height) for r in headers.records] == [
        ("cut.jpg", 40, 30)] + [(r.path, r.width, r.height) for r in full.records]
    assert [s.path for s in full.skipped] == ["cut.jpg"] and "truncated" in full.skipped[0].reason


@pytest.mark.slow  # three builds
def test_a_local_build_and_update_decode_each_new_photo_once(tmp_path, rng, counted):
    root = _photos(tmp_path / "photos", rng)
    with pytest.warns(UserWarning, match="cut.jpg"):
        first = Collection.build(root, tmp_path / "c", **SETTINGS)
    assert counted() == {name: 1 for name in _names(root)}
    _decodes.install()
    with pytest.warns(UserWarning, match="cut.jpg"):
        Collection.build(root, tmp_path / "m", model=first.path, **SETTINGS)
    assert counted() == {name: 1 for name in _names(root)}
    _decodes.install()
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(root / "new.png")
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(root / "p00.png")
    with pytest.warns(UserWarning, match="cut.jpg"):  # still skipped, not read again
        first.update(progress=False)
    assert counted() == {"new.png": 1, "p00.png": 1}  # the cut file is remembered as skipped


def _worker_counts(engine) -> Counter:
    total = Counter()
    for per_worker in engine.client.run(_decodes.counts).values():
        total.update(per_worker)
    return total


@pytest.mark.slow  # a Dask LocalCluster
def test_a_dask_build_decodes_each_new_photo_once_and_skips_as_local(dask_engine, tmp_path, rng,
                                                                     counted):
    root = _photos(tmp_path / "photos", rng)
    with pytest.warns(UserWarning, match="cut.jpg"):
        local = Collection.build(root, tmp_path / "local", **SETTINGS)
    dask_engine.client.run(_decodes.install)
    try:
        for trained in (False, True):
            _decodes.install()
            dask_engine.client.run(_decodes.install)
            with pytest.warns(UserWarning, match="cut.jpg"):
                remote = Collection.build(root, tmp_path / f"remote{trained}", engine=dask_engine,
                                          **({} if trained else {"model": local.path}), **SETTINGS)
            here, there = Counter(counted()), _worker_counts(dask_engine)
            # fitting the encoder needs the photos here, and they are sent to the workers;
            # with a model, the scan reads headers and each worker decodes its files
            assert here + there == Counter({name: 1 for name in _names(root)}), (trained, here, there)
            assert (here if trained else there) == Counter({name: 1 for name in _names(root)})
            assert [(r.path, r.sha256, r.width, r.height) for r in remote.records()] == [
                (r.path, r.sha256, r.width, r.height) for r in local.records()]
            assert remote.skipped() == local.skipped()
            np.testing.assert_allclose(remote.latents, local.latents, atol=1e-5, rtol=0)
            report = remote.last_index
            assert (report.new, report.encoded, len(report.skipped)) == (12, 12, 1)
        # an update: only the changed and the new file are decoded, once, on a worker
        _decodes.install()
        dask_engine.client.run(_decodes.install)
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(root / "new.png")
        Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(root / "p00.png")
        (root / "sub" / "p05.jpg").write_bytes((root / "cut.jpg").read_bytes())  # now cut too
        with pytest.warns(UserWarning) as caught:
            updated = remote.update(progress=False, engine=dask_engine)
        assert sorted(str(w.message).split(":")[0] for w in caught) == [
            "skipping cut.jpg", "skipping sub/p05.jpg"]
        assert counted() == {} and _worker_counts(dask_engine) == {"new.png": 1, "p00.png": 1,
                                                                   "p05.jpg": 1}
        report = updated.last_index
        assert (report.new, report.changed, report.deleted, report.encoded) == (1, 1, 1, 2)
        assert [s for s, _ in report.skipped] == ["cut.jpg", "sub/p05.jpg"]
        with pytest.warns(UserWarning) as caught:
            fresh = Collection.build(root, tmp_path / "fresh", model=local.path, **SETTINGS)
        assert [r.path for r in updated.records()] == [r.path for r in fresh.records()]
        np.testing.assert_allclose(updated.latents, fresh.latents, atol=1e-5, rtol=0)
        # the only changed file fails on its worker: nothing is encoded, the rest is kept
        (root / "new.png").write_bytes((root / "cut.jpg").read_bytes())  # its header reads
        dask_engine.client.run(_decodes.install)
        with pytest.warns(UserWarning):
            again = updated.update(progress=False, engine=dask_engine)
        assert _worker_counts(dask_engine) == {"new.png": 1}
        report = again.last_index
        assert (report.changed, report.deleted, report.encoded, len(report.skipped)) == (0, 1, 0, 3)
        np.testing.assert_array_equal(again.latents, np.delete(np.asarray(updated.latents), [
            r.path for r in updated.records()].index("new.png"), axis=0))
    finally:
        dask_engine.client.run(_decodes.uninstall)
