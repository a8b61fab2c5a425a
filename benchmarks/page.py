"""The web page in headless Chromium: thumbnails of the Collection tab, the latent map.

Targets (issue "For people"):

* Collection tab of a 5,000-photo collection: every thumbnail in view loaded
  <= 0.5 s after the tab opens, on a cold server;
* latent map of 50,000 points: first draw <= 1 s, hover feedback <= 50 ms.

"Cold" means a fresh ``imsim serve`` process (nothing in its memory) and a fresh
browser context (nothing in the browser's cache). Times are taken by the page itself
(``performance.now()`` from the click's event time; see ``window.imsimPerf`` in
static/app.js): "loaded" is the first animation frame where every ``<img>`` in the
viewport is complete; "first draw" the end of the map's first draw; "hover" from the
``pointermove`` event to the ring and tip drawn, and to the next frame.

Collections are built once into ``--workdir`` and reused:

* 5,000 generated pictures (benchmarks/_photos.py: 480x360 JPEG photos and RGBA PNG
  icons, 100 families), indexed at the default settings with 1 training epoch; the
  baseline row serves a copy without stored thumbnails (as collections indexed before
  this release): thumbnails are then made on demand, as before;
* 50,000 MNIST training digits written as PNGs in one folder per digit (labels), indexed
  at 28x28 grey with 1 epoch; the map colours them by digit. Its baseline row is the
  static PNG map that the page showed before (``GET /api/map``, cold).

* first map answer at 1,000 and 5,000 images (target <= 2 s at 5,000 on two cores):
  the time from a cold server to the first answer of ``GET /api/map/points`` (the page
  draws it at once: a PCA layout, the t-SNE one following), and the time until that
  refined layout is ready, and in the page (headless Chromium) from the click on the Map
  tab to the map's first draw; the baseline row is the first map answer as before, t-SNE
  computed before answering (``method=tsne``), on a cold server in the same run.
  Collections of generated 160x120 pictures, indexed at 32x32 with 1 epoch.

    .venv/bin/python benchmarks/page.py                 # collection and map parts
    .venv/bin/python benchmarks/page.py --part map      # or --part collection
    .venv/bin/python benchmarks/page.py --part first-map --sizes 1000 5000
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _photos import make_photos  # noqa: E402
from web import Server  # noqa: E402  (benchmarks/web.py: imsim serve in a subprocess)

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VISIBLE_LOADED = """() => new Promise((resolve) => {
  const t0 = imsimPerf.tabClick.browse;
  const check = () => {
    const imgs = [...document.querySelectorAll("#browse img")].filter((im) => {
      const r = im.getBoundingClientRect();
      return r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth;
    });
    if (imgs.length && imgs.every((im) => im.complete && im.naturalWidth > 0)) {
      resolve({ ms: performance.now() - t0, n: imgs.length });
    } else requestAnimationFrame(check);
  };
  check();
})"""


def build(photos: Path, coll: Path, make, **settings) -> Path:
    from imsim.collection import Collection

    if (coll / "collection.json").is_file():
        return coll
    if not photos.is_dir():
        t = time.perf_counter()
        make(photos)
        print(f"wrote {photos} in {time.perf_counter() - t:.0f} s", flush=True)
    t = time.perf_counter()
    Collection.build(photos, coll, epochs=1, seed=0, progress=False, **settings).close()
    print(f"indexed {coll} in {time.perf_counter() - t:.0f} s", flush=True)
    return coll


def without_thumbnails(coll: Path, dest: Path) -> Path:
    """A copy of ``coll`` as indexed before thumbnails were stored."""
    if not dest.is_dir():
        shutil.copytree(coll, dest, ignore=shutil.ignore_patterns("thumbs.bin", "thumbs.npy"))
    return dest


def write_mnist(root: Path, n: int) -> None:
    from PIL import Image

    import imsim

    train = imsim.load_dataset("mnist", "train", data_dir=ROOT.parent / "shared" / "datasets" / "mnist")
    for d in range(10):
        (root / f"digit-{d}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(train.images[i]).save(root / f"digit-{train.labels[i]}" / f"{i:05d}.png")


def browser(p):
    return p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)


def collection_tab(coll: Path, runs: int, dpr: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        b = browser(p)
        for _ in range(runs):
            with Server(coll) as url:
                ctx = b.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=dpr)
                pg = ctx.new_page()
                pg.goto(url)
                pg.wait_for_selector("body[data-ready=true]")
                pg.click("#tab-browse")
                r = pg.evaluate(VISIBLE_LOADED)
                times.append(r["ms"])
                n_visible = r["n"]
                ctx.close()
        b.close()
    print(f"  {coll.name} at {dpr}x: {n_visible} thumbnails in view, runs (ms): "
          f"{', '.join(f'{t:.0f}' for t in times)}", flush=True)
    return times


def map_run(coll: Path, hovers: int, runs: int = 3) -> dict:
    """First draw on a cold server, then ``runs`` times on the warm one (the map
    computed; a fresh browser context each), then hovers on the last."""
    from playwright.sync_api import sync_playwright

    out = {"warm": []}
    with sync_playwright() as p, Server(coll) as url:
        b = browser(p)
        for k, case in enumerate(["cold"] + ["warm"] * runs):
            ctx = b.new_context(viewport={"width": 1280, "height": 900})
            pg = ctx.new_page()
            pg.goto(url)
            pg.wait_for_selector("body[data-ready=true]")
            pg.click("#tab-map")
            pg.wait_for_selector("#map[data-drawn=true]", timeout=600_000)
            ms = pg.evaluate("imsimPerf.map.firstDraw - imsimPerf.tabClick.map")
            if case == "cold":
                out["cold"] = ms
            else:
                out["warm"].append(ms)
            if k == runs:
                box = pg.locator("#map .map-over").bounding_box()
                n = pg.evaluate("imsimMap.n")
                rng = np.random.default_rng(0)
                for i in rng.choice(n, hovers, replace=False):
                    x, y = pg.evaluate(f"imsimMap.toScreen({int(i)})")
                    pg.mouse.move(box["x"] + x, box["y"] + y)
                pg.wait_for_timeout(200)
                out["hover"] = pg.evaluate("imsimPerf.map.hover")
                out["frame"] = pg.evaluate("imsimPerf.map.hoverFrame")
                out["n"] = n
                out["tip_shown"] = pg.evaluate("!document.querySelector('.map-tip').hidden")
            ctx.close()
        b.close()
    return out


def first_map(coll: Path, method: str) -> dict:
    """Milliseconds from a cold server to its first ``/api/map/points`` answer, and for
    "auto" until the refined layout is ready (asked as the page asks, once a second)."""
    import httpx

    with Server(coll) as url:
        t = time.perf_counter()
        r = httpx.get(url + "api/map/points", params={"method": method}, timeout=900)
        r.raise_for_status()
        first = r.json()
        out = {"first": (time.perf_counter() - t) * 1e3, "method": first["method"], "refined": None,
               "refined_method": first.get("refined_method")}
        while first.get("refining"):
            r = httpx.get(url + "api/map/points", params={"refined": "true"}, timeout=900).json()
            if not r["refining"]:
                out["refined"] = (time.perf_counter() - t) * 1e3
                break
            time.sleep(0.25)
    return out


def png_map(coll: Path) -> float:
    """Seconds for the static PNG map that the page showed before, on a cold server."""
    import httpx

    with Server(coll) as url:
        t = time.perf_counter()
        r = httpx.get(url + "api/map", timeout=900)
        r.raise_for_status()
        return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["collection", "map", "both", "first-map"], default="both")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000],
                        help="collection sizes of --part first-map")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/imsim-bench-page"))
    parser.add_argument("--photos", type=int, default=5000)
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hovers", type=int, default=200)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"load average at the start: {_loadavg()}", flush=True)

    if args.part in ("collection", "both"):
        n = args.photos
        coll = build(args.workdir / f"photos-{n}", args.workdir / f"coll-{n}",
                     lambda d: make_photos(d, n, size=(480, 360)))
        old = without_thumbnails(coll, args.workdir / f"coll-{n}-no-thumbs")
        base = collection_tab(old, args.runs, 1)
        rows.append((f"baseline: Collection tab, {n:,} photos, thumbnails made on demand (as before), 1x",
                     np.median(base), None, None))
        for dpr in (1, 2):
            t = collection_tab(coll, args.runs, dpr)
            rows.append((f"Collection tab, {n:,} photos, stored thumbnails, {dpr}x screen",
                         np.median(t), np.median(t) / np.median(base), 500.0))

    if args.part in ("map", "both"):
        n = args.points
        coll = build(args.workdir / f"mnist-{n}", args.workdir / f"mnist-coll-{n}",
                     lambda d: write_mnist(d, n), size=28, color=False, labels_from_subdirs=True)
        t_png = png_map(coll) * 1e3
        rows.append((f"baseline: static PNG map (before), {n:,} images, cold server", t_png, None, None))
        m = map_run(coll, args.hovers, args.runs)
        assert m["n"] == n and m["tip_shown"], m
        print(f"  map first draw, warm, runs (ms): {', '.join(f'{t:.0f}' for t in m['warm'])}",
              flush=True)
        rows.append((f"map first draw, {n:,} points, cold server (projection computed)", m["cold"],
                     m["cold"] / t_png, None))
        warm = float(np.median(m["warm"]))
        rows.append((f"map first draw, {n:,} points, projection already computed", warm,
                     warm / t_png, 1000.0))
        h, f = np.asarray(m["hover"]), np.asarray(m["frame"])
        rows.append((f"hover: event to ring + tip drawn, p50 (p95 {np.percentile(h, 95):.1f}, "
                     f"max {h.max():.1f})", np.median(h), None, 50.0))
        rows.append((f"hover: event to the next frame, p50 (p95 {np.percentile(f, 95):.1f}, "
                     f"max {f.max():.1f})", np.median(f), None, 50.0))

    if args.part == "first-map":
        for n in args.sizes:
            coll = build(args.workdir / f"small-{n}", args.workdir / f"small-coll-{n}",
                         lambda d, n=n: make_photos(d, n, size=(160, 120)), size=32)
            base = first_map(coll, "tsne")
            rows.append((f"baseline: first map answer, {n:,} images, t-SNE before answering (as before)",
                         base["first"], None, None))
            now = first_map(coll, "auto")
            rows.append((f"first map answer, {n:,} images ({now['method']}, drawn at once)", now["first"],
                         now["first"] / base["first"], 2000.0 if n >= 5000 else None))
            page = map_run(coll, hovers=20, runs=1)  # the page: click on Map to the first draw
            rows.append((f"page: Map tab click to first draw, {n:,} images, cold server", page["cold"],
                         page["cold"] / base["first"], 2000.0 if n >= 5000 else None))
            if now.get("refined") is not None:
                rows.append((f"  refined layout ready, {n:,} images ({now['refined_method']}, swapped in)",
                             now["refined"], now["refined"] / base["first"], None))
            print(f"  {n:,} images done; load average {_loadavg()}", flush=True)

    print("\n| case | ms (median) | x baseline | target |")
    print("|---|---|---|---|")
    for name, ms, ratio, target in rows:
        verdict = "" if target is None else f"≤ {target:,.0f} ms: {'met' if ms <= target else 'NOT met'}"
        print(f"| {name} | {ms:,.1f} | {'' if ratio is None else f'{ratio:.3f}'} | {verdict} |")
    print(f"load average at the end: {_loadavg()}")


def _loadavg() -> str:
    """os.getloadavg(): the machine is shared, so the figures come with its load."""
    import os

    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
