"""An open page follows its collection in headless Chromium: after a re-index (ids
shift) a search by a photo shown on the page finds that photo, not the one that took
its id; after ``imsim groups`` the groups and the map's colours are the new ones."""
from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
from PIL import Image

from imsim.collection import Collection
from imsim.web import WebServer, _live, create_app

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                                                             "(pip install -e '.[dev]')")
expect = sync_api.expect
NO_POLL = "window.imsimPollMs = 1e9;"  # the page then learns of a new version from an answer only
FAST_POLL = "window.imsimPollMs = 200;"


@pytest.fixture
def own(photos, tmp_path, monkeypatch):
    """A collection of its own (it is indexed again), served from this process."""
    monkeypatch.setattr(_live, "CHECK_EVERY", 0.0)
    shutil.copytree(photos, tmp_path / "photos")
    with Collection.build(tmp_path / "photos", tmp_path / "coll", size=16, latent_dim=8, n_cached=8,
                          epochs=1, seed=0, labels_from_subdirs=True, progress=False) as coll:
        coll.groups(4, seed=0)
    srv = WebServer(create_app(tmp_path / "coll"), port=0, log_level="warning").start()
    yield tmp_path, srv
    srv.stop()


def _served(srv, version: str) -> None:
    """Wait until the server answers from ``version`` (it loads it in the background)."""
    import httpx

    for _ in range(400):  # a bound on polls: each request lets the server look again
        served = httpx.get(srv.url + "api/health").json()["version"]
        if served == version:
            return
        time.sleep(0.05)
    raise AssertionError(f"the server still serves {served}, not {version}")



def _open(new_page, srv, script):
    """The page of ``srv``, ready, with ``script`` run before the page's own (its polling)."""
    pg = new_page("about:blank", ready=False)
    pg.add_init_script(script)
    pg.goto(srv.url)
    expect(pg.locator("body")).to_have_attribute("data-ready", "true")
    return pg

def test_a_search_from_a_page_opened_before_a_reindex_finds_the_photo_shown(new_page, own):
    root, srv = own
    pg = _open(new_page, srv, NO_POLL)
    pg.click("#tab-browse")
    tiles = pg.locator("#browse .tile")
    expect(tiles).to_have_count(24)
    with Collection.open(root / "coll") as before:
        old = {r.path: i for i, r in enumerate(before.records())}
    target = "fam3/v4.png"
    tile = pg.locator(f"#browse .tile[data-id='{old[target]}']")
    expect(tile.locator(".name")).to_have_text(target)

    # the folder changes under the open page: the first photo goes, one comes: ids shift
    first = min(old, key=old.get)
    (root / "photos" / first).unlink()
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(root / "photos" / "fam3" / "zz-new.png")
    with Collection.index(root / "photos", root / "coll", progress=False) as coll:
        new_version = coll.version
        now = {r.path: i for i, r in enumerate(coll.records())}
        expected = coll.query(now[target], 10, verify=True)
    assert now[target] == old[target] - 1  # the id the page holds is another photo's now
    _served(srv, new_version)

    tile.locator(".thumb").click()  # the tile drawn from the old version
    note = pg.locator("#version-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text(f"Collection updated to version {new_version}")
    expect(pg.locator("#query-desc")).to_have_text(f"{target} (id {now[target]})")
    results = pg.locator("#results .tile")
    expect(results.first).to_have_attribute("data-id", str(expected.ids[0]))
    expect(results.locator(".name")).to_have_text([h.relpath for h in expected])
    expect(pg.locator("#collection-info")).to_contain_text(f"version {new_version}")
    assert f"#id={now[target]}&" in pg.url
    # the Collection tab was reloaded with the new ids
    pg.click("#tab-browse")
    expect(pg.locator("#browse .tile")).to_have_count(24)
    expect(pg.locator(f"#browse .tile[data-id='{now[target]}'] .name")).to_have_text(target)


def test_a_photo_removed_since_is_said_so(new_page, own):
    root, srv = own
    pg = _open(new_page, srv, NO_POLL)
    pg.click("#tab-browse")
    expect(pg.locator("#browse .tile")).to_have_count(24)
    gone = "fam1/v2.png"
    tile = pg.locator("#browse .tile").filter(has_text=gone)
    (root / "photos" / gone).unlink()
    with Collection.index(root / "photos", root / "coll", progress=False) as coll:
        _served(srv, coll.version)
    tile.locator(".thumb").click()
    expect(pg.locator("#status")).to_have_text(f"{gone} is no longer in the collection (version "
                                               f"{coll.version}): pick another image.")
    expect(pg.locator("#results .tile")).to_have_count(0)


def test_new_groups_show_without_a_restart(new_page, own):
    root, srv = own
    pg = _open(new_page, srv, FAST_POLL)
    pg.click("#tab-map")
    expect(pg.locator("#map-legend .chip")).to_have_count(4)
    pg.click("#tab-groups")
    expect(pg.locator("#groups .group")).to_have_count(4)

    with Collection.open(root / "coll") as coll:  # imsim groups -k 2
        groups = coll.groups(2, seed=0)
    expect(pg.locator("#groups .group")).to_have_count(2)
    expect(pg.locator("#version-note")).to_contain_text("Groups updated")
    expect(pg.locator("#groups-status")).to_contain_text("2 groups (kmedoids, k=2)")
    swatches = [c.evaluate("el => getComputedStyle(el).getPropertyValue('--swatch')")
                for c in pg.locator("#groups .group").all()]
    pg.click("#tab-map")
    expect(pg.locator("#map-legend .chip")).to_have_count(2)
    # every point has its new group's colour, the one its group card shows
    colours = pg.evaluate("Array.from(imsimMap.color)")
    order = sorted(groups.groups, key=lambda g: g.index)
    for c, g in enumerate(order):
        assert [i for i, col in enumerate(colours) if col == c] == g.members
    chip_swatches = [c.evaluate("el => getComputedStyle(el).getPropertyValue('--swatch')")
                     for c in pg.locator("#map-legend .chip").all()]
    assert sorted(swatches) == sorted(chip_swatches)


def test_the_map_draws_a_fast_layout_then_swaps_in_the_refined_one(new_page, grouped_collection,
                                                                   monkeypatch):
    import threading

    from imsim.report import map_plots
    from imsim.web import _maps

    release = threading.Event()
    real = map_plots.project_2d

    def slow(X, *, method, seed):
        if method == "tsne":
            assert release.wait(60), "t-SNE was waited for"
        return real(X, method=method, seed=seed)

    monkeypatch.setattr(map_plots, "project_2d", slow)
    monkeypatch.setattr(_maps, "QUICK_MAX", 0)  # 24 images stand for 5,000 here
    monkeypatch.setattr(_maps, "refined_method", lambda n: "tsne")
    srv = WebServer(create_app(grouped_collection), port=0, log_level="warning").start()
    try:
        pg = new_page(srv.url)
        pg.click("#tab-map")
        expect(pg.locator("#map")).to_have_attribute("data-drawn", "true")
        status = pg.locator("#map-status")
        expect(status).to_have_text("24 images, PCA projection, coloured by group. A t-SNE layout, which "
                                    "keeps neighbours closer together, is being computed: it will "
                                    "replace this one.")
        pca = pg.evaluate("Array.from(imsimMap.u)")
        release.set()
        expect(status).to_have_text("24 images, t-SNE projection, coloured by group.")
        refined = pg.evaluate("Array.from(imsimMap.u)")
        want = [x / 65535 for x in real_points(srv, "tsne")]
        assert refined != pca and np.allclose(refined, want, atol=1e-6)
    finally:
        srv.stop()


def real_points(srv, method):
    import httpx

    return httpx.get(srv.url + "api/map/points", params={"method": method}).json()["x"]
