"""``imsim models fetch | list``: a real HTTP download from a loopback server, and the
offline path for real (a loopback port that refuses connections)."""
from __future__ import annotations

import hashlib
import http.server
import socket
import threading

import pytest

from imsim.encoders import model_cache as models_cache
from imsim.cli.main import main

FILES = {"/m/image.onnx": b"image tower bytes" * 100, "/m/text.onnx": b"text tower",
         "/m/tokenizer.json": b"{}"}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("IMSIM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _model(sha=None):
    """A known model of three files; ``sha`` overrides the pinned digests."""
    files = tuple(models_cache.ModelFile(url.rsplit("/", 1)[1], url,
                                         (sha or {}).get(url, hashlib.sha256(data).hexdigest()))
                  for url, data in FILES.items())
    return models_cache.KnownModel("tiny", "a test model", files, {"output": "y"})


@pytest.fixture
def server():
    """A loopback HTTP server of FILES; yields its base URL."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            data = FILES.get(self.path)
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)  # shut down in 0.05 s, not 0.5 s
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _refused_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_fetch_says_which_files_to_put_where_and_writes_nothing(home, monkeypatch, capsys):
    monkeypatch.setenv(models_cache.MIRROR_ENV, f"http://127.0.0.1:{_refused_port()}")
    assert main(["models", "fetch", "clip-vit-b32"]) == 1
    err = capsys.readouterr().err
    folder = home / "models" / "clip-vit-b32"
    assert err.count("\n") == 1 and "cannot download clip-vit-b32" in err
    for name in ("image.onnx", "text.onnx", "tokenizer.json"):
        assert name in err
    assert f"into {folder}/" in err
    assert list(folder.iterdir()) == []  # no partial or temporary file
    assert main(["models", "list"]) == 0
    assert "incomplete" in capsys.readouterr().out
    assert main(["index", str(home), "--encoder", "onnx:clip-vit-b32", "-c", str(home / "c")]) == 1
    assert "run `imsim models fetch clip-vit-b32`" in capsys.readouterr().err


def test_fetch_downloads_verifies_and_lists(home, server, monkeypatch, capsys):
    monkeypatch.setenv(models_cache.MIRROR_ENV, server)
    monkeypatch.setitem(models_cache.KNOWN, "tiny", _model())
    assert main(["models", "fetch", "tiny"]) == 0
    folder = home / "models" / "tiny"
    for url, data in FILES.items():
        assert (folder / url.rsplit("/", 1)[1]).read_bytes() == data
    assert (folder / models_cache.CONFIG).read_text().strip().startswith("{")
    assert "image.onnx" in (folder / "SHA256SUMS").read_text()
    assert models_cache.image_model("tiny") == folder / "image.onnx"
    capsys.readouterr()
    assert main(["models", "list"]) == 0
    assert "tiny" in capsys.readouterr().out


def test_a_file_with_another_checksum_is_not_kept(home, server, monkeypatch, capsys):
    monkeypatch.setenv(models_cache.MIRROR_ENV, server)
    monkeypatch.setitem(models_cache.KNOWN, "tiny", _model({"/m/text.onnx": "0" * 64}))
    assert main(["models", "fetch", "tiny"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not the pinned" in err
    folder = home / "models" / "tiny"
    assert sorted(p.name for p in folder.iterdir()) == ["image.onnx"]  # verified before it; no temp
    assert models_cache.image_model("tiny") is None


def test_an_unknown_model_lists_the_known_ones(home, capsys):
    assert main(["models", "fetch", "nope"]) == 1
    assert "known models: clip-vit-b32" in capsys.readouterr().err
