"""Tiles in headless Chromium: square whatever the picture's shape, on a checkerboard,
names shortened in the middle; the Duplicates tab's tier badges; the upload advice's
command with a quoted path; the first result above the fold on a phone."""
from __future__ import annotations

import base64
import io
import shlex
import shutil

import numpy as np
import pytest
from PIL import Image, ImageDraw

from imsim.collection import Collection
from imsim.web import WebServer, _views, create_app

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                                                             "(pip install -e '.[dev]')")
expect = sync_api.expect
ICON = "16x16/actions/application-exit.png"


def _shapes(root):
    rng = np.random.default_rng(3)
    (root / "16x16" / "actions").mkdir(parents=True)
    (root / "photos").mkdir()
    (root / "drawings").mkdir()
    (root / "icons").mkdir()
    portrait = rng.integers(0, 256, (216 // 8, 162 // 8, 3)).repeat(8, 0).repeat(8, 1)
    Image.fromarray(portrait.astype(np.uint8)).save(root / "photos" / "portrait.jpg")  # 162 x 216
    tall = Image.new("RGB", (100, 1100), "white")
    ImageDraw.Draw(tall).line([(50, 0), (50, 1100)], fill="black", width=9)
    tall.save(root / "drawings" / "tall.png")
    ghost = Image.new("RGBA", (64, 64), (0, 0, 0, 0))  # white on transparent
    ImageDraw.Draw(ghost).ellipse([12, 8, 52, 60], fill=(255, 255, 255, 255))
    ghost.save(root / "icons" / "ghost.png")
    icon = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    ImageDraw.Draw(icon).rectangle([3, 3, 12, 12], fill=(200, 30, 30, 255))
    icon.save(root / ICON)
    for k in range(4):
        square = rng.integers(0, 256, (4, 4, 3)).repeat(8, 0).repeat(8, 1)
        Image.fromarray(square.astype(np.uint8)).save(root / "photos" / f"square{k}.png")


@pytest.fixture(scope="module")
def shapes_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    _shapes(root / "photos")
    Collection.build(root / "photos", root / "coll", size=16, latent_dim=8, n_cached=4, epochs=1,
                     seed=0, progress=False).close()
    srv = WebServer(create_app(root / "coll"), port=0, log_level="warning").start()
    yield srv
    srv.stop()


def test_tiles_are_square_on_a_checkerboard_with_names_cut_in_the_middle(new_page, shapes_server):
    pg = new_page(shapes_server.url)
    pg.click("#tab-browse")
    tiles = pg.locator("#browse .tile")
    expect(tiles).to_have_count(8)
    for t in tiles.all():
        expect(t.locator("img")).to_have_js_property("complete", True)
    boxes = pg.evaluate("""() => [...document.querySelectorAll('#browse .tile')].map(t => {
        const b = t.querySelector('.thumb').getBoundingClientRect();
        const f = t.getBoundingClientRect();
        return {w: b.width, h: b.height, tile: f.height, name: t.querySelector('.name').textContent};
    })""")
    width = boxes[0]["w"]
    for b in boxes:  # the portrait photo and the 1,100 px tall drawing too
        assert abs(b["w"] - b["h"]) < 0.5 and abs(b["w"] - width) < 0.5, b
    # no picture stretches its row: the row is as tall as a square and a caption
    assert max(b["tile"] for b in boxes) < width + 80, boxes
    # behind the pictures: a checkerboard, not white
    bg = pg.locator("#browse .thumb").first.evaluate("el => getComputedStyle(el).backgroundImage")
    assert "conic-gradient" in bg, bg
    # the white ghost on a transparent background is seen: its tile shows the file itself
    # (a thumbnail is composited on white), so the checkerboard shows around the ghost
    ghost = pg.locator("#browse .tile").filter(has_text="icons/ghost.png").locator(".thumb")
    src = ghost.locator("img").get_attribute("src")
    assert src.startswith("data:image/png;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).mode == "RGBA"
    shot = np.asarray(Image.open(io.BytesIO(ghost.screenshot())).convert("L"), dtype=np.int64)
    h, w = shot.shape
    corner, middle = shot[: h // 10, : w // 10], shot[2 * h // 5: 3 * h // 5, 2 * w // 5: 3 * w // 5]
    assert corner.min() < 240 and corner.max() - corner.min() > 5  # the checkerboard
    assert middle.min() >= 250  # the ghost, white
    # the icon's long name keeps its file name: shortened in the middle, whole in the title
    name = pg.locator(f"#browse .tile .name[title^='{ICON} ']")
    expect(name).to_have_text(ICON)
    short = name.get_attribute("data-short").replace("\u200b", "")  # breaks after each "/"
    assert short == "16x16/…/application-exit.png", short
    assert name.evaluate("el => el.scrollWidth <= el.clientWidth")
    assert name.evaluate("el => el.getBoundingClientRect().height") < 3 * 16  # two lines at most


def test_duplicate_groups_show_their_tier(new_page, shapes_server, monkeypatch):
    def fake(coll, threshold):
        rel = [r.path for r in coll.records()]
        return {"version": coll.version, "threshold": 0.5, "metric": "l2",
                "groups": [{"ids": [0, 1], "relpaths": rel[:2], "tier": "identical", "similarity": 1.0},
                           {"ids": [2, 3], "relpaths": rel[2:4], "tier": "same pixels",
                            "similarity": 1.0},
                           {"ids": [4, 5, 6], "relpaths": rel[4:7], "tier": "near", "similarity": 0.9312},
                           {"ids": [6, 7], "relpaths": rel[6:8]},  # a library without tiers
                           {"ids": [0, 7], "relpaths": [rel[0], rel[7]], "tier": "mirrored",
                            "similarity": 0.951}],
                "pairs": [{"a": 0, "b": 1, "tier": "identical", "similarity": 1.0}]}

    monkeypatch.setattr(_views, "duplicates", fake)
    pg = new_page(shapes_server.url)
    pg.click("#tab-dups")
    heads = pg.locator("#dups .dup-group h3")
    expect(heads).to_have_count(5)
    expect(heads.nth(0).locator(".tier")).to_have_text("identical")
    expect(heads.nth(1).locator(".tier")).to_have_text("same pixels")
    expect(heads.nth(2).locator(".tier")).to_have_text("near · 0.93")
    assert "93.1% alike" in heads.nth(2).locator(".tier").get_attribute("title")
    expect(heads.nth(3)).to_have_text("4. 2 images")
    expect(heads.nth(3).locator(".tier")).to_have_count(0)
    expect(heads.nth(4).locator(".tier")).to_have_text("mirrored · 0.95")
    assert "mirror images" in heads.nth(4).locator(".tier").get_attribute("title")
    colours = heads.locator(".tier").evaluate_all("bs => bs.map(b => getComputedStyle(b).backgroundColor)")
    assert len(set(colours)) == 4  # each tier its own colour
    expect(pg.locator("#dups .dup-group").nth(2).locator(".tile")).to_have_count(3)


def test_no_duplicates_says_how_many_candidates_were_checked(new_page, shapes_server, monkeypatch):
    def fake(coll, threshold):
        return {"version": coll.version, "threshold": 1.35, "metric": "l2", "verified": True,
                "checked": 1234, "groups": [], "pairs": []}

    monkeypatch.setattr(_views, "duplicates", fake)
    pg = new_page(shapes_server.url)
    pg.click("#tab-dups")
    # a threshold no other test asked for: the server caches each threshold's answer
    pg.fill("#dups-threshold", "1.351")
    pg.click("#dups-form button")
    status = pg.locator("#dups-status")
    expect(status).to_contain_text("No duplicates: none of the 1,234 candidate pairs within l2 "
                                   "distance 1.35 shows one picture. Raise the distance")
    expect(pg.locator("#dups .dup-group")).to_have_count(0)


def test_the_upload_advice_is_a_command_that_runs(new_page, bare_collection, tmp_path):
    path = tmp_path / "my photos" / "it's here"
    shutil.copytree(bare_collection, path)
    srv = WebServer(create_app(path, max_upload_mb=0.01), port=0, log_level="warning").start()
    try:
        big = tmp_path / "big.png"
        big.write_bytes(np.random.default_rng(0).bytes(30_000))
        pg = new_page(srv.url)
        pg.set_input_files("#file", str(big))
        code = pg.locator("#status code")
        expect(code).to_contain_text("--max-upload-mb")
        assert shlex.split(code.text_content()) == ["imsim", "serve", "-c", str(path.absolute()),
                                                    "--max-upload-mb", "1"]
    finally:
        srv.stop()


def test_the_first_result_is_above_the_fold_on_a_phone(new_page, server):
    pg = new_page(server.url + "#id=3&n=10&metric=l2", viewport={"width": 390, "height": 844},
                  device_scale_factor=3, is_mobile=True, has_touch=True)
    first = pg.locator("#results .tile").first
    expect(first).to_be_visible()
    top, thumb_bottom = first.evaluate("el => [el.getBoundingClientRect().top, "
                                       "el.querySelector('.thumb').getBoundingClientRect().bottom]")
    assert top < 844 and thumb_bottom <= 844, (top, thumb_bottom)
