"""``imsim serve``: the web page and JSON API over a collection."""
from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import List, Optional

import typer

from imsim._text import safe_name
from imsim.web import DECODE_MEMORY_MB, MAX_PIXELS, MAX_UPLOAD_MB
from .collections import COLLECTION_HELP, resolve_collection


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        collection: Optional[Path] = typer.Option(None, "-c", "--collection",
                                                  help=COLLECTION_HELP),
        host: str = typer.Option("127.0.0.1", "--host",
                                 help="Address to listen on (0.0.0.0: every network interface)."),
        port: int = typer.Option(8000, "--port", help="TCP port (0: any free port)."),
        max_upload_mb: float = typer.Option(MAX_UPLOAD_MB, "--max-upload-mb",
                                            help="Largest upload, MiB."),
        max_pixels: int = typer.Option(MAX_PIXELS, "--max-pixels",
                                       help="Largest image decoded (an upload or a photo), pixels."),
        decode_memory_mb: float = typer.Option(
            DECODE_MEMORY_MB, "--decode-memory-mb",
            help="MiB of decoded images held at once by all requests together; more decodes wait."),
        allow_host: Optional[List[str]] = typer.Option(
            None, "--allow-host", metavar="NAME", help="Also answer requests for this Host name (repeatable; "
                                       "'*' answers any). Default: this machine's names and "
                                       "addresses."),
        access_log: bool = typer.Option(False, "--access-log/--no-access-log",
                                        help="Print a line for every request."),
    ):
        """Serve a web page for querying COLLECTION by image, and its JSON API.

        Open the printed address in a browser. The API is described at /api/openapi.json.
        The server follows the collection: after `imsim index` it answers from the new
        version.
        """
        if not 0 <= port <= 65535:
            raise ValueError(f"--port must be a TCP port, 0..65535 (0: any free port), got {port}")
        if not (math.isfinite(max_upload_mb) and max_upload_mb > 0):
            raise ValueError(f"--max-upload-mb must be a positive number of MiB, got {max_upload_mb}")
        if max_pixels < 1:
            raise ValueError(f"--max-pixels must be a positive number of pixels, got {max_pixels}")
        if not (math.isfinite(decode_memory_mb) and decode_memory_mb > 0):
            raise ValueError(f"--decode-memory-mb must be a positive number of MiB, got "
                             f"{decode_memory_mb}")

        from imsim.web import WebServer, create_app, is_loopback
        from imsim.web.server import host_names

        collection = resolve_collection(collection)
        hosts = (*host_names(host), *(h.strip().lower() for h in allow_host or ()))
        web = create_app(collection, max_upload_mb=max_upload_mb, max_pixels=max_pixels,
                         decode_budget_mb=decode_memory_mb, allowed_hosts=hosts)
        server = WebServer(web, host=host, port=port, access_log=access_log)
        coll = web.state.live.current.coll
        typer.echo(f"serving {safe_name(coll.path)} ({len(coll):,} images, version {coll.version})")
        typer.echo(f"open {server.url} in a browser; Ctrl+C stops the server")
        if not is_loopback(host):
            typer.echo(f"note: listening on {host}: anyone who can reach this machine can "
                       f"search the collection and see its photos", err=True)
        with _print_version_changes():
            try:
                server.run()
            except KeyboardInterrupt:  # uvicorn stops gracefully, then raises Ctrl+C again
                pass
        typer.echo("server stopped")


@contextlib.contextmanager
def _print_version_changes():
    """While serving, print the web app's own messages (a new version served, one that
    cannot be opened) as plain lines on stderr."""
    class Plain(logging.Formatter):
        def format(self, record):
            text = super().format(record)
            return f"warning: {text}" if record.levelno >= logging.WARNING else text

    handler = logging.StreamHandler()
    handler.setFormatter(Plain("%(message)s"))
    log = logging.getLogger("imsim.web")
    before = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(before[0])
        log.propagate = before[1]
