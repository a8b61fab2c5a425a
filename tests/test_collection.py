"""imsim.Collection on a generated folder where the answer is known.

Each family is a random 4x4 grid of colours; its members differ by a shift of up to
2 pixels and Gaussian noise, so images of one family are far closer to each other
than to any other family. Images are 48x48 files indexed at 16x16 with a model
trained for 8 epochs (2 left the family test at the mercy of the thread count), so the
whole module runs in seconds.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import imsim
from imsim._validation import DataFormatError
from imsim.collection import Collection
from imsim.distances import topk

pytestmark = pytest.mark.slow  # builds collections: trains a model on generated photos

N_FAMILIES, PER_FAMILY, PX = 6, 5, 48
SETTINGS = dict(size=16, latent_dim=8, n_cached=8, epochs=8, seed=0)


def _variant(base: np.ndarray, rng) -> Image.Image:
    img = np.roll(base, tuple(rng.integers(-2, 3, 2)), axis=(0, 1)) + rng.normal(0, 8, base.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def make_families(root: Path, *, seed: int = 0) -> dict[str, int]:
    """Write the family images into ``root`` and one held-out variant per family
    into ``root.parent / "queries"``; returns {file name: family}."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    (root.parent / "queries").mkdir()
    family = {}
    for f in range(N_FAMILIES):
        base = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((PX // 4, PX // 4, 1)))
        for v in range(PER_FAMILY):
            _variant(base, rng).save(root / f"f{f}_v{v}.png")
            family[f"f{f}_v{v}.png"] = f
        _variant(base, rng).save(root.parent / "queries" / f"f{f}.png")
    return family


def family_of(relpath: str) -> int:
    return int(Path(relpath).name.split("_")[0][1:])


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("families") / "photos"
    make_families(root)
    return root


@pytest.fixture(scope="module")
def coll(photos, tmp_path_factory) -> Collection:
    return Collection.build(photos, tmp_path_factory.mktemp("c") / "coll", progress=False, **SETTINGS)


@pytest.fixture
def own_photos(photos, tmp_path) -> Path:
    """A private copy of the photo folder that a test may change."""
    dest = tmp_path / "photos"
    shutil.copytree(photos, dest)
    return dest


def test_build_layout_and_metadata(coll, photos):
    assert len(coll) == N_FAMILIES * PER_FAMILY
    assert coll.last_index.trained and coll.last_index.encoded == len(coll)
    info = json.loads((coll.path / "collection.json").read_text())
    assert info["format_version"] == 1 and info["current"] == coll.version
    recs = coll.records()
    assert [r.path for r in recs] == sorted(p.name for p in photos.iterdir())
    first = photos / recs[0].path
    import hashlib

    assert recs[0].sha256 == hashlib.sha256(first.read_bytes()).hexdigest()
    assert (recs[0].width, recs[0].height, recs[0].size) == (PX, PX, first.stat().st_size)
    assert coll.latents.shape == (len(coll), 8) and coll.latents.dtype == np.float32


def test_new_image_finds_its_family_first(coll, photos):
    for q in sorted((photos.parent / "queries").iterdir()):
        result = coll.query(q, n=PER_FAMILY)
        assert result.mode == "default" and result.query_id is None
        assert {family_of(h.relpath) for h in result} == {int(q.stem[1:])}, q.name
        assert result.distances == sorted(result.distances)


def test_cache_is_the_exact_neighbour_list(coll):
    X = np.asarray(coll.latents)
    D, I = topk(X, X, 9, "l2")
    ids, dist = coll.neighbors()
    for i in range(len(X)):
        keep = I[i] != i
        np.testing.assert_array_equal(ids[i], I[i][keep][:8])
        np.testing.assert_allclose(dist[i], D[i][keep][:8], rtol=1e-4, atol=1e-5)


def test_cached_and_default_mode_agree(coll, photos):
    for rec in coll.records():
        cached = coll.query(photos / rec.path, n=6)
        fresh = coll.query(photos / rec.path, n=6, mode="default")
        assert cached.mode == "cached" and fresh.mode == "default"
        assert cached.query_id == fresh.query_id and cached.query_id not in cached.ids
        assert cached.ids == fresh.ids
        np.testing.assert_allclose(cached.distances, fresh.distances, rtol=1e-4, atol=1e-5)


def test_query_inputs_metrics_and_threshold(coll, photos):
    path = photos / "f3_v1.png"
    by_path = coll.query(path, n=5)
    assert coll.query(path.read_bytes(), n=5).ids == by_path.ids
    with open(path, "rb") as fh:
        assert coll.query(fh, n=5).ids == by_path.ids
    assert coll.query(by_path.query_id, n=5).ids == by_path.ids
    np.testing.assert_allclose(coll.encode(path), coll.latents[by_path.query_id], rtol=1e-5, atol=1e-6)
    # more results than the cache holds: searched with the stored latent
    deep = coll.query(path, n=12)
    assert deep.mode == "default" and deep.ids[:5] == by_path.ids
    # another metric: an exact search over the latents
    X = np.asarray(coll.latents)
    D, I = topk(X[by_path.query_id:by_path.query_id + 1], X, 6, "cosine")
    cos = coll.query(path, n=5, metric="cosine")
    assert cos.ids == [i for i in I[0] if i != by_path.query_id][:5]
    assert all(abs(h.similarity - (1 - h.distance)) < 1e-6 for h in cos)
    cut = coll.query(path, n=8, threshold=by_path.distances[2])
    assert cut.ids == by_path.ids[:len(cut)] and len(cut) >= 3
    assert all(h.distance <= by_path.distances[2] for h in cut)
    for bad in (-0.1, float("nan"), float("inf")):  # the library's check, not only the CLI's
        with pytest.raises(ValueError, match="threshold must be a distance, a finite number >= 0"):
            coll.query(path, n=5, threshold=bad)


def test_top_level_api_returns_plain_results(coll, photos):
    hits = imsim.Collection.open(coll.path).query(photos / "f0_v0.png", n=3)
    assert len(hits) == 3
    for h in hits:
        assert isinstance(h.id, int) and isinstance(h.distance, float)
        assert Path(h.path).is_file() and Path(h.path).parent == photos.resolve()
    assert json.loads(json.dumps(hits.to_dict()))["results"][0]["rank"] == 1


def test_incremental_equals_fresh_build(coll, own_photos, tmp_path):
    a = Collection.build(own_photos, tmp_path / "a", model=coll.path, progress=False, **_no_train())
    rng = np.random.default_rng(7)
    base = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((PX // 4, PX // 4, 1)))
    _variant(base, rng).save(own_photos / "new_1.png")                 # new
    os.makedirs(own_photos / "sub")
    _variant(base, rng).save(own_photos / "sub" / "new_2.png")          # new, in a sub-folder
    shutil.copy(own_photos / "f0_v0.png", own_photos / "f1_v1.png")   # changed content
    os.remove(own_photos / "f2_v2.png")                                 # deleted
    os.rename(own_photos / "f3_v3.png", own_photos / "moved.png")       # moved: latent reused
    updated = a.update(progress=False)
    r = updated.last_index
    assert (r.new, r.changed, r.deleted, r.encoded, r.trained) == (3, 1, 2, 2, False)
    assert updated.version != a.version
    fresh = Collection.build(own_photos, tmp_path / "fresh", model=coll.path, progress=False,
                             **_no_train())
    assert updated.records() == fresh.records()
    np.testing.assert_allclose(updated.latents, fresh.latents, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(updated.neighbors()[0], fresh.neighbors()[0])
    # the old version stays readable for a reader that still holds it
    assert len(a.query(own_photos / "f0_v0.png", n=3)) == 3


def _no_train() -> dict:
    return {k: v for k, v in SETTINGS.items() if k not in ("epochs",)}


def test_unchanged_folder_keeps_its_version(coll, own_photos, tmp_path):
    a = Collection.build(own_photos, tmp_path / "a", model=coll.path, progress=False, **_no_train())
    again = a.update(progress=False)
    assert again.version == a.version and again.last_index.encoded == 0
    os.utime(own_photos / "f0_v0.png", ns=(1, 10**18))  # touched, same bytes
    touched = again.update(progress=False)
    assert touched.version != a.version and touched.last_index.encoded == 0
    np.testing.assert_array_equal(touched.latents, a.latents)


def test_interrupted_indexing_leaves_the_previous_collection(coll, own_photos, tmp_path, monkeypatch):
    import imsim.collection._write as impl

    a = Collection.build(own_photos, tmp_path / "a", model=coll.path, progress=False, **_no_train())
    expected = a.query(own_photos / "f0_v0.png", n=4).ids
    shutil.copy(own_photos / "f0_v0.png", own_photos / "extra.png")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C half way

    monkeypatch.setattr(impl, "_neighbour_cache", crash)
    with pytest.raises(KeyboardInterrupt):
        a.update(progress=False)
    monkeypatch.undo()
    reopened = Collection.open(tmp_path / "a")
    assert reopened.version == a.version and len(reopened) == len(a)
    assert reopened.query(own_photos / "f0_v0.png", n=4).ids == expected
    assert not [p for p in (tmp_path / "a" / "versions").iterdir() if p.name.startswith(".")]
    # a killed process leaves its staging folder behind: readers ignore it, the next writer removes it
    (tmp_path / "a" / "versions" / ".building-killed").mkdir()
    assert Collection.open(tmp_path / "a").version == a.version
    done = reopened.update(progress=False)
    assert len(done) == len(a) + 1
    assert not (tmp_path / "a" / "versions" / ".building-killed").exists()


def test_corrupt_images_are_skipped_and_reported(coll, own_photos, tmp_path):
    (own_photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    data = (own_photos / "f0_v0.png").read_bytes()
    (own_photos / "truncated.png").write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning) as warned:
        c = Collection.build(own_photos, tmp_path / "c", model=coll.path, progress=False,
                             **_no_train())
    assert sorted(str(w.message).split(":")[0] for w in warned) == [
        "skipping broken.jpg", "skipping truncated.png"]
    assert len(c) == N_FAMILIES * PER_FAMILY
    assert [p for p, _ in c.last_index.skipped] == ["broken.jpg", "truncated.png"]
    assert c.skipped() == c.last_index.skipped and all(reason for _, reason in c.skipped())
    assert "broken.jpg" not in {r.path for r in c.records()}
    # an unchanged bad file is not read again, but still reported
    with pytest.warns(UserWarning):
        again = c.update(progress=False)
    assert again.version == c.version and len(again.skipped()) == 2
    with pytest.raises(ValueError, match="cannot read image .*broken.jpg: "):
        c.query(own_photos / "broken.jpg")
    with pytest.raises(ValueError, match=r"cannot read image <6 bytes>: not an image"):
        c.query(b"broken")


def test_other_format_version_is_refused(coll, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(coll.path, copy)
    info = json.loads((copy / "collection.json").read_text())
    info.update(format_version=99, imsim_version="9.0")
    (copy / "collection.json").write_text(json.dumps(info))
    with pytest.raises(DataFormatError, match=r"format version 99 \(written by imsim 9.0\)"):
        Collection.open(copy)
    with pytest.raises(FileNotFoundError, match="not an imsim collection"):
        Collection.open(tmp_path)


def test_settings_change_needs_retrain(coll, photos, tmp_path):
    (tmp_path / "x.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an imsim collection"):
        Collection.build(photos, tmp_path, progress=False, **SETTINGS)
    with pytest.raises(ValueError, match=r"latent_dim=8 \(asked 4\).*--retrain"):
        Collection.index(photos, coll.path, latent_dim=4, progress=False)
    with pytest.raises(ValueError, match="multiple of 4"):
        Collection.build(photos, tmp_path / "new", size=30, progress=False)


def test_groups_auto_recovers_the_families_and_exports(coll, tmp_path):
    groups = coll.groups("auto", method="kmedoids", k_range=range(2, 12))
    assert groups.elbow["knee"] == groups.k == N_FAMILIES and len(groups.elbow["cost"]) == 10
    recs = coll.records()
    for g in groups.groups:
        assert len({family_of(recs[i].path) for i in g.members}) == 1
        assert g.representative in g.members
    assert sorted(i for g in groups.groups for i in g.members) == list(range(len(coll)))
    assert coll.load_groups().to_dict() == groups.to_dict()
    # a range that ends before the families does not bend: said, not guessed
    with pytest.raises(ValueError, match=r"no knee.*k=2\.\.4"):
        coll.groups("auto", k_range=range(2, 5), save=False)

    out = coll.export_groups(groups, tmp_path / "links")
    for g in groups.groups:
        folder = out / f"group_{g.index:02d}"
        names = sorted(p.name for p in folder.iterdir())
        assert names == sorted(recs[i].path for i in g.members)
        assert all((folder / n).is_symlink() and (folder / n).resolve() == Path(groups.paths[i]).resolve()
                   for n, i in zip(names, g.members))
    copies = coll.export_groups(groups, tmp_path / "copies", copy=True)
    first = groups.groups[0].members[0]
    copied = copies / "group_00" / recs[first].path
    assert not copied.is_symlink() and copied.read_bytes() == Path(groups.paths[first]).read_bytes()
    with pytest.raises(FileExistsError, match="not empty"):
        coll.export_groups(groups, tmp_path / "links")


def test_groups_kmedians_match_the_estimator(coll):
    from imsim.cluster import KMedians

    X = np.asarray(coll.latents)
    groups = coll.groups(4, method="kmedians", seed=3, save=False)
    ref = KMedians(4, n_init=3, random_state=3).fit(X)
    assert sorted(sorted(g.members) for g in groups.groups) == sorted(
        np.flatnonzero(ref.labels_ == c).tolist() for c in range(4))
    assert [g.size for g in groups.groups] == sorted((g.size for g in groups.groups), reverse=True)
    for g in groups.groups:
        l1 = np.abs(X[g.members] - np.asarray(g.centre, dtype=np.float32)).sum(axis=1)
        assert g.representative == g.members[int(l1.argmin())]


def test_labels_from_subfolders_and_map(coll, photos, tmp_path):
    from imsim.report.map_plots import collection_map

    tree = tmp_path / "tree"
    for p in photos.iterdir():
        (tree / f"family{family_of(p.name)}").mkdir(parents=True, exist_ok=True)
        shutil.copy(p, tree / f"family{family_of(p.name)}" / p.name)
    c = Collection.build(tree, tmp_path / "c", model=coll.path, labels_from_subdirs=True,
                         progress=False, **_no_train())
    assert {r.label for r in c.records()} == {f"family{f}" for f in range(N_FAMILIES)}
    assert c.query(tree / "family2" / "f2_v0.png", n=1)[0].label == "family2"
    info = collection_map(c, tmp_path / "map.png", method="pca", n_thumbnails=5)
    assert info["color_by"] == "label" and info["n_thumbnails"] == 5
    assert Image.open(tmp_path / "map.png").format == "PNG"


def test_merge_training_keeps_what_is_not_given_and_leaves_the_record_alone():
    from imsim.collection._model import merge_training

    recorded = {"epochs": 8, "seed": 3, "encoder": "autoencoder"}
    assert merge_training(recorded, epochs=None, seed=5) == {"epochs": 8, "seed": 5,
                                                             "encoder": "autoencoder"}
    assert merge_training(recorded, encoder="features", steps=None) == {
        "epochs": 8, "seed": 3, "encoder": "features"}
    assert recorded == {"epochs": 8, "seed": 3, "encoder": "autoencoder"}
    assert merge_training(None, epochs=None, seed=None) == {}
    assert merge_training(epochs=2, seed=0) == {"epochs": 2, "seed": 0}  # 0 is a seed, not None
