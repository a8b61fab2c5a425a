"""A running server follows its collection: after ``imsim index`` it answers from the new
version, atomically between requests, and closes the old one when its requests end."""
from __future__ import annotations

import shutil
import sqlite3
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from imsim.collection import Collection
from imsim.web import _live, create_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


def _wait_for_version(client, live, version: str) -> dict:
    for _ in range(200):  # a bound on polls, not on time: each poll waits for the reload thread
        live.wait_loaded()
        health = client.get("/api/health").json()
        if health["version"] == version:
            return health
        time.sleep(0.05)
    raise AssertionError(f"the server still serves {health['version']}, not {version}")


@pytest.mark.slow
def test_the_server_switches_to_the_new_version_after_a_reindex(photos, tmp_path, monkeypatch):
    monkeypatch.setattr(_live, "CHECK_EVERY", 0.0)
    shutil.copytree(photos, tmp_path / "photos")
    folder = tmp_path / "photos" / "fam3"
    with Collection.build(tmp_path / "photos", tmp_path / "coll", size=16, latent_dim=8, n_cached=8,
                          epochs=1, seed=0, progress=False) as coll:
        coll.groups(4, seed=0)
        first = coll.version
    app = create_app(tmp_path / "coll")
    live = app.state.live
    with TestClient(app) as c:
        old_view = live.current
        items = {i["relpath"]: i["id"] for i in c.get("/api/images", params={"limit": 100}).json()["items"]}
        assert c.get("/api/groups").status_code == 200
        # the folder changes: one photo deleted, one overwritten, one added
        (folder / "v1.png").unlink()
        Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(folder / "v2.png")
        Image.fromarray(np.full((32, 32, 3), 10, np.uint8)).save(folder / "new.png")
        # before the re-index the old version answers, and never with the new contents
        assert c.get(f"/api/images/{items['fam3/v2.png']}", params={"size": "original"}).status_code == 409
        held = live.acquire()  # a request still in progress on the old version
        with Collection.index(tmp_path / "photos", tmp_path / "coll", progress=False) as coll:
            second = coll.version
        assert second != first
        health = _wait_for_version(c, live, second)
        assert health["n_images"] == len(items) and health["has_groups"] is False
        listed = {i["relpath"] for i in c.get("/api/images", params={"limit": 100}).json()["items"]}
        assert "fam3/v1.png" not in listed and "fam3/new.png" in listed
        new_id = next(i["id"] for i in c.get("/api/images", params={"limit": 100}).json()["items"]
                      if i["relpath"] == "fam3/v2.png")
        r = c.get(f"/api/images/{new_id}", params={"size": "original"})
        assert r.status_code == 200 and r.content == (folder / "v2.png").read_bytes()
        groups = c.get("/api/groups")
        assert groups.status_code == 404 and second in groups.json()["detail"]
        # the held request still reads its version; the version is closed once it ends
        assert held is old_view and held.coll.version == first and len(held.coll.records()) == len(items)
        live.release(held)
        with pytest.raises(sqlite3.ProgrammingError):
            old_view.coll.records()
        assert live.switches == 1
        # searches answer from the new version, as the library does
        with Collection.open(tmp_path / "coll") as ref:
            api = c.post("/api/search", data={"id": str(new_id), "n": "5"}).json()
            assert [h["id"] for h in api["results"]] == ref.query(new_id, 5).ids


def test_a_broken_new_version_keeps_the_old_one(bare_collection, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(_live, "CHECK_EVERY", 0.0)
    coll = tmp_path / "coll"
    shutil.copytree(bare_collection, coll)
    app = create_app(coll)
    with TestClient(app) as c:
        version = c.get("/api/health").json()["version"]
        pointer = coll / "collection.json"
        pointer.write_text(pointer.read_text().replace(version, "v999999"))
        for _ in range(3):
            app.state.live.wait_loaded()
            assert c.get("/api/health").json()["version"] == version
        assert "cannot be opened" in caplog.text and app.state.live.switches == 0


def test_a_server_told_not_to_follow_keeps_its_version(bare_collection, tmp_path, monkeypatch):
    monkeypatch.setattr(_live, "CHECK_EVERY", 0.0)
    shutil.copytree(bare_collection, tmp_path / "coll")
    app = create_app(tmp_path / "coll", follow=False)
    pointer = tmp_path / "coll" / "collection.json"
    pointer.write_text(pointer.read_text().replace('"current"', '"current" ') + "\n")
    with TestClient(app) as c:
        assert c.get("/api/health").status_code == 200
        assert app.state.live.switches == 0 and app.state.live._loading is None


def test_collection_load_loads_everything_queries_use(bare_collection):
    with Collection.open(bare_collection) as coll:
        assert coll.load() is coll
        assert coll._latents is not None and coll._index is not None
        assert coll._model is not None and coll._cache is not None
