"""The JSON API with FastAPI's TestClient: every endpoint, every error status.

Answers are compared with the library (:meth:`imsim.Collection.query` on the same
collection) and with the known families of the generated photos (conftest.py).
"""
from __future__ import annotations

import asyncio
import io
import json
import re
import struct
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image

from imsim.collection import Collection
from imsim.web import WebServer, create_app

with warnings.catch_warnings():
    # Starlette asks for httpx2 under its TestClient; httpx is what the dev extras install
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

N_IMAGES = 24  # conftest: 4 families x 6


@pytest.fixture(scope="module")
def app(grouped_collection):
    return create_app(grouped_collection)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def ref(grouped_collection):
    """The same collection opened by the library: the reference answers."""
    with Collection.open(grouped_collection) as coll:
        yield coll


def assert_error(r, status: int, pattern: str = "", **fields) -> dict:
    """A JSON error with this status, a one-line message matching ``pattern``, a code
    (``error``) and these ``fields``; returns the body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    detail = body["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail
    assert re.search(pattern, detail, re.I), detail
    assert re.fullmatch(r"[a-z][a-z0-9_]*", body["error"]), body
    assert {k: body.get(k) for k in fields} == fields, body
    return body


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels but holds almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def same_hits(api: dict, lib) -> None:
    assert [h["id"] for h in api["results"]] == lib.ids
    assert [h["relpath"] for h in api["results"]] == [h.relpath for h in lib]
    np.testing.assert_allclose([h["distance"] for h in api["results"]], lib.distances, rtol=1e-6)
    assert [h["rank"] for h in api["results"]] == list(range(1, len(lib) + 1))


# -- health, page, schema ------------------------------------------------------------

def test_health_describes_the_collection(client, ref):
    r = client.get("/api/health")
    assert r.status_code == 200
    h = r.json()
    assert h["status"] == "ok" and h["n_images"] == len(ref) == N_IMAGES
    assert h["version"] == ref.version and h["metric"] == ref.settings.metric == "l2"
    assert h["metrics"] == ["l2", "cosine", "l1"] and h["has_groups"] is True
    assert h["max_upload_bytes"] == 32 * 1024 * 1024
    assert "/" not in h["collection"]  # the name only: no server paths leak


def test_page_and_static_files_load_nothing_from_outside(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="/static/app.js"' in page.text and 'href="/static/style.css"' in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and page.headers["x-content-type-options"] == "nosniff"
    for name in ("app.js", "ui.js", "map.js", "style.css"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", r.text, re.I), name
    assert not re.search(r"https?://", page.text)


def test_openapi_documents_every_route_and_the_upload(client):
    spec = client.get("/api/openapi.json").json()
    assert {"/api/search", "/api/images", "/api/images/{image_id}", "/api/groups", "/api/health",
            "/api/map", "/api/map/points", "/api/duplicates"} <= set(spec["paths"])
    search = spec["paths"]["/api/search"]["post"]
    form = search["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["image"]["format"] == "binary"
    assert {"id", "n", "metric"} <= set(form["properties"])
    assert {"200", "400", "404", "413", "415", "422"} <= set(search["responses"])
    # no CDN-backed documentation pages
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404


# -- search -------------------------------------------------------------------------

@pytest.mark.parametrize("metric", [None, "l2", "cosine", "l1"])
@pytest.mark.parametrize("n", [1, 5, 12])
def test_search_by_id_matches_the_library(client, ref, metric, n):
    records = ref.records()
    for image_id in (0, 7, 23):
        data = {"id": image_id, "n": n, **({"metric": metric} if metric else {})}
        r = client.post("/api/search", data=data)
        assert r.status_code == 200, r.text
        body = r.json()
        lib = ref.query(image_id, n, metric=metric)
        same_hits(body, lib)
        assert body["query"] == {"kind": "id", "id": image_id, "relpath": records[image_id].path}
        assert body["metric"] == (metric or "l2") and body["n"] == n and body["mode"] == lib.mode
        assert image_id not in [h["id"] for h in body["results"]]
        # families are far apart: the nearest images are the same family (sub-folder label)
        family = records[image_id].label
        assert [h["label"] for h in body["results"][:min(n, 5)]] == [family] * min(n, 5)
        if metric == "cosine":
            assert all(h["similarity"] == pytest.approx(1 - h["distance"]) for h in body["results"])


def test_verified_search_matches_the_library(client, ref, photos):
    """``verify``: the library's verified re-rank, its flags on every hit; off by default."""
    upload = (photos.parent / "queries" / "fam1.png").read_bytes()
    seen = set()
    for query, form, files in ((5, {"id": "5"}, None), (upload, {}, {"image": ("q.png", upload)})):
        body = client.post("/api/search", data={**form, "n": "8", "verify": "true"}, files=files).json()
        lib = ref.query(query, 8, verify=True)
        same_hits(body, lib)
        flags = [(h["verified"], h["same_layout"]) for h in body["results"]]
        assert flags == [(h.verified, h.same_layout) for h in lib]
        assert all(isinstance(v, bool) and isinstance(s, bool) and (s or not v) for v, s in flags)
        seen |= set(flags)
        plain = client.post("/api/search", data={**form, "n": "8"}, files=files).json()
        same_hits(plain, ref.query(query, 8))
        assert all(h["verified"] is None and h["same_layout"] is None for h in plain["results"])
    assert (True, True) in seen and any(not v for v, _ in seen)  # both kinds of answer


def test_search_accepts_multipart_urlencoded_and_json_alike(client):
    a = client.post("/api/search", data={"id": "3", "n": "4", "metric": "l1"}).json()
    b = client.post("/api/search", json={"id": 3, "n": 4, "metric": "l1"}).json()
    c = client.post("/api/search", files={"id": (None, "3"), "n": (None, "4"),
                                          "metric": (None, "l1")}).json()
    assert a["results"] == b["results"] == c["results"] and len(a["results"]) == 4


def test_search_by_upload(client, ref, photos):
    for f in range(4):
        data = (photos.parent / "queries" / f"fam{f}.png").read_bytes()
        r = client.post("/api/search", files={"image": ("../../evil name.png", data, "image/png")},
                        data={"n": "6"})
        assert r.status_code == 200, r.text
        body = r.json()
        same_hits(body, ref.query(data, 6))
        assert body["query"] == {"kind": "upload", "id": None, "relpath": None}
        assert body["mode"] == "default"
        # the held-out member of family f finds the six members of family f
        assert {h["label"] for h in body["results"]} == {f"fam{f}"}


def test_upload_of_a_collection_file_is_recognised(client, ref, photos):
    rec = ref.records()[9]
    data = (photos / rec.path).read_bytes()
    body = client.post("/api/search", files={"image": ("x.png", data, "image/png")},
                       data={"n": "3"}).json()
    assert body["query"] == {"kind": "upload", "id": 9, "relpath": rec.path}
    assert body["mode"] == "cached" and 9 not in [h["id"] for h in body["results"]]
    same_hits(body, ref.query(9, 3))


@pytest.mark.slow
def test_concurrent_searches_over_real_http_agree_with_the_library(bare_collection, photos):
    """Many clients at once against uvicorn: every answer equals the sequential one."""
    server = WebServer(create_app(bare_collection), port=0, access_log=False,
                       log_level="warning").start()
    upload = (photos.parent / "queries" / "fam2.png").read_bytes()
    jobs = [{"id": i % N_IMAGES, "n": 1 + i % 15, "metric": ("l2", "cosine", "l1")[i % 3]}
            for i in range(60)] + [None] * 12
    try:
        with Collection.open(bare_collection) as ref, httpx.Client(base_url=server.url) as http:
            def ask(job):
                if job is None:
                    return http.post("/api/search", files={"image": ("q.png", upload)},
                                     data={"n": 5}).json()
                return http.post("/api/search", data=job).json()

            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(ask, jobs))
            for job, body in zip(jobs, answers):
                expected = (ref.query(upload, 5) if job is None
                            else ref.query(job["id"], job["n"], metric=job["metric"]))
                same_hits(body, expected)
    finally:
        server.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "api/health", timeout=2)


# -- errors of /api/search ------------------------------------------------------------

def test_search_400_malformed_or_ambiguous(client, photos):
    png = (photos.parent / "queries" / "fam0.png").read_bytes()
    assert_error(client.post("/api/search", data={"n": 5}), 400, "image.*or.*id", error="bad_request")
    assert_error(client.post("/api/search", files={"image": ("q.png", png)}, data={"id": 1}),
                 400, "not both")
    assert_error(client.post("/api/search", content=b"{not json",
                             headers={"content-type": "application/json"}), 400, "JSON")
    assert_error(client.post("/api/search", json=[1, 2]), 400, "object")
    assert_error(client.post("/api/search", content=b"--x\r\nnonsense",
                             headers={"content-type": "multipart/form-data"}), 400, "boundary")
    assert_error(client.post("/api/search", content=b"id=1&id=2",
                             headers={"content-type": "application/x-www-form-urlencoded"}),
                 400, "more than once")
    assert_error(client.post("/api/search", files={"photo": ("q.png", png)}), 400, "'image'")
    assert_error(client.post("/api/search", files={"image": (None, "abc")}), 400, "file part")


def test_search_404_unknown_id(client):
    assert_error(client.post("/api/search", data={"id": N_IMAGES}), 404, r"ids 0\.\.23",
                 error="not_found")
    assert_error(client.post("/api/search", json={"id": -1}), 404, "no image with id -1")


def test_search_415_wrong_content_type_or_not_an_image(client, photos):
    assert_error(client.post("/api/search", content=b"id=1", headers={"content-type": "text/plain"}),
                 415, "multipart/form-data")
    assert_error(client.post("/api/search", content=b"id=1"), 415, "no content type",
                 error="unsupported_media_type")
    for junk in (b"", b"hello, I am text", b"GIF89a" + b"\0" * 5, b"%PDF-1.4\n" + bytes(100)):
        assert_error(client.post("/api/search", files={"image": ("a.png", junk, "image/png")}), 415,
                     "not .*image|readable|cannot read")
    good = png_bytes(np.full((40, 40, 3), 120, np.uint8))
    truncated = good[:len(good) // 2]  # a valid header, then the data stops
    assert_error(client.post("/api/search", files={"image": ("t.png", truncated)}), 415,
                 "cannot read image")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_search_413_decompression_bombs(client):
    for side, reason in ((20_000, "decompression bomb"),  # above Pillow's error limit
                         (10_000, "100,000,000 pixels.*up to 50,000,000 pixels.*--max-pixels"),
                         (7100, "50,410,000 pixels")):  # over the server's own cap
        bomb = png_header(side, side)
        assert len(bomb) < 200
        # the page reads the fields, not the message
        assert_error(client.post("/api/search", files={"image": ("b.png", bomb, "image/png")}),
                     413, reason, error="too_large", size=side * side, limit=50_000_000,
                     unit="pixels", option="--max-pixels")


def test_search_413_uploads_over_the_limit(bare_collection):
    limit = 10 * 1024  # max_upload_mb below
    with TestClient(create_app(bare_collection, max_upload_mb=limit / 2**20)) as small:
        health = small.get("/api/health").json()
        assert health["max_upload_bytes"] == limit
        # declared length over the limit: refused before the body is read
        big = bytes(200 * 1024)
        body = assert_error(small.post("/api/search", files={"image": ("big.png", big)}), 413,
                            "up to 10,240 bytes", error="too_large", limit=limit, unit="bytes",
                            option="--max-upload-mb")
        assert body["size"] > 200 * 1024 and "at_least" not in body  # the declared length
        # a file just over the limit in a body within the slack for form fields
        assert_error(small.post("/api/search", files={"image": ("a.png", bytes(limit + 1))}), 413,
                     "10,241 bytes", error="too_large", size=limit + 1, limit=limit, unit="bytes",
                     option="--max-upload-mb")
        assert_error(small.post("/api/search", content=bytes(100 * 1024),
                                headers={"content-type": "multipart/form-data; boundary=b"}),
                     413, "102,400 bytes", error="too_large", size=100 * 1024, limit=limit)
        # within the limit all is well
        ok = png_bytes(np.zeros((8, 8, 3), np.uint8))
        assert small.post("/api/search", files={"image": ("ok.png", ok)}).status_code == 200


def test_search_413_over_the_librarys_byte_cap(client, monkeypatch):
    """The library's own byte cap (not an option of the server): its limit, no option."""
    monkeypatch.setenv("IMSIM_MAX_IMAGE_BYTES", "100")
    png = png_bytes(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8))
    assert len(png) > 100
    body = assert_error(client.post("/api/search", files={"image": ("q.png", png)}), 413,
                        "cannot read the upload", error="too_large", limit=100, unit="bytes")
    assert "option" not in body


def test_a_chunked_body_is_read_only_up_to_the_limit(bare_collection):
    """No Content-Length: the guard stops reading once the bytes received pass the limit."""
    app = create_app(bare_collection, max_upload_mb=10 / 1024)  # 10 KiB, + 64 KiB slack
    chunks_read, sent = 0, []

    head = (b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n")

    async def receive():
        nonlocal chunks_read
        chunks_read += 1  # a well-formed part whose file data never ends, 16 KiB a chunk
        body = head if chunks_read == 1 else b"x" * 16384
        return {"type": "http.request", "body": body, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/search", "raw_path": b"/api/search", "root_path": "",
             "query_string": b"", "server": ("testserver", 80), "client": ("127.0.0.1", 1),
             "headers": [(b"host", b"testserver"),
                         (b"content-type", b"multipart/form-data; boundary=b")]}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    body = json.loads(sent[1]["body"])
    assert body["detail"].startswith("request body is over")
    assert {k: body[k] for k in ("error", "limit", "unit", "option", "at_least")} == {
        "error": "too_large", "limit": 10 * 1024, "unit": "bytes", "option": "--max-upload-mb",
        "at_least": True}
    assert body["size"] > 74 * 1024
    assert chunks_read == 6  # the part's head, then 5 x 16 KiB: the first read past 74 KiB


def test_search_422_invalid_fields(client):
    cases = [({"id": 1, "n": 0}, "n:.*greater than or equal to 1"),
             ({"id": 1, "n": 101}, "n:.*less than or equal to 100"),
             ({"id": 1, "n": "ten"}, "n:.*integer"),
             ({"id": 1, "metric": "emd"}, "metric:.*unknown metric 'emd', expected one of l2, cosine, l1"),
             ({"id": "../../etc/passwd"}, "id:.*integer"),
             ({"id": "%2e%2e"}, "id:.*integer"),
             ({"id": 1, "k": 5}, "k:.*not permitted")]
    for data, pattern in cases:
        r = client.post("/api/search", data=data)
        assert_error(r, 422, pattern)
        assert r.json()["errors"][0]["loc"][-1] in data


@pytest.mark.parametrize("alias, metric", [("euclidean", "l2"), ("EUCLIDEAN", "l2"),
                                           ("manhattan", "l1"), ("cityblock", "l1"), ("Cosine", "cosine")])
def test_search_takes_the_library_metric_aliases(client, ref, alias, metric):
    """One vocabulary: the API accepts what imsim.Collection.query (and `imsim query`) accepts."""
    from imsim._validation import METRIC_ALIASES

    assert client.get("/api/health").json()["metric_aliases"] == METRIC_ALIASES
    for form in ({"data": {"id": "3", "n": "5", "metric": alias}},
                 {"json": {"id": 3, "n": 5, "metric": alias}}):
        body = client.post("/api/search", **form).json()
        assert body["metric"] == metric
        assert [h["id"] for h in body["results"]] == ref.query(3, 5, metric=alias).ids
        assert [h["distance"] for h in body["results"]] == pytest.approx(
            [h.distance for h in ref.query(3, 5, metric=metric)])


# -- images ---------------------------------------------------------------------------

def test_thumbnail_and_original(client, ref, photos):
    rec = ref.records()[4]
    r = client.get("/api/images/4")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    thumb = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
    original = np.asarray(Image.open(photos / rec.path).convert("RGB"))
    assert thumb.shape == original.shape  # 32x32: small images are never enlarged
    np.testing.assert_array_equal(thumb, original)  # and tiny thumbnails are lossless
    assert r.headers["cache-control"] == "no-cache"  # an id alone may name another photo later
    again = client.get("/api/images/4", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304 and not again.content
    # the listing's URL names the content: cached for good, and the same bytes
    url = client.get("/api/images", params={"offset": 4, "limit": 1}).json()["items"][0]["thumbnail_url"]
    assert url == f"/api/images/4?h={rec.sha256[:12]}"
    r2 = client.get(url)
    assert r2.content == r.content and "immutable" in r2.headers["cache-control"]
    assert r2.headers["etag"] == r.headers["etag"] and rec.sha256[:12] in r.headers["etag"]
    big = client.get(url + "&size=thumbnail-2x")
    assert big.status_code == 200 and Image.open(io.BytesIO(big.content)).size == (32, 32)
    r = client.get("/api/images/4", params={"size": "original"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content == (photos / rec.path).read_bytes()


def test_thumbnail_of_a_large_photo_keeps_its_aspect(tmp_path):
    from imsim.collection import thumbnail_size
    from imsim.web._images import make_thumbnail

    assert thumbnail_size(1000, 500, 256) == (256, 128) and thumbnail_size(30, 90, 256) == (30, 90)
    rng = np.random.default_rng(0)
    path = tmp_path / "wide.jpg"
    Image.fromarray(rng.integers(0, 256, (300, 900, 3), dtype=np.uint8)).save(path)
    data, media = make_thumbnail(path, 900, 300, max_side=256)
    assert media == "image/jpeg" and Image.open(io.BytesIO(data)).size == (256, 85)


def test_image_errors(client, app, tmp_path, monkeypatch):
    assert_error(client.get(f"/api/images/{N_IMAGES}"), 404, "no image with id 24")
    assert_error(client.get("/api/images/-1"), 404, "no image with id -1")
    body = assert_error(client.get("/api/images/abc"), 422, "image_id:.*integer", error="invalid")
    assert [e["loc"] for e in body["errors"]] == [["path", "image_id"]]
    assert_error(client.get("/api/images/1", params={"size": "huge"}), 422, "size:")
    # a photo deleted since indexing: its stored thumbnail is still shown
    monkeypatch.setattr(app.state.live.current, "photos_root", tmp_path)
    assert_error(client.get("/api/images/1", params={"size": "original"}), 404, "gone")
    assert client.get("/api/images/2").status_code == 200


def test_a_version_without_stored_thumbnails_makes_them_on_demand(old_collection, photos,
                                                                  tmp_path, monkeypatch):
    """Collections indexed before thumbnails were stored keep working, the same pixels."""
    with TestClient(create_app(old_collection)) as c, Collection.open(old_collection) as ref:
        rec = ref.records()[3]
        r = c.get("/api/images/3")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        thumb = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
        np.testing.assert_array_equal(thumb, np.asarray(Image.open(photos / rec.path).convert("RGB")))
        monkeypatch.setattr(c.app.state.live.current, "photos_root", tmp_path)
        assert_error(c.get("/api/images/2"), 404, "gone from the photo folder")


@pytest.mark.parametrize("path", [
    "/api/images/../../etc/passwd",
    "/api/images/..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/images/%2e%2e",
    "/api/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/api/images/1%2f..%2f..%2fetc%2fpasswd",
    "/api/images/%2Fetc%2Fpasswd",
    "/static/../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/app.py",
    "/static/..%2f__init__.py",
    "/api/images/1?size=../../etc/passwd",
])
def test_traversal_attempts_get_json_errors(client, path):
    r = client.get(path)
    assert r.status_code in (404, 422), (path, r.status_code)
    assert r.headers["content-type"].startswith("application/json")
    assert "root:" not in r.text and "import" not in r.text


# -- listing, groups, map ---------------------------------------------------------------

def test_listing_pages_through_the_collection(client, ref):
    records = ref.records()
    seen = []
    for offset in range(0, N_IMAGES, 10):
        page = client.get("/api/images", params={"offset": offset, "limit": 10}).json()
        assert page["total"] == N_IMAGES and page["offset"] == offset
        seen += page["items"]
    assert [it["id"] for it in seen] == list(range(N_IMAGES))
    assert [(it["relpath"], it["label"], it["width"], it["height"]) for it in seen] == \
        [(r.path, r.label, r.width, r.height) for r in records]
    assert client.get("/api/images", params={"offset": 100}).json()["items"] == []
    assert_error(client.get("/api/images", params={"limit": 0}), 422, "limit:")
    assert_error(client.get("/api/images", params={"limit": 501}), 422, "limit:")
    assert_error(client.get("/api/images", params={"offset": -1}), 422, "offset:")


def test_groups_and_group_listing(client, ref):
    groups = ref.load_groups()
    body = client.get("/api/groups").json()
    assert body["k"] == groups.k == 4 and body["version"] == ref.version
    assert [g["members"] for g in body["groups"]] == [g.members for g in groups.groups]
    records = ref.records()
    for g in body["groups"]:
        # k-medoids recovers the four families exactly
        assert len({records[i].label for i in g["members"]}) == 1 and g["size"] == 6
        assert g["representative"]["relpath"] == records[g["representative"]["id"]].path
        page = client.get("/api/images", params={"group": g["group"]}).json()
        assert page["total"] == g["size"] and [it["id"] for it in page["items"]] == g["members"]
    assert_error(client.get("/api/images", params={"group": 4}), 404, "no group 4")


def test_groups_404_before_imsim_groups(bare_collection):
    with TestClient(create_app(bare_collection)) as c:
        assert c.get("/api/health").json()["has_groups"] is False
        assert_error(c.get("/api/groups"), 404, "imsim groups -c")
        assert_error(c.get("/api/images", params={"group": 0}), 404, "no groups")


@pytest.mark.slow
def test_map_is_a_png_drawn_once(client):
    r = client.get("/api/map")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(r.content))
    assert img.format == "PNG" and min(img.size) > 300
    assert client.get("/api/map").content == r.content
    assert_error(client.get("/api/map", params={"method": "mds"}), 422, "method:")


# -- the rest: unknown routes, hosts, crashes --------------------------------------------

def test_map_points_are_the_projection_of_every_image(client, ref):
    from imsim.report.map_plots import project_2d

    r = client.get("/api/map/points", params={"method": "pca"})
    assert r.status_code == 200
    m = r.json()
    assert m["n"] == N_IMAGES and m["method"] == "pca" and m["version"] == ref.version
    assert m["relpaths"] == [rec.path for rec in ref.records()]
    coords, _ = project_2d(np.asarray(ref.latents), method="pca", seed=0)
    q = np.column_stack([m["x"], m["y"]]).astype(np.float64)
    assert q.min() >= 0 and q.max() == 65535
    # one scale for both axes: the map is the projection, moved and scaled uniformly
    d_map = np.linalg.norm(q[:, None] - q[None], axis=-1)
    d_ref = np.linalg.norm(coords[:, None] - coords[None], axis=-1).astype(np.float64)
    np.testing.assert_allclose(d_map / d_map.max(), d_ref / d_ref.max(), atol=1e-4)
    groups = ref.load_groups()  # coloured by the groups: colour c is the c-th group by index
    order = sorted(groups.groups, key=lambda g: g.index)
    assert [e["name"] for e in m["legend"]] == [f"group {g.index}" for g in order]
    for c, g in enumerate(order):
        assert [i for i, col in enumerate(m["color"]) if col == c] == g.members
    assert client.get("/api/map/points", params={"method": "pca"}).json() == m  # kept
    assert_error(client.get("/api/map/points", params={"method": "mds"}), 422, "method:")


def test_map_points_colour_by_label_without_groups(bare_collection):
    with TestClient(create_app(bare_collection)) as c:
        m = c.get("/api/map/points", params={"method": "pca"}).json()
    assert m["color_by"] == "label"
    assert [e["name"] for e in m["legend"]] == [f"fam{f}" for f in range(4)]
    assert [e["size"] for e in m["legend"]] == [6] * 4
    assert m["color"] == [int(p.split("/")[0][3:]) for p in m["relpaths"]]


@pytest.mark.parametrize("metric", ["l2", "cosine", "l1"])
def test_search_gives_the_typical_nearest_neighbour_distance(client, ref, metric):
    from imsim.distances import pairwise

    X = np.asarray(ref.latents)
    D = pairwise(X, X, metric).astype(np.float64)
    np.fill_diagonal(D, np.inf)
    r = client.post("/api/search", data={"id": 0, "n": 3, "metric": metric}).json()
    assert r["typical_distance"] == pytest.approx(np.median(D.min(axis=1)), rel=1e-5)


def test_duplicates_route_follows_the_contract(client, ref, with_duplicates):
    r = client.get("/api/duplicates")
    assert r.status_code == 200
    assert r.json() == {"version": ref.version, **with_duplicates(ref).to_dict()}
    some = client.get("/api/duplicates", params={"threshold": 0.0}).json()
    assert some == {"version": ref.version, **with_duplicates(ref, 0.0).to_dict()}
    # the library checks the threshold (as for `imsim duplicates`): its message, a 422 body
    for bad in ("-1", "nan", "inf"):
        assert_error(client.get("/api/duplicates", params={"threshold": bad}), 422,
                     r"^threshold must be a distance, a finite number >= 0, got", error="invalid")
    assert_error(client.get("/api/duplicates", params={"threshold": "x"}), 422, "threshold")


def test_unknown_routes_and_methods_are_json(client):
    assert_error(client.get("/api/nothing"), 404, "not found", error="not_found")
    r = client.get("/api/search")
    assert_error(r, 405, "method not allowed", error="method_not_allowed")
    assert "POST" in r.headers["allow"]


def test_host_header_outside_the_allowed_names_is_refused(bare_collection):
    app = create_app(bare_collection, allowed_hosts=["localhost", "127.0.0.1", "::1"])
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
        with TestClient(app, base_url=f"http://{host}") as c:
            assert c.get("/api/health").status_code == 200, host
    with TestClient(app, base_url="http://attacker.example") as c:
        assert_error(c.get("/api/health"), 400, "attacker.example")
        r = c.get("/api/images/1")
        assert_error(r, 400, "not served here", error="host_not_served")
        assert r.headers["x-content-type-options"] == "nosniff"


def test_an_unexpected_failure_is_a_json_500(app, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(app.state.live.current.coll, "query", broken)
    c = TestClient(app, raise_server_exceptions=False)
    r = c.post("/api/search", data={"id": 1})
    assert_error(r, 500, "internal error", error="internal_error")
    assert "disk on fire" not in r.text  # no internals to the client


def test_create_app_rejects_bad_arguments(tmp_path, bare_collection):
    with pytest.raises(FileNotFoundError, match="collection not found"):
        create_app(tmp_path / "nothing")
    with pytest.raises(ValueError, match="max_upload_mb"):
        create_app(bare_collection, max_upload_mb=0)


def test_responses_are_plain_json(client, ref):
    """ids and distances survive the standard json module (no NaN, no numpy scalars) and
    equal the library's answer, float for float."""
    r = client.post("/api/search", data={"id": 2, "n": 3})
    assert r.headers["content-type"] == "application/json"

    def refuse(token):
        raise AssertionError(f"not plain JSON: {token}")

    body = json.loads(r.text, parse_constant=refuse)
    hits = body["results"]
    lib = ref.query(2, 3)
    assert [h["id"] for h in hits] == [h.id for h in lib.hits] and len(hits) == 3
    assert [h["distance"] for h in hits] == [float(h.distance) for h in lib.hits]
    assert all(type(h["id"]) is int and type(h["distance"]) is float for h in hits)
