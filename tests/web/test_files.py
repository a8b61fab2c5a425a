"""Photo files a server reads: only regular files inside the photo folder, unchanged since
indexing; thumbnails decoded once and within the decode budget."""
from __future__ import annotations

import io
import os
import shutil
import sqlite3
import threading
import warnings

import numpy as np
import pytest

from imsim._validation import DataFormatError
from PIL import Image

from imsim.collection import Collection
from imsim.web import WebServer, create_app

from _data import bomb_png

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


def _drop_stored_thumbnails(coll) -> None:
    """Make ``coll`` a version indexed before thumbnails were stored: the server then
    decodes the photo file for each thumbnail (the path these tests guard)."""
    for version in (coll / "versions").iterdir():
        for name in ("thumbs.bin", "thumbs.npy"):
            (version / name).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def own(photos, tmp_path_factory):
    """A collection of its own over a copy of the photos (the tests change the folder),
    without stored thumbnails."""
    root = tmp_path_factory.mktemp("files")
    shutil.copytree(photos, root / "photos")
    Collection.build(root / "photos", root / "coll", size=16, latent_dim=8, n_cached=8, epochs=1,
                     seed=0, progress=False).close()
    _drop_stored_thumbnails(root / "coll")
    return root


def _id(client, relpath: str) -> int:
    items = client.get("/api/images", params={"limit": 100}).json()["items"]
    return next(i["id"] for i in items if i["relpath"] == relpath)


def test_a_photo_replaced_by_a_symlink_or_a_fifo_or_changed_is_not_served(own):
    photos = own / "photos"
    with TestClient(create_app(own / "coll", follow=False)) as c:
        swapped, fifo, changed, gone = (_id(c, f"fam1/v{i}.png") for i in range(4))
        for name in ("v0", "v1", "v2", "v3"):
            (photos / "fam1" / f"{name}.png").rename(photos / f"{name}.bak")
        (photos / "fam1" / "v0.png").symlink_to("/etc/passwd")
        os.mkfifo(photos / "fam1" / "v1.png")
        Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(photos / "fam1" / "v2.png")
        try:
            for size in ("original", "thumbnail"):
                for image_id in (swapped, fifo, gone):
                    r = c.get(f"/api/images/{image_id}", params={"size": size})
                    assert r.status_code == 404 and "root:" not in r.text, (size, r.text)
                r = c.get(f"/api/images/{changed}", params={"size": size})
                assert r.status_code == 409 and "changed since it was indexed" in r.json()["detail"]
                assert r.json()["error"] == "photo_changed"
        finally:
            for name in ("v0", "v1", "v2"):
                (photos / "fam1" / f"{name}.png").unlink()
            for name in ("v0", "v1", "v2", "v3"):
                (photos / f"{name}.bak").rename(photos / "fam1" / f"{name}.png")
        r = c.get(f"/api/images/{changed}", params={"size": "original"})
        assert r.status_code == 200 and r.content == (photos / "fam1" / "v2.png").read_bytes()


@pytest.mark.parametrize("stored", ["../secret.png", "/etc/passwd", "fam0/../../secret.png",
                                    "link/secret.png"])
def test_a_crafted_images_sqlite_is_never_served(own, tmp_path, stored):
    coll = tmp_path / "coll"
    shutil.copytree(own / "coll", coll)
    shutil.copy(own / "photos" / "fam0" / "v0.png", own / "secret.png")  # beside the photo folder
    (own / "photos" / "link").mkdir(exist_ok=True)
    if not (own / "photos" / "link" / "secret.png").exists():
        (own / "photos" / "link" / "secret.png").symlink_to(own / "secret.png")
    (version,) = (coll / "versions").iterdir()
    db = version / "images.sqlite"
    os.chmod(db, 0o644)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE images SET path = ? WHERE id = 3", (stored,))
    con.close()
    if ".." in stored or stored.startswith("/"):
        # a stored path that leaves the folder: the collection refuses to open at all
        with pytest.raises(DataFormatError, match="unsafe image path"):
            with TestClient(create_app(coll, follow=False)):
                pass
        return
    with TestClient(create_app(coll, follow=False)) as c:
        for size in ("original", "thumbnail"):
            r = c.get("/api/images/3", params={"size": size})
            assert r.status_code == 404 and "outside the photo folder" in r.json()["detail"], r.text


@pytest.mark.slow  # builds a collection, then six concurrent 12 MP decodes over HTTP
def test_a_huge_photo_is_thumbnailed_once_under_concurrent_requests(own, tmp_path):
    import httpx

    photos = tmp_path / "photos"
    shutil.copytree(own / "photos" / "fam2", photos)
    (photos / "huge.png").write_bytes(bomb_png(4000, 3000, color_type=6, value=0))  # 12 MP, 48 MB decoded
    Collection.build(photos, tmp_path / "coll", size=16, latent_dim=8, n_cached=4, epochs=1, seed=0,
                     progress=False).close()
    _drop_stored_thumbnails(tmp_path / "coll")
    app = create_app(tmp_path / "coll", follow=False)
    view = app.state.live.current
    huge = next(i for i, r in enumerate(view.records) if r.path == "huge.png")
    server = WebServer(app, port=0, access_log=False, log_level="warning").start()
    try:
        start, answers = threading.Barrier(6), []

        def fetch():
            start.wait()
            answers.append(httpx.get(f"{server.url}api/images/{huge}", timeout=120))

        threads = [threading.Thread(target=fetch) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.stop()
    assert [r.status_code for r in answers] == [200] * 6
    assert len({r.content for r in answers}) == 1
    assert Image.open(io.BytesIO(answers[0].content)).size == (160, 120)
    assert view.thumbs.computed == 1  # decoded once, the other five waited for it
    # one raster (48 MB) and the reduced copy were ever held for it, never six
    assert 4000 * 3000 * 4 <= app.state.budget.peak < 2 * 4000 * 3000 * 4


def test_thumbnails_of_rotated_jpegs_are_upright(tmp_path):
    from imsim.web._images import DecodeBudget, make_thumbnail

    path = tmp_path / "rotated.jpg"
    pixels = np.zeros((600, 1200, 3), np.uint8)
    pixels[:, :600] = 255  # white left half
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees clockwise
    Image.fromarray(pixels).save(path, exif=exif.tobytes(), quality=95)
    data, media = make_thumbnail(path, 600, 1200, max_side=256, budget=DecodeBudget())
    thumb = np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=float)
    assert media == "image/jpeg" and thumb.shape == (256, 128)
    assert thumb[:100].mean() > 200 and thumb[-100:].mean() < 50  # the white half is on top


def test_single_flight_shares_one_result_or_one_error_and_stays_bounded():
    from imsim.web._live import SingleFlight

    cache, started, release = SingleFlight(maxsize=2), threading.Event(), threading.Event()
    calls, results = [], []

    def slow(value):
        def compute():
            calls.append(value)
            started.set()
            release.wait(30)
            if value == "boom":
                raise ValueError("cannot decode")
            return value
        return compute

    def ask(key, value):
        try:
            results.append(cache.get(key, slow(value)))
        except ValueError as exc:
            results.append(str(exc))

    for key, value in (("a", "A"), ("b", "boom")):
        started.clear()
        release.clear()
        threads = [threading.Thread(target=ask, args=(key, value)) for _ in range(5)]
        threads[0].start()
        started.wait(30)  # the first caller computes; the four others arrive meanwhile
        for t in threads[1:]:
            t.start()
        while cache.waiting(key) < 4:  # all four wait for the first one's result
            threading.Event().wait(0.01)
        release.set()
        for t in threads:
            t.join()
    assert calls == ["A", "boom"] and cache.computed == 1
    assert results == ["A"] * 5 + ["cannot decode"] * 5
    assert cache.get("a", slow("other")) == "A"  # cached
    release.set()
    assert cache.get("b", slow("B")) == "B"  # an error is not cached: asked again, computed
    cache.get("c", slow("C"))
    assert cache.get("a", slow("A2")) == "A2"  # the least recently used went first


@pytest.mark.parametrize("kind", ["jpeg", "rotated", "clear", "big-png"])
def test_the_web_fallback_and_the_index_make_the_same_thumbnails(tmp_path, kind):
    """One thumbnail maker: what the server makes for a version without stored thumbnails
    (its pixel cap and byte budget) is what index time stores, at each side."""
    from imsim.collection import THUMBNAIL_SIDES, _thumbs, media_type
    from imsim.web._images import DecodeBudget, make_thumbnail

    rng = np.random.default_rng(1)
    path, exif = tmp_path / f"{kind}.{'png' if 'png' in kind or kind == 'clear' else 'jpg'}", Image.Exif()
    if kind == "clear":  # red, transparent on its left half
        rgba = np.zeros((60, 90, 4), np.uint8)
        rgba[..., 0], rgba[:, 45:, 3] = 255, 255
        Image.fromarray(rgba, "RGBA").save(path)
    else:
        shape = (700, 1000, 3) if kind == "big-png" else (600, 900, 3)
        blocks = np.kron(rng.integers(0, 256, (3, 3, 3)), np.ones((shape[0] // 3, shape[1] // 3, 1)))
        exif[0x0112] = 6 if kind == "rotated" else 1
        Image.fromarray(blocks.astype(np.uint8)).save(path, exif=exif.tobytes())
    width, height = Image.open(path).size
    if kind == "rotated":
        width, height = height, width
    stored = _thumbs.render(path, width, height)
    for side, index_time in zip(THUMBNAIL_SIDES, stored):
        served, media = make_thumbnail(path, width, height, max_side=side, budget=DecodeBudget())
        tw, th = _thumbs.fit_size(width, height, side)
        assert media == media_type(index_time) == ("image/png" if tw * th <= 128 * 128 else "image/jpeg")
        a, b = (np.asarray(Image.open(io.BytesIO(d)).convert("RGB"), dtype=float)
                for d in (served, index_time))
        assert a.shape == b.shape == (th, tw, 3)
        if side == max(THUMBNAIL_SIDES):
            assert served == index_time  # both decoded for this side: the same bytes
        else:
            assert np.abs(a - b).mean() < 3  # index time resizes the larger one
        if kind == "clear":  # transparency kept, in both
            for d in (served, index_time):
                rgba = np.asarray(Image.open(io.BytesIO(d)))
                assert rgba.shape[2] == 4
                assert (rgba[:, : rgba.shape[1] // 2 - 1, 3] == 0).all()
                assert (rgba[:, rgba.shape[1] // 2 + 1:] == [255, 0, 0, 255]).all()
