"""Regenerate the README's screenshots from the code, in headless Chromium.

    .venv/bin/python docs/screenshots.py --page      # the web page: docs/img/web-*.jpg

``--page`` builds a demo collection of generated pictures (benchmarks/_photos.py: 400
photos and transparent icons in 20 families, a few exact copies) into ``--workdir``
(reused by later runs), groups it, serves it with ``imsim serve``'s server and takes
each screenshot as a person would see the page: a search with its distance bars, the
Collection tab with a full name on hover, the latent map with a hovered point and a
box selection, the duplicate groups (when this imsim has ``imsim duplicates``), a
refused upload's message, and the search on a phone.

A ``--report`` part (the HTML report's screenshots) belongs beside it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img"
sys.path.insert(0, str(ROOT / "benchmarks"))

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 860}


def demo_collection(workdir: Path) -> Path:
    from _photos import make_photos

    from imsim.collection import Collection

    coll = workdir / "demo.imsim"
    if not (coll / "collection.json").is_file():
        photos = make_photos(workdir / "photos", 400, families=20, size=(320, 240), duplicates=8)
        with Collection.build(photos, coll, epochs=3, seed=0, progress=False) as c:
            c.groups(10, seed=0)
    return coll


def page_shots(workdir: Path, out: Path, fmt: str = "jpeg") -> list[Path]:
    from playwright.sync_api import expect, sync_playwright

    from imsim.collection import Collection
    from imsim.web import WebServer, create_app

    coll = demo_collection(workdir)
    shots = []
    srv = WebServer(create_app(coll, max_upload_mb=1), port=0, access_log=False,
                    log_level="warning").start()
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            ctx = b.new_context(viewport=DESKTOP, device_scale_factor=1)
            pg = ctx.new_page()

            def shot(name, **kw):
                path = out / f"web-{name}.{'jpg' if fmt == 'jpeg' else 'png'}"
                if fmt == "jpeg":
                    kw["quality"] = 85
                pg.screenshot(path=str(path), type=fmt, **kw)
                shots.append(path)

            pg.goto(srv.url + "#id=37&n=12&metric=l2")
            expect(pg.locator("#results .tile")).to_have_count(12)
            pg.wait_for_load_state("networkidle")
            pg.locator("#results .tile").nth(2).hover()
            shot("search")

            pg.click("#tab-browse")
            expect(pg.locator("#browse .tile")).to_have_count(60)
            pg.locator("#browse .tile").nth(9).hover()
            shot("collection")

            pg.click("#tab-map")
            expect(pg.locator("#map")).to_have_attribute("data-drawn", "true", timeout=300_000)
            box = pg.locator("#map .map-over").bounding_box()
            xy = pg.evaluate("() => Array.from({length: imsimMap.n}, (_, i) => imsimMap.toScreen(i))")
            lo = [min(x for x, _ in xy), min(y for _, y in xy)]
            hi = [max(x for x, _ in xy), max(y for _, y in xy)]
            # a box over the lower left of the map, then hover a point in the upper right
            a = (box["x"] + lo[0] - 6, box["y"] + hi[1] - (hi[1] - lo[1]) * 0.3)
            c = (box["x"] + lo[0] + (hi[0] - lo[0]) * 0.3, box["y"] + hi[1] + 6)
            pg.keyboard.down("Shift")
            pg.mouse.move(*a)
            pg.mouse.down()
            pg.mouse.move(*c, steps=8)
            pg.mouse.up()
            pg.keyboard.up("Shift")
            far = max(range(len(xy)), key=lambda i: xy[i][0] - xy[i][1])
            pg.mouse.move(box["x"] + xy[far][0], box["y"] + xy[far][1])
            expect(pg.locator(".map-tip img")).to_have_js_property("complete", True)
            pg.set_viewport_size({"width": DESKTOP["width"], "height": 1060})
            shot("map")
            pg.set_viewport_size(DESKTOP)

            if hasattr(Collection, "duplicates"):
                pg.click("#tab-dups")
                expect(pg.locator("#dups-status")).not_to_have_class("status busy", timeout=300_000)
                pg.wait_for_load_state("networkidle")
                shot("duplicates")
            else:
                print("skipped web-duplicates.jpg: this imsim has no Collection.duplicates yet")

            pg.click("#tab-search")
            big = workdir / "camera-photo.jpg"
            if not big.is_file():
                import numpy as np
                from PIL import Image

                noise = np.random.default_rng(0).integers(0, 256, (1200, 1600, 3), dtype=np.uint8)
                Image.fromarray(noise).save(big, quality=95)
            pg.set_input_files("#file", str(big))
            expect(pg.locator("#status")).to_contain_text("--max-upload-mb")
            shot("error", clip={"x": 0, "y": 0, "width": DESKTOP["width"], "height": 260})
            ctx.close()

            phone = b.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                  is_mobile=True, has_touch=True)
            pg = phone.new_page()
            pg.goto(srv.url + "#id=37&n=12&metric=l2")
            expect(pg.locator("#results .tile")).to_have_count(12)
            pg.wait_for_load_state("networkidle")
            shot("phone")
            phone.close()
            b.close()
    finally:
        srv.stop()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", action="store_true", help="the web page's screenshots")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/imsim-screenshots"),
                        help="where the demo collection is built (and reused)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--format", choices=["jpeg", "png"], default="jpeg",
                        help="jpeg for the README (small files), png to look at them")
    args = parser.parse_args()
    if not args.page:
        parser.error("say which screenshots to take: --page")
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in page_shots(args.workdir, args.out, args.format):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
