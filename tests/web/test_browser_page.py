"""The page's other views in headless Chromium: stored thumbnails, paste to search,
errors in words, the duplicates tab, the distance scale, full names, spinners and the
phone layout. Answers are compared with the library on the same collection."""
from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from imsim.collection import _thumbs

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                                                             "(pip install -e '.[dev]')")
expect = sync_api.expect
N_IMAGES = 24  # conftest: 4 families x 6
SMALL_LIMIT_MB = 0.01  # 10 KiB: the upload-limit tests' server


def ids_of(tiles) -> list[int]:
    return [int(t.get_attribute("data-id")) for t in tiles.all()]


def all_loaded(tiles):
    for t in tiles.all():
        img = t.locator("img")
        expect(img).to_have_js_property("complete", True)
        assert img.evaluate("el => el.naturalWidth") > 0


@pytest.fixture(scope="module")
def small_server(grouped_collection):
    from imsim.web import WebServer, create_app

    srv = WebServer(create_app(grouped_collection, max_upload_mb=SMALL_LIMIT_MB), port=0,
                    access_log=False, log_level="warning").start()
    yield srv
    srv.stop()


# -- thumbnails -------------------------------------------------------------------------

@pytest.mark.parametrize("dpr", [1, 2])
def test_stored_thumbnails_at_once_and_cached_for_good(new_page, server, ref, monkeypatch, dpr):
    made = []
    real = _thumbs.render
    monkeypatch.setattr(_thumbs, "render", lambda *a, **k: made.append(a) or real(*a, **k))
    pg = new_page(server.url, device_scale_factor=dpr)
    responses = []
    pg.on("response", lambda r: responses.append(r) if "/api/images/" in r.url else None)
    size = 1 if dpr == 2 else 0  # 320 px thumbnails on a 2x screen
    stored = _thumbs.Thumbnails.open(ref._dir)

    # the Collection tab: the page's thumbnails arrive inside the listing, in one answer
    pg.click("#tab-browse")
    tiles = pg.locator("#browse .tile")
    expect(tiles).to_have_count(N_IMAGES)
    all_loaded(tiles)
    for i, t in enumerate(tiles.all()):
        data = stored.get(i, size)
        assert t.locator("img").get_attribute("src") == \
            f"data:{_thumbs.media_type(data)};base64,{base64.b64encode(data).decode()}"
    assert responses == []

    # results: one URL per thumbnail, named by the photo's content and cached for good
    pg.evaluate("location.hash = '#id=0&n=10&metric=l2'")
    results = pg.locator("#results .tile")
    expect(results).to_have_count(10)
    all_loaded(results)
    records = ref.records()
    by_url = {r.url: r for r in responses}
    for i in ids_of(results):
        url = f"{server.url}api/images/{i}?h={records[i].sha256[:12]}" + ("&size=thumbnail-2x" if dpr == 2 else "")
        assert url in by_url, (url, list(by_url))
        r = by_url[url]
        assert r.status == 200 and "immutable" in r.headers["cache-control"]
        assert r.body() == stored.get(i, size)
    assert made == []  # every thumbnail came from the version, none was made on demand


def test_an_older_collection_makes_thumbnails_on_demand(new_page, old_collection):
    from imsim.web import WebServer, create_app

    srv = WebServer(create_app(old_collection), port=0, access_log=False, log_level="warning").start()
    try:
        pg = new_page(srv.url)
        pg.click("#tab-browse")
        tiles = pg.locator("#browse .tile")
        expect(tiles).to_have_count(N_IMAGES)
        all_loaded(tiles)
    finally:
        srv.stop()


# -- paste ---------------------------------------------------------------------------

PASTE = """async ([b64, type, text]) => {
  const dt = new DataTransfer();
  if (b64 !== null) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    dt.items.add(new File([bytes], "image.png", { type }));  // Chromium's name for any paste
  }
  if (text !== null) dt.setData("text/plain", text);
  document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true }));
}"""


def test_paste_an_image_to_search(page, ref, photos):
    data = (photos.parent / "queries" / "fam1.png").read_bytes()
    page.click("#tab-browse")  # pasting works from any tab
    page.evaluate(PASTE, [base64.b64encode(data).decode(), "image/png", None])
    tiles = page.locator("#results .tile")
    expect(tiles).to_have_count(10)
    assert ids_of(tiles) == ref.query(data, 10, verify=True).ids
    expect(page.locator("#query-desc")).to_have_text(f"Pasted image ({round(len(data) / 1024)} KB)")

    page.evaluate(PASTE, [None, None, "just some words"])
    expect(page.locator("#status")).to_have_text(re.compile(r"^The clipboard holds no image: copy the image"))


# -- errors in words -------------------------------------------------------------------

def noise_png(nbytes_at_least: int) -> bytes:
    side = int(np.sqrt(nbytes_at_least / 3)) + 8
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def no_status_code(text: str):
    assert not re.search(r"\b(0|4\d\d|5\d\d)\s*:", text), text


def test_an_upload_over_the_limit_names_the_flag(new_page, small_server, grouped_collection, tmp_path):
    big = tmp_path / "camera.png"
    big.write_bytes(noise_png(30_000))
    pg = new_page(small_server.url)
    status = pg.locator("#status")
    pg.set_input_files("#file", str(big))
    # refused in the page: the limit comes from /api/health
    expect(status).to_contain_text("This image is too large to upload")
    expect(status).to_contain_text("this server accepts up to 10 KB")
    expect(status).to_contain_text("--max-upload-mb")
    no_status_code(status.text_content())

    # and when the server itself refuses (a page that believed in a higher limit)
    def health(route):
        r = route.fetch()
        route.fulfill(response=r, json={**r.json(), "max_upload_bytes": 10**9})

    pg2 = new_page("about:blank", ready=False)
    pg2.route("**/api/health", health)
    pg2.goto(small_server.url)
    expect(pg2.locator("body")).to_have_attribute("data-ready", "true")
    pg2.set_input_files("#file", str(big))
    status2 = pg2.locator("#status")
    expect(status2).to_contain_text("This image is too large to upload")
    expect(status2).to_contain_text("--max-upload-mb")
    # the collection's path, not its name: the command runs as printed, from any folder
    expect(status2.locator("code")).to_have_text(f"imsim serve -c {grouped_collection.absolute()} "
                                                 "--max-upload-mb 1")
    no_status_code(status2.text_content())


def test_a_refusal_is_worded_from_its_fields_not_its_message(page, tmp_path):
    """The page words a 413 from the error's fields (limit, size, unit, option): a message
    worded otherwise (another server version, another language) changes nothing."""
    small = tmp_path / "small.png"
    small.write_bytes(noise_png(2_000))
    refusals = iter([
        {"detail": "zu groß", "error": "too_large", "size": 3 * 2**20, "limit": 2**20,
         "unit": "bytes", "option": "--max-upload-mb"},
        {"detail": "zu groß", "error": "too_large", "size": 80_000_000, "limit": 50_000_000,
         "unit": "pixels", "option": "--max-pixels"},
    ])
    page.route("**/api/search", lambda route: route.fulfill(status=413, json=next(refusals)))
    status = page.locator("#status")
    page.set_input_files("#file", str(small))
    expect(status).to_contain_text("This image is too large to upload: 3.0 MB, and this server "
                                   "accepts up to 1.0 MB")
    expect(status.locator("code")).to_contain_text("--max-upload-mb 4")
    page.set_input_files("#file", [])
    page.set_input_files("#file", str(small))
    expect(status).to_contain_text("This image is too large to decode: 80,000,000 pixels, and this "
                                   "server decodes images of up to 50,000,000 pixels")
    expect(status.locator("code")).to_have_text("--max-pixels")
    assert "zu groß" not in status.text_content()
    no_status_code(status.text_content())


def test_an_unreachable_server_is_explained(page):
    page.route("**/api/search", lambda route: route.abort())
    page.fill("#n", "3")
    page.evaluate("location.hash = '#id=2&n=3&metric=l2'")
    status = page.locator("#status")
    expect(status).to_have_text("The server cannot be reached: is imsim serve still running? "
                                "Start it again, then reload this page.")
    expect(status.locator("code")).to_have_text("imsim serve")  # a command, shown as code
    expect(status).to_have_attribute("role", "alert")


def test_a_page_with_no_server_behind_it_says_so(new_page, browser, server, tmp_path):
    ctx = browser.new_context()
    pg = ctx.new_page()
    pg.route("**/api/health", lambda route: route.abort())
    pg.goto(server.url)
    expect(pg.locator("#status")).to_contain_text("The server cannot be reached")
    ctx.close()


# -- duplicates ------------------------------------------------------------------------

def test_duplicates_tab_shows_the_groups(page, ref, with_duplicates):
    expected = with_duplicates(ref).to_dict()
    assert expected["groups"], "the fixture collection should have near-duplicates"
    page.click("#tab-dups")
    groups = page.locator("#dups .dup-group")
    expect(groups).to_have_count(len(expected["groups"]))
    for k, g in enumerate(expected["groups"]):
        tiles = groups.nth(k).locator(".tile")
        assert ids_of(tiles) == g["ids"]
        expect(tiles.locator(".name")).to_have_text(g["relpaths"])
    n = sum(len(g["ids"]) for g in expected["groups"])
    status = page.locator("#dups-status")
    expect(status).to_contain_text(f"{len(expected['groups'])} group{'s' if len(groups.all()) > 1 else ''} "
                                   f"of duplicates ({n} images)")
    if expected["verified"]:
        expect(status).to_contain_text("each pair kept only when its local features agree")
    # shown to 4 significant digits, as a person would type it
    assert float(page.input_value("#dups-threshold")) == float(f"{expected['threshold']:.4g}")

    page.fill("#dups-threshold", "0")
    page.click("#dups-form button")
    expect(status).to_contain_text("No duplicates: no two images are within l2 distance 0")
    expect(groups).to_have_count(0)


# -- the distance scale and full names -------------------------------------------------------

def test_distances_are_drawn_on_the_collections_neighbour_scale(page, ref):
    typical = float(np.median(np.asarray(ref.neighbors()[1])[:, 0]))
    page.evaluate("location.hash = '#id=5&n=8&metric=l2'")
    tiles = page.locator("#results .tile")
    expect(tiles).to_have_count(8)
    hits = ref.query(5, 8, verify=True)
    for t, h in zip(tiles.all(), hits):
        ratio = h.distance / typical
        assert t.locator(".ratio").text_content() == (f"{ratio:.1f}×" if ratio < 10 else f"{round(ratio)}×")
        width = t.locator(".fill").evaluate("el => el.style.width")
        assert float(width.rstrip("%")) == pytest.approx(min(ratio / 2, 1) * 100, rel=1e-5)
        title = t.locator(".dist").get_attribute("title")
        assert f"{ratio:.2f}× the typical distance from an image to its nearest neighbour" in title
        assert title.startswith(f"l2 distance between latent vectors: {h.distance:.4g}"[:40])
    expect(page.locator("#scale-note")).to_contain_text("1× is the typical distance from an image to "
                                                        "its nearest neighbour here")


def test_full_names_on_hover_and_in_the_detail(page, ref):
    odd = next(i for i, r in enumerate(ref.records()) if "<img" in r.path)
    path = ref.records()[odd].path
    page.click("#tab-browse")
    name = page.locator("#browse .tile").nth(odd).locator(".name")
    expect(name).to_have_text(path)
    # too long for the tile: shortened in the middle, so it fits and keeps the file's end
    short = name.get_attribute("data-short")
    assert "…" in short.replace("\u200b", "") and short.endswith(" co.png") and len(short) < len(path), short
    assert name.evaluate("el => getComputedStyle(el, '::before').content") == f'"{short}"'
    assert name.evaluate("el => el.scrollWidth <= el.clientWidth")
    assert path in name.get_attribute("title")
    page.locator("#browse .tile").nth(odd).hover()
    assert name.evaluate("el => el.scrollWidth <= el.clientWidth && el.scrollHeight <= el.clientHeight")
    page.locator("#browse .tile").nth(odd).locator(".thumb").click()
    expect(page.locator("#query-desc")).to_have_text(f"{path} (id {odd})")  # ...whole in the detail


# -- spinners and the phone layout -------------------------------------------------------------

def test_a_spinner_while_a_listing_loads(page):
    held = []
    page.route(re.compile(r"/api/images\?"), lambda route: held.append(route))
    page.click("#tab-browse")
    status = page.locator("#browse-status")
    expect(status).to_have_class(re.compile(r"\bbusy\b"))
    expect(status).to_have_text("Loading images…")
    page.wait_for_function("document.querySelector('#browse-status').classList.contains('busy')")
    while not held:
        page.wait_for_timeout(20)
    held[0].continue_()
    expect(page.locator("#browse .tile")).to_have_count(N_IMAGES)
    expect(status).not_to_have_class(re.compile(r"\bbusy\b"))


def test_every_tab_fits_a_phone(new_page, server, with_duplicates):
    pg = new_page(server.url + "#id=3&n=10&metric=l2", viewport={"width": 390, "height": 844},
                  device_scale_factor=3, is_mobile=True, has_touch=True)
    expect(pg.locator("#results .tile")).to_have_count(10)
    for tab in ("search", "browse", "groups", "map", "dups"):  # every tab in sight, none scrolled away
        box = pg.locator(f"#tab-{tab}").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (tab, box)
    for tab in ("search", "browse", "groups", "map", "dups"):
        pg.click(f"#tab-{tab}")
        if tab == "map":
            expect(pg.locator("#map")).to_have_attribute("data-drawn", "true", timeout=60_000)
            assert pg.locator("#map .map-over").bounding_box()["width"] <= 390
        if tab == "browse":
            expect(pg.locator("#browse .tile")).to_have_count(N_IMAGES)
            boxes = [t.bounding_box() for t in pg.locator("#browse .tile").all()[:3]]
            assert boxes[0]["y"] == boxes[1]["y"] < boxes[2]["y"]  # two tiles a row
        width = pg.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the {tab} tab is {width} px wide on a 390 px screen"
