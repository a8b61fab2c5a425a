"""The page end to end in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

A person's path: load the page, upload an image, see N result tiles, click one, see
its neighbours; pick an image in the Collection tab; open the groups.
The tiles are compared with the library's answers. Skipped, with the reason, only
where no Chromium is installed (``.ci/run`` installs Debian's package). The fixtures
(browser, server, page) are in conftest.py; the map, thumbnails, errors, paste,
duplicates and phone layout are in test_browser_*.py.
"""
from __future__ import annotations

import re

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                                                             "(pip install -e '.[dev]')")
expect = sync_api.expect
N_IMAGES = 24  # conftest: 4 families x 6


def tile_ids(tiles) -> list[int]:
    return [int(tiles.nth(i).get_attribute("data-id")) for i in range(tiles.count())]


def expect_images_loaded(tiles):
    for i in range(tiles.count()):
        img = tiles.nth(i).locator("img")
        expect(img).to_have_js_property("complete", True)  # loaded, or failed to
        assert img.evaluate("el => el.naturalWidth") > 0, f"tile {i}: the image did not load"


def test_upload_then_click_a_result_to_see_its_neighbours(page, ref, photos):
    expect(page.locator("#collection-info")).to_contain_text(f"{N_IMAGES} images")
    from imsim.web._limits import MAX_N

    expect(page.locator("#n")).to_have_attribute("max", str(MAX_N))  # told by /api/health
    page.fill("#n", "5")
    page.locator("#n").press("Tab")  # its change event now, not on a later click's blur
    query = photos.parent / "queries" / "fam2.png"
    page.set_input_files("#file", str(query))

    tiles = page.locator("#results .tile")
    expect(tiles).to_have_count(5)
    expected = ref.query(query.read_bytes(), 5, verify=True)  # the page verifies
    assert tile_ids(tiles) == expected.ids
    expect(tiles.locator(".name")).to_have_text([h.relpath for h in expected])
    expect(tiles.locator(".rank")).to_have_text([f"#{r}" for r in range(1, 6)])
    assert all(h.label == "fam2" for h in expected)  # the held-out member finds its family
    expect(page.locator("#query-desc")).to_contain_text("fam2.png")
    expect(page.locator("#status")).to_contain_text(
        "5 most similar images, the same picture first, then the same layout, each nearest first, "
        "by l2 distance")
    marks = [("same picture" if h.verified else "same layout" if h.same_layout else "")
             for h in expected]
    assert any(marks)  # the family's other members: the same picture, shifted
    assert [t.locator(".match").all_text_contents() for t in tiles.all()] == [[m] if m else []
                                                                              for m in marks]
    expect_images_loaded(tiles)

    # click the second result: the page now shows that image's neighbours
    target = expected.ids[1]
    tiles.nth(1).locator(".thumb").click()
    expect(page).to_have_url(re.compile(rf"#id={target}&n=5&metric=l2$"))
    neighbours = ref.query(target, 5, verify=True)
    expect(page.locator("#query-desc")).to_have_text(f"{ref.records()[target].path} (id {target})")
    expect(tiles.first).to_have_attribute("data-id", str(neighbours.ids[0]))
    assert tile_ids(tiles) == neighbours.ids and target not in tile_ids(tiles)
    expect_images_loaded(tiles)

    # another metric re-runs the same query
    page.select_option("#metric", "cosine")
    cosine = ref.query(target, 5, metric="cosine", verify=True)
    expect(page).to_have_url(re.compile(r"metric=cosine$"))
    expect(page.locator("#status")).to_contain_text("cosine distance (1 − cosine similarity)")
    expect(tiles.locator(".name")).to_have_text([h.relpath for h in cosine])

    # Back returns to the uploaded image's results
    page.go_back()
    expect(page.locator("#query-desc")).to_contain_text("fam2.png")
    expect(tiles.locator(".name")).to_have_text([h.relpath for h in ref.query(query.read_bytes(), 5, verify=True,
                                                                               metric="cosine")])


def test_pick_an_image_in_the_collection_tab(page, ref):
    page.click("#tab-browse")
    grid = page.locator("#browse .tile")
    expect(grid).to_have_count(N_IMAGES)
    expect(page.locator("#browse-pager .pos")).to_have_text(f"1–{N_IMAGES} of {N_IMAGES}")
    # the file named like markup is shown as text and injects nothing
    odd = next(r for r in ref.records() if "<img" in r.path)
    odd_id = ref.records().index(odd)
    expect(grid.nth(odd_id).locator(".name")).to_have_text(odd.path)
    expect(page.locator("img[src='x']")).to_have_count(0)

    grid.nth(odd_id).locator(".thumb").click()
    expect(page.locator("#panel-search")).to_be_visible()
    results = page.locator("#results .tile")
    expect(results).to_have_count(10)
    expect(results.first).to_have_attribute("data-id", str(ref.query(odd_id, 10, verify=True).ids[0]))
    assert tile_ids(results) == ref.query(odd_id, 10, verify=True).ids
    expect(page.locator("#query-desc")).to_have_text(f"{odd.path} (id {odd_id})")


def test_groups_tab(page, ref):
    page.click("#tab-groups")
    cards = page.locator("#groups .group")
    expect(cards).to_have_count(4)
    groups = ref.load_groups()
    cards.nth(1).click()
    members = page.locator("#members .tile")
    expect(members).to_have_count(groups.groups[1].size)
    assert tile_ids(members) == groups.groups[1].members
    # clicking a member searches for it
    members.first.locator(".thumb").click()
    expect(page.locator("#results .tile")).to_have_count(10)


def test_a_failed_search_says_why(page, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("not an image at all")
    page.set_input_files("#file", str(fake))
    status = page.locator("#status")
    expect(status).to_have_class(re.compile(r"\berror\b"))
    expect(status).to_contain_text("This file is not an image the server can read")
    expect(status).to_contain_text("Use a JPEG, PNG, WebP, BMP, GIF or TIFF file")
    assert not re.search(r"\b415\b", status.text_content())  # words, not a status code
    expect(page.locator("#results .tile")).to_have_count(0)
