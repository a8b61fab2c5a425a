"""Ids belong to a version: answers name it, stale requests are refused with fields (409),
photos are found again by path, new groups are read without a restart, commands in
messages name the collection's path, and the map answers a fast layout first."""
from __future__ import annotations

import shlex
import shutil
import threading
import warnings

import numpy as np
import pytest
from PIL import Image

from imsim.collection import Collection
from imsim.web import _live, _maps, create_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


@pytest.fixture
def reindexed(photos, tmp_path, monkeypatch):
    """(client, root, first version): a served collection whose folder is then indexed again."""
    monkeypatch.setattr(_live, "CHECK_EVERY", 0.0)
    shutil.copytree(photos, tmp_path / "photos")
    with Collection.build(tmp_path / "photos", tmp_path / "coll", size=16, latent_dim=8, n_cached=8,
                          epochs=1, seed=0, labels_from_subdirs=True, progress=False) as coll:
        coll.groups(4, seed=0)
        first = coll.version
    app = create_app(tmp_path / "coll")
    with TestClient(app) as c:
        yield c, tmp_path, first, app.state.live


def _new_version(c, root, live) -> tuple[str, dict]:
    first = min((root / "photos").rglob("*.png"))
    first.unlink()
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(root / "photos" / "fam3" / "zz.png")
    with Collection.index(root / "photos", root / "coll", progress=False) as coll:
        version, paths = coll.version, {r.path: i for i, r in enumerate(coll.records())}
    for _ in range(200):
        live.wait_loaded()
        if c.get("/api/health").json()["version"] == version:
            return version, paths
    raise AssertionError("the server did not switch")


def test_answers_with_ids_name_their_version(reindexed):
    c, root, first, _ = reindexed
    assert c.get("/api/health").json()["version"] == first
    assert c.post("/api/search", data={"id": "3", "n": "3"}).json()["version"] == first
    assert c.get("/api/images").json()["version"] == first
    groups = c.get("/api/groups").json()
    assert groups["version"] == first and groups["groups_id"]
    assert c.get("/api/health").json()["groups_id"] == groups["groups_id"]
    listing = c.get("/api/images", params={"group": 0, "groups_id": groups["groups_id"]}).json()
    assert listing["version"] == first and listing["groups_id"] == groups["groups_id"]
    points = c.get("/api/map/points", params={"method": "pca"}).json()
    assert points["version"] == first and points["groups_id"] == groups["groups_id"]
    assert c.get("/api/duplicates").json()["version"] == first
    found = c.get("/api/lookup", params={"relpath": "fam2/v3.png"}).json()
    assert found["version"] == first and c.get("/api/images").json()["items"][found["id"]]["relpath"] \
        == "fam2/v3.png"


def test_a_stale_id_is_refused_with_fields_never_answered_with_another_photo(reindexed):
    c, root, first, live = reindexed
    old = {i["relpath"]: i for i in c.get("/api/images", params={"limit": 100}).json()["items"]}
    target = old["fam3/v4.png"]
    assert c.post("/api/search", data={"id": str(target["id"]), "version": first}).status_code == 200
    version, now = _new_version(c, root, live)
    assert now["fam3/v4.png"] == target["id"] - 1  # the old id is another photo's now

    r = c.post("/api/search", data={"id": str(target["id"]), "n": "3", "version": first})
    assert r.status_code == 409
    body = r.json()
    assert body["error"] == "version_changed" and body["version"] == first
    assert body["current_version"] == version and body["n_images"] == len(now)
    assert version in body["detail"]
    for url, params in ((f"/api/images/{target['id']}", {"version": first}),
                        (f"/api/images/{target['id']}", {"version": first, "size": "original"}),
                        ("/api/images", {"version": first})):
        r = c.get(url, params=params)
        assert r.status_code == 409 and r.json()["error"] == "version_changed", url
    # the thumbnail URL of the old listing names the old photo's content: not served as the new one
    r = c.get(target["thumbnail_url"])
    assert r.status_code == 409 and r.json()["error"] == "image_changed"
    # found again by its path, in the new version
    found = c.get("/api/lookup", params={"relpath": "fam3/v4.png"}).json()
    assert found == {"version": version, "id": now["fam3/v4.png"], "relpath": "fam3/v4.png"}
    r = c.post("/api/search", data={"id": str(found["id"]), "n": "3", "version": version})
    assert r.status_code == 200 and r.json()["query"]["relpath"] == "fam3/v4.png"
    gone = min(old)
    r = c.get("/api/lookup", params={"relpath": gone})
    assert r.status_code == 404 and gone in r.json()["detail"]


def test_new_groups_are_read_without_a_restart(reindexed):
    c, root, first, _ = reindexed
    before = c.get("/api/groups").json()
    points = c.get("/api/map/points", params={"method": "pca"}).json()
    assert len(points["legend"]) == 4
    with Collection.open(root / "coll") as coll:  # imsim groups -k 2, the server running
        groups = coll.groups(2, seed=0)
    after = c.get("/api/groups").json()
    assert after["k"] == 2 and after["groups_id"] != before["groups_id"]
    assert c.get("/api/health").json()["groups_id"] == after["groups_id"]
    recoloured = c.get("/api/map/points", params={"method": "pca"}).json()
    assert [e["name"] for e in recoloured["legend"]] == ["group 0", "group 1"]
    for k, g in enumerate(sorted(groups.groups, key=lambda g: g.index)):
        assert [i for i, col in enumerate(recoloured["color"]) if col == k] == g.members
    assert recoloured["x"] == points["x"]  # the same layout, new colours
    # a group number read from the old groups is refused, not answered with another group
    r = c.get("/api/images", params={"group": 1, "groups_id": before["groups_id"]})
    assert r.status_code == 409
    assert r.json()["error"] == "groups_changed" and r.json()["current_groups_id"] == after["groups_id"]
    assert c.get("/api/images", params={"group": 1, "groups_id": after["groups_id"]}).json()["total"] \
        == groups.groups[1].size


def test_commands_in_messages_name_the_collections_path(bare_collection, tmp_path):
    path = tmp_path / "my photos" / "it's here"
    shutil.copytree(bare_collection, path)
    with TestClient(create_app(path), client=("127.0.0.1", 50000)) as c:
        health = c.get("/api/health").json()
        assert health["collection_path"] == str(path.absolute())
        detail = c.get("/api/groups").json()["detail"]
    with TestClient(create_app(path), client=("192.0.2.7", 50000)) as c:  # another machine
        assert c.get("/api/health").json()["collection_path"] is None
    command = detail.split("`")[1]
    assert shlex.split(command) == ["imsim", "groups", "-c", str(path.absolute())]


def test_the_map_answers_a_fast_layout_first_and_refines_in_the_background(grouped_collection,
                                                                          monkeypatch):
    from imsim.report import map_plots

    release = threading.Event()
    real = map_plots.project_2d

    def slow(X, *, method, seed):
        if method == "tsne":
            assert release.wait(30), "t-SNE was waited for"
        return real(X, method=method, seed=seed)

    monkeypatch.setattr(map_plots, "project_2d", slow)
    monkeypatch.setattr(_maps, "QUICK_MAX", 0)  # "a large collection": 24 images here
    monkeypatch.setattr(_maps, "refined_method", lambda n: "tsne")
    with TestClient(create_app(grouped_collection)) as c:
        first = c.get("/api/map/points").json()  # answered while t-SNE is held
        assert first["method"] == "pca" and first["refining"] is True
        assert first["refined_method"] == "tsne" and len(first["x"]) == first["n"] == 24
        assert c.get("/api/map/points", params={"refined": True}).json() == {
            "version": first["version"], "refining": True, "failed": None}
        release.set()
        for _ in range(600):
            refined = c.get("/api/map/points", params={"refined": True}).json()
            if not refined["refining"]:
                break
            threading.Event().wait(0.05)
        assert refined["method"] == "tsne" and refined["refining"] is False
        assert refined["color"] == first["color"] and refined["relpaths"] == first["relpaths"]
        assert refined["x"] != first["x"]
        assert c.get("/api/map/points").json() == refined  # kept: the page's next visit


def test_the_fast_layout_is_the_pca_of_the_library_up_to_signs():
    from imsim.report.map_plots import project_2d

    X = np.random.default_rng(1).normal(size=(700, 12)) * np.linspace(4, 0.2, 12)
    ours = _maps.pca_2d(X.astype(np.float32))
    ref, _ = project_2d(X.astype(np.float32), method="pca", seed=0)
    for k in range(2):
        sign = np.sign(ours[:, k] @ ref[:, k])
        np.testing.assert_allclose(ours[:, k], sign * ref[:, k], atol=1e-3 * np.abs(ref).max())
    flat = _maps.pca_2d(np.arange(10, dtype=np.float32)[:, None])  # one latent dimension
    assert flat.shape == (10, 2) and not flat[:, 1].any()
