"""``--engine local|dask`` and ``--address``: where a command's heavy work runs."""
from __future__ import annotations

import contextlib

import typer

ENGINE = typer.Option(
    "local", "--engine", help="Where the heavy work runs: local (this process) or dask (worker "
                              "processes; needs pip install 'imsim[dask]'). See docs/SCALING.md.")
ADDRESS = typer.Option(
    None, "--address", help="Dask scheduler to use, tcp://HOST:PORT (default with --engine dask: "
                            "start 2 workers on 127.0.0.1).")


@contextlib.contextmanager
def engine_for(name: str, address: str | None):
    """The engine a command asked for, closed when the command ends (None for local,
    so the library runs exactly its local code)."""
    from imsim.engine import get_engine

    engine = get_engine(name, address=address)
    try:
        yield engine if engine.distributed else None
    finally:
        engine.close()
