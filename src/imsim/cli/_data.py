"""``--data-dir``: the folder holding a named data set's files, for every command that
takes a catalog name (``-d mnist``)."""
from __future__ import annotations

import typer

DATA_DIR = typer.Option(
    None, "--data-dir",
    help="Folder holding a named data set's files (e.g. the MNIST idx files), looked in "
         "before the cache [default: the cache, else a download].")
