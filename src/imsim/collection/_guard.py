"""Checks that run before a collection is written, and the rebuild of a damaged one.

Everything a build needs is checked before the collection folder is created or
locked (a missing photo folder, ``--epochs 0``, ``--workers -1``), so a bad
command leaves nothing behind; indexing another folder than the collection's needs
``replace``; ``--retrain`` of a collection that cannot be opened rebuilds it.
"""
from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from .._validation import DataFormatError, check_positive_int
from . import _model, _store
from ._settings import CollectionSettings

C = TypeVar("C")  # the collection class a rebuild returns an instance of


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


def rebuild_damaged(cls: type[C], root: Path, photos_dir, given: dict, **kwargs) -> C:
    """``--retrain`` of a collection that cannot be opened: rebuild it from its manifest's
    photos folder and settings (or the given ones); the damaged version is pruned after."""
    try:
        info = _store.read_pointer(root)
        manifest = _store.read_json(root / _store.VERSIONS / info["current"] / "manifest.json")
        old = dict(manifest.get("settings") or {})
        photos = manifest.get("photos_root")
    except (OSError, ValueError):
        old, photos = {}, None
    if photos_dir is None:
        if photos is None:
            raise DataFormatError(f"collection {root} is too damaged to know its photos folder; "
                                  f"give it: `imsim index PHOTOS_DIR -c {root} --retrain`")
        photos_dir = photos
    settings = {k: v for k, v in {**old, **given}.items() if k in CollectionSettings.__dataclass_fields__}
    training = _model.merge_training(epochs=kwargs.pop("epochs"), seed=kwargs.pop("seed"))
    return cls.build(photos_dir, root, **kwargs, **training, **settings)
