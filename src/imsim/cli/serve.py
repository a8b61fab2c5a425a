"""``imsim serve``: the web page and JSON API over a collection."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .collections import COLLECTION_HELP, resolve_collection


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        collection: Optional[Path] = typer.Option(None, "-c", "--collection",
                                                  help=COLLECTION_HELP),
        host: str = typer.Option("127.0.0.1", "--host",
                                 help="Address to listen on (0.0.0.0: every network interface)."),
        port: int = typer.Option(8000, "--port", help="TCP port (0: any free port)."),
        max_upload_mb: float = typer.Option(10.0, "--max-upload-mb", help="Largest upload, MiB."),
        access_log: bool = typer.Option(True, "--access-log/--no-access-log",
                                        help="Log every request."),
    ):
        """Serve a web page for querying COLLECTION by image, and its JSON API.

        Open the printed address in a browser. The API is described at /api/openapi.json.
        """
        from imsim.web import WebServer, create_app, is_loopback
        from imsim.web.server import LOOPBACK_NAMES

        collection = resolve_collection(collection)
        loopback = is_loopback(host)
        web = create_app(collection, max_upload_mb=max_upload_mb,
                         allowed_hosts=(*LOOPBACK_NAMES, host) if loopback else None)
        server = WebServer(web, host=host, port=port, access_log=access_log)
        coll = web.state.collection
        typer.echo(f"serving {coll.path} ({len(coll):,} images, version {coll.version}) "
                   f"at {server.url}  (Ctrl+C stops)")
        if not loopback:
            typer.echo(f"note: listening on {host}: anyone who can reach this machine can "
                       f"search the collection and see its photos", err=True)
        server.run()
