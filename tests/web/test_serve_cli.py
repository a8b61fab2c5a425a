"""``imsim serve``: the command line around create_app and WebServer."""
from __future__ import annotations

import socket

import pytest

from imsim.cli.main import main
from imsim.web import WebServer, is_loopback


@pytest.fixture
def captured_server(monkeypatch):
    """Replace the blocking run with a record of the server that would have run."""
    servers = []
    monkeypatch.setattr(WebServer, "run", lambda self: (servers.append(self), self.socket.close()))
    return servers


def test_serve_binds_loopback_and_answers_loopback_names_only(bare_collection, captured_server, capsys):
    assert main(["serve", "-c", str(bare_collection), "--port", "0"]) == 0
    out = capsys.readouterr()
    (server,) = captured_server
    assert server.host == "127.0.0.1" and server.port > 0
    # asyncio sets TCP_NODELAY only on connections of IPPROTO_TCP sockets: without it
    # every keep-alive response waits 40 ms for a delayed ACK
    assert server.socket.proto == socket.IPPROTO_TCP
    assert f"open http://127.0.0.1:{server.port}/ in a browser" in out.out and "24 images" in out.out
    assert "anyone" not in out.err
    guard = server._server.config.app.user_middleware[0]
    assert set(guard.kwargs["allowed_hosts"]) == {"localhost", "127.0.0.1", "::1"}
    assert guard.kwargs["max_body"] == 32 * 2**20 + 64 * 2**10


def test_serve_on_all_interfaces_warns_and_still_checks_host_names(bare_collection, captured_server,
                                                                  capsys):
    assert main(["serve", "-c", str(bare_collection), "--host", "0.0.0.0", "--port", "0",
                 "--max-upload-mb", "2", "--allow-host", "Photos.Example"]) == 0
    err = capsys.readouterr().err
    assert "anyone who can reach this machine" in err
    guard = captured_server[0]._server.config.app.user_middleware[0]
    hosts = set(guard.kwargs["allowed_hosts"])
    # a wildcard bind no longer answers any Host: this machine's names, and the ones added
    assert {"localhost", "127.0.0.1", socket.gethostname().lower(), "photos.example"} <= hosts
    assert "0.0.0.0" not in hosts and "evil.example" not in hosts
    assert guard.kwargs["max_body"] == 2 * 2**20 + 2**16


@pytest.mark.parametrize("flags, message", [
    (["--port", "70000"], "error: --port must be a TCP port, 0..65535 (0: any free port), got 70000"),
    (["--port", "-1"], "error: --port must be a TCP port, 0..65535 (0: any free port), got -1"),
    (["--max-upload-mb", "inf"], "error: --max-upload-mb must be a positive number of MiB, got inf"),
    (["--max-upload-mb", "nan"], "error: --max-upload-mb must be a positive number of MiB, got nan"),
    (["--max-upload-mb", "0"], "error: --max-upload-mb must be a positive number of MiB, got 0.0"),
    (["--max-pixels", "0"], "error: --max-pixels must be a positive number of pixels, got 0"),
])
def test_serve_bad_limits_are_one_line(bare_collection, captured_server, capsys, flags, message):
    assert main(["serve", "-c", str(bare_collection), *flags]) == 1
    assert capsys.readouterr().err.strip() == message and not captured_server


def test_serve_errors_are_one_line(tmp_path, bare_collection, capsys):
    assert main(["serve", "-c", str(tmp_path / "missing")]) == 1
    assert capsys.readouterr().err.strip() == f"error: collection not found: {tmp_path / 'missing'}"
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert main(["serve", "-c", str(bare_collection), "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}") and "--port" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("host, expected", [("127.0.0.1", True), ("127.3.4.5", True), ("::1", True),
                                            ("localhost", True), ("0.0.0.0", False),
                                            ("192.168.1.2", False), ("example.org", False)])
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


def test_serve_defaults_are_the_web_limits():
    """``imsim serve``'s defaults are web/_limits.py's, which create_app uses (the CLI reads
    that module without loading FastAPI)."""
    import inspect

    import typer

    from imsim.cli.main import app
    from imsim.web import _limits, create_app

    serve = typer.main.get_command(app).commands["serve"]
    cli = {p.name: p.default for p in serve.params}
    lib = inspect.signature(create_app).parameters
    assert cli["max_upload_mb"] == lib["max_upload_mb"].default == _limits.MAX_UPLOAD_MB
    assert cli["max_pixels"] == lib["max_pixels"].default == _limits.MAX_PIXELS
    assert cli["decode_memory_mb"] == lib["decode_budget_mb"].default == _limits.DECODE_MEMORY_MB
