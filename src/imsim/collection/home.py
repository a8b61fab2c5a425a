"""Where collections live when the user names none: ``$IMSIM_HOME/collections/``.

``imsim index ~/Photos`` without ``-c`` builds (or updates)
``$IMSIM_HOME/collections/Photos-1a2b3c4d``: the folder's name and a short hash of its
absolute path, so two folders called ``Photos`` get two collections. ``IMSIM_HOME``
defaults to ``$XDG_DATA_HOME/imsim``, else ``~/.local/share/imsim``. A collection made
elsewhere with ``-c`` is remembered in ``$IMSIM_HOME/known.json`` so that later
commands find it too.

:func:`find_collection` picks the collection for a command given no ``-c``: the one that
indexed the folder holding a path (the deepest such folder), else the only one, else the
most recently updated; it says which rule chose it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .._io import data_home, write_text_atomic
from ._store import POINTER, VERSIONS, read_json, read_pointer

__all__ = ["KnownCollection", "home", "collections_dir", "default_location",
           "known_collections", "find_collection", "read_collection", "remember"]

_KNOWN = "known.json"


def home() -> Path:
    """imsim's data folder: ``$IMSIM_HOME``, ``$XDG_DATA_HOME/imsim`` or ``~/.local/share/imsim``."""
    return data_home()


def collections_dir() -> Path:
    """The folder that holds the default collections."""
    return home() / "collections"


def default_location(photos_dir) -> Path:
    """The collection of ``photos_dir`` when none is named: ``NAME-HASH`` in :func:`collections_dir`.

    HASH is the first 8 hex digits of the SHA-256 of the folder's absolute path.
    """
    folder = Path(photos_dir).expanduser().resolve()
    digest = hashlib.sha256(str(folder).encode("utf-8")).hexdigest()[:8]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in folder.name) or "root"
    return collections_dir() / f"{name}-{digest}"


@dataclass(frozen=True)
class KnownCollection:
    """A collection found on disk: where it is, what it indexed, how big, how recent."""

    path: Path
    photos_root: Path
    n_images: int
    version: str
    updated: float  # seconds since the epoch: when its current version was committed
    encoder: str = "?"  # the encoder its current version was built with ("?": not recorded)

    def describe(self) -> str:
        return f"{self.path} ({self.n_images:,} images of {self.photos_root})"


def read_collection(path) -> KnownCollection | None:
    """The collection at ``path``, or None when it is not one (or cannot be read)."""
    path = Path(path).expanduser()
    try:
        info = read_pointer(path)
        manifest = read_json(path / VERSIONS / info["current"] / "manifest.json")
        return KnownCollection(path=path, photos_root=Path(manifest["photos_root"]),
                               n_images=int(manifest.get("n_images", 0)),
                               version=str(info["current"]),
                               updated=(path / POINTER).stat().st_mtime,
                               encoder=str((manifest.get("encoder") or {}).get("name") or "autoencoder"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remembered() -> list[Path]:
    try:
        paths = json.loads((home() / _KNOWN).read_text(encoding="utf-8"))
        return [Path(p) for p in paths if isinstance(p, str)]
    except (OSError, ValueError, TypeError):
        return []


def remember(path) -> None:
    """Add a collection made outside :func:`collections_dir` to ``known.json``."""
    path = Path(path).expanduser().resolve()
    if path.parent == collections_dir().resolve():
        return
    paths = [p for p in _remembered() if p != path and read_collection(p) is not None] + [path]
    try:
        home().mkdir(parents=True, exist_ok=True)
        write_text_atomic(home() / _KNOWN, json.dumps([str(p) for p in paths], indent=1) + "\n")
    except OSError:  # a read-only home: the collection still works with -c
        pass


def known_collections() -> list[KnownCollection]:
    """Every readable collection in :func:`collections_dir` or ``known.json``, newest first."""
    found: dict[Path, KnownCollection] = {}
    folder = collections_dir()
    candidates = sorted(folder.iterdir()) if folder.is_dir() else []
    for path in [*candidates, *_remembered()]:
        coll = read_collection(path)
        if coll is not None:
            found.setdefault(path.resolve(), coll)
    return sorted(found.values(), key=lambda c: c.updated, reverse=True)


def find_collection(near=None) -> tuple[KnownCollection, str]:
    """The collection a command without ``-c`` uses, and why (for the message).

    Parameters
    ----------
    near : path-like, optional
        A query image or the current folder: a collection that indexed a folder
        holding it wins (the deepest folder, then the newest).

    Raises
    ------
    FileNotFoundError
        There is no collection yet.
    """
    known = known_collections()
    if not known:
        raise FileNotFoundError(
            f"no collection yet: index a folder first (`imsim index PHOTOS_DIR` makes one under "
            f"{collections_dir()}), or name one with -c COLLECTION")
    if near is not None:
        near = Path(near).expanduser().resolve()
        holders = [c for c in known if near == c.photos_root or c.photos_root in near.parents]
        if holders:
            best = max(holders, key=lambda c: (len(c.photos_root.parts), c.updated))
            return best, f"it indexed {best.photos_root}"
    if len(known) == 1:
        return known[0], "the only one"
    return known[0], (f"the most recently updated of {len(known)} collections; "
                      f"`imsim collections` lists them, -c picks one")
