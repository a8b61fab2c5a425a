"""What the server refuses before any work: other sites, slow clients, malformed bodies;
and the headers on every response."""
from __future__ import annotations

import json
import socket
import warnings

import pytest

from imsim.web import WebServer, create_app
from imsim.web import server as server_mod

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def app(bare_collection):
    return create_app(bare_collection, body_timeout=1.0)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def query_calls(app, monkeypatch):
    """Every Collection.query the app makes during the test."""
    coll = app.state.live.current.coll
    calls, real = [], coll.query
    monkeypatch.setattr(coll, "query", lambda *a, **k: calls.append(a) or real(*a, **k))
    return calls


@pytest.mark.parametrize("path", ["/", "/api/health", "/api/images/1", "/api/images/1?size=original",
                                  "/api/images/999", "/static/app.js", "/nowhere"])
def test_every_response_forbids_other_origins_to_embed_it(client, path):
    r = client.get(path)
    assert r.headers["cross-origin-resource-policy"] == "same-origin"
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
@pytest.mark.parametrize("path", ["/api/images/1", "/api/images/1?size=original", "/api/health",
                                  "/api/images"])
def test_reads_made_by_other_sites_are_refused(client, site, path):
    r = client.get(path, headers={"sec-fetch-site": site, "sec-fetch-mode": "no-cors"})
    assert r.status_code == 403 and "another site" in r.json()["detail"]
    assert r.json()["error"] == "cross_site"
    assert r.headers["cross-origin-resource-policy"] == "same-origin"
    assert client.get(path, headers={"sec-fetch-site": "same-origin"}).status_code == 200
    assert client.get(path, headers={"sec-fetch-site": "none"}).status_code == 200  # typed URL


def test_a_link_from_another_site_still_opens_the_page(client):
    nav = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}
    assert client.get("/", headers=nav).status_code == 200
    assert client.get("/api/images/1", headers=nav).status_code == 403


def test_a_cross_site_no_cors_post_is_not_processed(client, query_calls):
    form = {"id": "1", "n": "3"}
    r = client.post("/api/search", data=form, headers={"sec-fetch-site": "cross-site",
                                                       "sec-fetch-mode": "no-cors"})
    assert r.status_code == 403
    # an older browser: no Sec-Fetch-*, but the Origin of the page that posted
    for origin in ("http://evil.example", "null", "http://testserver.evil.example"):
        r = client.post("/api/search", data=form, headers={"origin": origin})
        assert r.status_code == 403 and "another origin" in r.json()["detail"]
    assert query_calls == []
    # the page itself posts with its own origin; scripts and curl send none
    assert client.post("/api/search", data=form, headers={"origin": "http://testserver"}).status_code == 200
    assert client.post("/api/search", data=form).status_code == 200
    assert len(query_calls) == 2


def test_deeply_nested_json_and_too_many_fields_are_400(client):
    deep = "[" * 100_000 + "]" * 100_000
    r = client.post("/api/search", content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "nested too deeply" in r.json()["detail"]
    body = "&".join(f"f{i}=1" for i in range(1001)) + "&id=1"
    r = client.post("/api/search", content=body,
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "Too many fields" in r.json()["detail"]
    r = client.post("/api/search", files={"image": ("q.png", b"x")},
                    data={f"f{i}": "1" for i in range(20)})
    assert r.status_code == 400 and "Too many fields" in r.json()["detail"]


def _raw(port: int, data: bytes, wait: float = 30.0) -> bytes:
    """Send ``data`` on a fresh connection; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.slow
def test_slow_clients_are_timed_out(app, monkeypatch):
    monkeypatch.setattr(server_mod, "HEADER_TIMEOUT", 0.5)
    server = WebServer(app, port=0, access_log=False, log_level="warning").start()
    try:
        # headers that never end: the connection is closed, nothing is answered
        assert _raw(server.port, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") == b""
        # a body that never comes: 408 after body_timeout (1 s)
        head = (b"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                b"Content-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n{")
        answer = _raw(server.port, head)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"did not arrive within 1 s" in answer
        # an ordinary request on the same server is answered
        ok = _raw(server.port, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200") and json.loads(ok.split(b"\r\n\r\n", 1)[1])["status"] == "ok"
    finally:
        server.stop()


def test_host_names_outside_the_list_are_refused_on_any_bind(bare_collection):
    from imsim.web.server import host_names

    names = host_names("0.0.0.0")
    assert "localhost" in names and socket.gethostname().lower() in names and "0.0.0.0" not in names
    assert "192.0.2.7" in host_names("192.0.2.7")
    with TestClient(create_app(bare_collection, allowed_hosts=names)) as c:
        r = c.get("/api/health", headers={"host": "rebound.evil.example"})
        assert r.status_code == 400 and "--allow-host" in r.json()["detail"]
        assert c.get("/api/health", headers={"host": f"{socket.gethostname()}:8000"}).status_code == 200
    with TestClient(create_app(bare_collection, allowed_hosts=("*",))) as c:
        assert c.get("/api/health", headers={"host": "any.example"}).status_code == 200


def test_create_app_rejects_infinite_limits(bare_collection):
    for kwargs in ({"max_upload_mb": float("inf")}, {"max_pixels": 0}, {"body_timeout": float("nan")},
                   {"decode_budget_mb": -1}):
        with pytest.raises(ValueError, match="positive finite number"):
            create_app(bare_collection, **kwargs)

