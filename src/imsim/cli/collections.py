"""``imsim collections``, and how the collection commands find a collection without ``-c``.

The rules (default locations, ``known.json``) are in :mod:`imsim.collection.home`;
this module turns them, and the usual mistakes with paths, into one-line messages.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

#: the ``-c`` option of every command that reads a collection
COLLECTION_HELP = ("The collection directory [default: the collection that indexed the folder "
                   "of the photo or of the current folder, else the only one; when several "
                   "could serve, -c is asked for; `imsim collections` lists them].")

# suffixes that make a path look like a photo rather than a collection
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".heic",
                   ".svg", ".avif"}


def _is_collection(path: Path) -> bool:
    from imsim.collection import POINTER

    return path.is_dir() and (path / POINTER).is_file()


def _looks_like_image(path: Path) -> bool:
    return path.is_file() or path.suffix.lower() in _IMAGE_SUFFIXES


def check_collection_arg(collection: Optional[Path]) -> None:
    """One clear line for ``-c`` naming a file (often a photo) instead of a collection."""
    if collection is not None and Path(collection).expanduser().is_file():
        raise ValueError(f"-c {collection} is a file, not a collection: a collection is the "
                         f"folder that `imsim index PHOTOS_DIR -c COLLECTION` writes")


def check_query_args(image: Path, collection: Optional[Path]) -> None:
    """Catch a folder given as the query image, and the two arguments swapped."""
    p = Path(image).expanduser()
    if _is_collection(p):
        if collection is not None and _looks_like_image(Path(collection)):
            raise ValueError(f"{image} is a collection and {collection} a photo: the photo comes "
                             f"first. Did you mean `imsim query {collection} -c {image}`?")
        raise ValueError(f"{image} is a collection, not a photo: give the photo to look for, "
                         f"e.g. `imsim query PHOTO.jpg -c {image}`")
    if p.is_dir():
        raise ValueError(f"{image} is a folder, not a photo: query takes one image file "
                         f"(`imsim index {image}` indexes a whole folder)")
    check_collection_arg(collection)
    if collection is None and not p.exists() and not p.is_symlink():
        # said before a collection is chosen (and named on stderr) for nothing
        raise ValueError(f"{image}: no such file (query takes the path of one image file)")


def _candidate(c) -> str:
    return f"{c.path} ({c.encoder}, {c.n_images:,} images of {c.photos_root})"


def resolve_collection(collection: Optional[Path], *, near=None) -> Path:
    """``collection`` when given; else the one collection that can serve, said on stderr.

    ``near`` is the query photo, or None for the current folder. A collection that
    indexed a folder holding ``near`` serves (the deepest such folder); else the only
    collection there is. When several could serve equally (one folder indexed into
    several collections, or several collections and none of them holding ``near``) no
    guess is made: the error lists them and asks for ``-c``.
    """
    if collection is not None:
        check_collection_arg(collection)
        return collection
    from imsim.collection.home import collections_dir, known_collections

    known = known_collections()
    if not known:
        raise FileNotFoundError(
            f"no collection yet: index a folder first (`imsim index PHOTOS_DIR` makes one under "
            f"{collections_dir()}), or name one with -c COLLECTION")
    where = Path.cwd() if near is None else Path(near).expanduser()
    here = where.resolve()
    holders = [c for c in known if here == c.photos_root or c.photos_root in here.parents]
    if holders:
        depth = max(len(c.photos_root.parts) for c in holders)
        holders = [c for c in holders if len(c.photos_root.parts) == depth]
        if len(holders) == 1:
            found, why = holders[0], f"it indexed {holders[0].photos_root}"
        else:
            raise ValueError(f"{len(holders)} collections indexed {holders[0].photos_root}; pick "
                             f"one with -c: " + "; ".join(map(_candidate, holders)))
    elif len(known) == 1:
        found, why = known[0], "the only one"
    else:
        what = "the current folder" if near is None else f"the folder of {near}"
        raise ValueError(f"{len(known)} collections and none indexed {what}; pick one with -c: "
                         + "; ".join(map(_candidate, known)))
    typer.echo(f"collection: {found.path} ({found.n_images:,} images of {found.photos_root}, "
               f"{found.encoder} encoder; {why})", err=True)
    return found.path


def index_location(photos_dir: Path, collection: Optional[Path]) -> Path:
    """Where ``imsim index`` writes: ``-c``, else the folder's default collection."""
    p = Path(photos_dir).expanduser()
    if _is_collection(p):
        raise ValueError(f"{photos_dir} is a collection: index takes the folder of photos "
                         f"(`imsim index PHOTOS_DIR -c {photos_dir}`)")
    if p.is_file():
        raise ValueError(f"{photos_dir} is a file: index takes a folder of photos (it is "
                         f"scanned recursively)")
    if collection is not None:
        check_collection_arg(collection)
        return collection
    from imsim.collection.home import default_location

    return default_location(p)


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def register(app: typer.Typer) -> None:
    @app.command("collections")
    def collections_cmd(
        as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
    ):
        """List the collections that commands without -c choose from, newest first.

        `imsim index PHOTOS_DIR` without -c writes $IMSIM_HOME/collections/NAME-HASH
        (IMSIM_HOME: ~/.local/share/imsim); collections made with -c are remembered too.
        """
        import json

        from imsim.collection.home import collections_dir, known_collections

        known = known_collections()
        if as_json:
            typer.echo(json.dumps([{"path": str(c.path), "photos": str(c.photos_root),
                                    "encoder": c.encoder, "images": c.n_images,
                                    "version": c.version, "updated": c.updated}
                                   for c in known], indent=2))
            return
        if not known:
            typer.echo(f"no collections yet in {collections_dir()}: "
                       f"`imsim index PHOTOS_DIR` makes one")
            return
        now = time.time()
        for c in known:
            typer.echo(f"{c.path}\n    {c.encoder} encoder, {c.n_images:,} images of "
                       f"{c.photos_root}, version {c.version}, updated {_ago(now - c.updated)}")
