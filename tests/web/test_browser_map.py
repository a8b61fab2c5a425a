"""The latent map in headless Chromium: hover, click, zoom, pan, box selection, legend.

Positions are checked against the points the API serves (compared with the library
in test_api.py) and the map's own view transform; the selection against a brute-force
box test over every point; the exported list against the collection's file names.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                                                             "(pip install -e '.[dev]')")
expect = sync_api.expect


@pytest.fixture
def map_page(page):
    page.click("#tab-map")
    expect(page.locator("#map")).to_have_attribute("data-drawn", "true", timeout=60_000)
    return page


def screen_points(page) -> np.ndarray:
    """Every point's position on the page (CSS px), from the map's view transform."""
    box = page.locator("#map .map-over").bounding_box()
    xy = page.evaluate("() => Array.from({length: imsimMap.n}, (_, i) => imsimMap.toScreen(i))")
    return np.asarray(xy) + [box["x"], box["y"]]


def isolated_point(xy: np.ndarray) -> int:
    """The point farthest from all others: a hover there can only pick it."""
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return int(d.min(axis=1).argmax())


def test_points_match_the_api_and_fill_the_view(map_page, ref, server):
    import httpx

    data = httpx.get(server.url + "api/map/points").json()
    n = map_page.evaluate("imsimMap.n")
    assert n == len(ref) == data["n"]
    xy = screen_points(map_page)
    box = map_page.locator("#map .map-over").bounding_box()
    assert (xy[:, 0] >= box["x"]).all() and (xy[:, 0] <= box["x"] + box["width"]).all()
    assert (xy[:, 1] >= box["y"]).all() and (xy[:, 1] <= box["y"] + box["height"]).all()
    # the same shape as the served coordinates (y drawn upwards), one scale on both axes
    q = np.column_stack([data["x"], -np.asarray(data["y"])]).astype(float)
    k = (xy[:, 0].max() - xy[:, 0].min()) / (q[:, 0].max() - q[:, 0].min())
    np.testing.assert_allclose(xy - xy.mean(axis=0), (q - q.mean(axis=0)) * k, atol=0.5)
    # the legend names the groups, with their sizes
    legend = map_page.locator("#map-legend .chip")
    groups = sorted(ref.load_groups().groups, key=lambda g: g.index)
    expect(legend).to_have_text([f"group {g.index} ({g.size})" for g in groups])
    expect(map_page.locator("#map-status")).to_contain_text(f"{len(ref)} images")


def test_hover_shows_the_thumbnail_and_full_name_then_click_searches(map_page, ref):
    xy = screen_points(map_page)
    i = isolated_point(xy)
    records = ref.records()
    map_page.mouse.move(*xy[i])
    tip = map_page.locator("#map .map-tip")
    expect(tip).to_be_visible()
    expect(tip).to_have_attribute("data-id", str(i))
    expect(tip.locator(".tip-name")).to_have_text(records[i].path)
    expect(tip.locator("img")).to_have_js_property("complete", True)
    assert tip.locator("img").evaluate("el => el.naturalWidth") > 0
    group = next(g for g in ref.load_groups().groups if i in g.members)
    expect(tip.locator(".tip-group")).to_have_text(f"group {group.index}")
    hover = map_page.evaluate("imsimPerf.map.hover")
    assert hover and all(t >= 0 for t in hover)  # timed by the page (benchmarks/page.py reports it)
    # off every point: the tip goes away
    far = xy.min(axis=0) - 8
    map_page.mouse.move(*far)
    expect(tip).to_be_hidden()

    map_page.mouse.click(*xy[i])
    expect(map_page).to_have_url(re.compile(rf"#id={i}&"))
    expect(map_page.locator("#results .tile")).to_have_count(10)
    assert [int(t.get_attribute("data-id")) for t in map_page.locator("#results .tile").all()] \
        == ref.query(i, 10, verify=True).ids


def test_wheel_zooms_about_the_cursor_and_drag_pans(map_page):
    xy = screen_points(map_page)
    i = isolated_point(xy)
    scale = map_page.evaluate("imsimMap.scale")
    map_page.mouse.move(*np.round(xy[i]))  # whole CSS pixels: what the events carry
    map_page.mouse.wheel(0, -200)
    expect_scale = scale * math.exp(200 * 0.0015)
    map_page.wait_for_function(f"Math.abs(imsimMap.scale - {expect_scale}) < 1e-6 * {expect_scale}")
    after = screen_points(map_page)
    # the point under the cursor stays (events carry whole CSS pixels: within half of one)
    np.testing.assert_allclose(after[i], xy[i], atol=0.5 * (math.exp(0.3) - 1) + 0.01)
    spread = np.ptp(after, axis=0) / np.ptp(xy, axis=0)
    np.testing.assert_allclose(spread, math.exp(0.3), rtol=1e-6)

    # drag from an empty spot: everything moves by the drag
    box = map_page.locator("#map .map-over").bounding_box()
    start = (box["x"] + 3, box["y"] + 3)
    map_page.mouse.move(*start)
    map_page.mouse.down()
    map_page.mouse.move(start[0] + 40, start[1] + 25, steps=5)
    map_page.mouse.up()
    moved = screen_points(map_page)
    np.testing.assert_allclose(moved - after, np.broadcast_to([40, 25], after.shape), atol=1)
    expect(map_page).not_to_have_url(re.compile("#id="))  # a drag is not a click

    map_page.click("#map-reset")
    map_page.wait_for_function(f"Math.abs(imsimMap.scale - {scale}) < 1e-9 * {scale}")
    np.testing.assert_allclose(screen_points(map_page), xy, atol=0.01)
    map_page.click("#map-zoom-in")
    map_page.wait_for_function(f"Math.abs(imsimMap.scale - {scale * 1.5}) < 1e-9 * {scale}")


def test_box_selection_is_exported_as_a_list(map_page, ref):
    map_page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    xy = screen_points(map_page)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    corner0 = lo - 5
    corner1 = lo + (hi - lo) * 0.6  # a box over part of the map
    map_page.keyboard.down("Shift")
    map_page.mouse.move(*corner0)
    map_page.mouse.down()
    map_page.mouse.move(*corner1, steps=6)
    map_page.mouse.up()
    map_page.keyboard.up("Shift")
    inside = np.nonzero(((xy >= corner0) & (xy <= corner1)).all(axis=1))[0]
    assert 0 < len(inside) < len(ref)
    records = ref.records()
    expect(map_page.locator("#selection-count")).to_have_text(f"{len(inside)} images selected")
    tiles = map_page.locator("#selection-grid .tile")
    expect(tiles).to_have_count(len(inside))
    assert [int(t.get_attribute("data-id")) for t in tiles.all()] == inside.tolist()
    expected = "".join(records[i].path + "\n" for i in inside)

    map_page.click("#selection-copy")
    expect(map_page.locator("#selection-note")).to_contain_text(f"copied {len(inside)} file names")
    assert map_page.evaluate("navigator.clipboard.readText()") == expected
    with map_page.expect_download() as dl:
        map_page.click("#selection-download")
    assert dl.value.suggested_filename == f"{ref.path.name}-selection.txt"
    assert open(dl.value.path(), encoding="utf-8").read() == expected

    # the Select button does the same without Shift (touch screens); Clear empties it
    map_page.click("#map-select")
    map_page.mouse.move(*(lo - 5))
    map_page.mouse.down()
    map_page.mouse.move(*(hi + 5), steps=6)
    map_page.mouse.up()
    expect(map_page.locator("#selection-count")).to_have_text(f"{len(ref)} images selected")
    map_page.click("#selection-clear")
    expect(map_page.locator("#selection")).to_be_hidden()


def test_a_legend_entry_selects_its_group(map_page, ref):
    groups = sorted(ref.load_groups().groups, key=lambda g: g.index)
    map_page.locator("#map-legend .chip").nth(2).click()
    tiles = map_page.locator("#selection-grid .tile")
    expect(tiles).to_have_count(groups[2].size)
    assert [int(t.get_attribute("data-id")) for t in tiles.all()] == groups[2].members


def test_the_view_survives_leaving_the_tab(map_page):
    map_page.click("#map-zoom-in")
    before = screen_points(map_page)
    scale = map_page.evaluate("imsimMap.scale")
    map_page.click("#tab-search")
    map_page.wait_for_timeout(100)  # a resize observer would fire now
    map_page.click("#tab-map")
    assert map_page.evaluate("imsimMap.scale") == scale
    np.testing.assert_allclose(screen_points(map_page), before, atol=0.01)
