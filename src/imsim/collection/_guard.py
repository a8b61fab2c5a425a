"""Checks that run before a collection is written.

Everything a build needs is checked before the collection folder is created or
locked (a missing photo folder, ``--epochs 0``, ``--workers -1``), so a bad
command leaves nothing behind; indexing another folder than the collection's needs
``replace``. (``--retrain`` of a collection that cannot be opened rebuilds it:
:func:`._build.rebuild_damaged`.)
"""
from __future__ import annotations

from pathlib import Path

from .._validation import check_positive_int
from . import _model


def check_same_folder(current, photos: Path, replace: bool) -> None:
    """Refuse to index another folder into ``current`` unless ``replace``."""
    if replace or not photos.exists():
        return
    if photos.resolve() != current.photos_root:
        raise ValueError(f"collection {current.path} indexes {current.photos_root}, not {photos.resolve()}; "
                         f"pass replace=True to replace its photos with this folder's, "
                         f"or give another collection")


def check_write_args(photos: Path, workers, training: dict, *, trains: bool) -> None:
    """Check what a build needs before anything is written (no lock, no folder made)."""
    if not photos.exists():
        raise FileNotFoundError(f"image folder not found: {photos}")
    if not photos.is_dir():
        raise NotADirectoryError(f"expected a folder of images, got a file: {photos}")
    if workers is not None:
        check_positive_int(workers, "workers")
    if trains:
        check_positive_int(training.get("epochs", _model.DEFAULT_EPOCHS), "epochs")
