"""imsim serve, started as a person starts it: imsim's own start-up lines, none of
uvicorn's INFO lines, its warnings kept, a clean stop on Ctrl+C (SIGINT)."""
from __future__ import annotations

import re
import shlex
import signal
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from imsim.cli.main import main

pytestmark = pytest.mark.slow  # starts a server process

VIRTUAL_LIMIT_KB = 5_000_000  # the server idles at ~1.1 GB of address space (torch)


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    rng = np.random.default_rng(0)
    (root / "photos").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(root / "photos" / f"{i}.png")
    assert main(["index", str(root / "photos"), "-c", str(root / "c"), "--encoder", "thumbnail"]) == 0
    return root / "c"


def _serve(collection, *args) -> tuple[subprocess.Popen, str, str]:
    """Start ``imsim serve`` on a free port; return it, its first line and its address
    once the page answers."""
    cmd = (f"ulimit -v {VIRTUAL_LIMIT_KB}; exec {shlex.quote(sys.executable)} -m imsim serve "
           f"-c {shlex.quote(str(collection))} --port 0 " + " ".join(args))
    proc = subprocess.Popen(["bash", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first, second = proc.stdout.readline(), proc.stdout.readline()
    m = re.fullmatch(r"open (http://127\.0\.0\.1:\d+/) in a browser; Ctrl\+C stops the server\n", second)
    assert m, (first, second, proc.stderr.read() if proc.poll() is not None else "")
    url = m.group(1)
    for _ in range(300):  # the address is printed just before the server accepts
        try:
            assert httpx.get(url, timeout=30).status_code == 200
            break
        except httpx.TransportError:
            time.sleep(0.05)
    return proc, first, url


def _stop(proc) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, (out, err)
    return out, err


def test_serve_prints_its_own_lines_and_uvicorns_warnings_only(collection):
    proc, first, url = _serve(collection)
    try:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:  # not HTTP
            s.sendall(b"GARBAGE\x00\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 400")
        assert httpx.get(url + "api/nope", timeout=30).status_code == 404
    finally:
        out, err = _stop(proc)
    assert first == f"serving {collection} (3 images, version v000001)\n"
    assert out == "server stopped\n"  # no access log by default
    assert err == "WARNING:  Invalid HTTP request received.\n"  # uvicorn's warnings stay
    assert "INFO" not in first + out + err


def test_serve_access_log_prints_plain_request_lines(collection):
    proc, _, url = _serve(collection, "--access-log")
    try:
        assert httpx.get(url + "api/nope", timeout=30).status_code == 404
    finally:
        out, err = _stop(proc)
    lines = out.splitlines()
    assert re.fullmatch(r'127\.0\.0\.1:\d+ - "GET / HTTP/1\.1" 200 OK', lines[0]), lines
    assert re.fullmatch(r'127\.0\.0\.1:\d+ - "GET /api/nope HTTP/1\.1" 404 Not Found', lines[1]), lines
    assert lines[2:] == ["server stopped"] and err == ""


def test_serve_says_when_it_follows_a_new_version(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(np.full((24, 24, 3), 60 * i, dtype=np.uint8)).save(photos / f"{i}.png")
    assert main(["index", str(photos), "-c", str(tmp_path / "c"), "--encoder", "thumbnail"]) == 0
    proc, _, url = _serve(tmp_path / "c")
    try:
        Image.fromarray(np.full((24, 24, 3), 250, dtype=np.uint8)).save(photos / "3.png")
        assert main(["index", str(photos), "-c", str(tmp_path / "c")]) == 0
        for _ in range(300):  # the server looks at the collection on requests, once a second
            if httpx.get(url + "api/health", timeout=30).json()["version"] == "v000002":
                break
            time.sleep(0.05)
    finally:
        out, err = _stop(proc)
    assert err == "now serving version v000002 (4 images)\n" and out == "server stopped\n"
