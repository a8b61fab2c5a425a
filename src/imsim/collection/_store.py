"""The collection directory on disk: versions, the atomic swap, SQLite metadata.

Layout (format version 1)::

    COLLECTION/
      collection.json        format, format_version, imsim_version, current version name
      .lock                  held (flock) while a process writes a new version
      groups.json            last `groups` result (names the version it was computed on)
      versions/
        v000003/             one immutable, complete state of the collection
          manifest.json      settings, photos root, counts, model provenance
          images.sqlite      tables images(id, path, sha256, size, mtime_ns, width, height,
                             label) and skipped(path, size, mtime_ns, reason)
          latents.npy        float32 (N, D); row i is the latent vector of image id i
          index.npz          the ANN index over latents.npy: a FAISS HNSW graph, serialized
                             by imsim.search (HNSWIndex.save / Index.load)
          neighbors_ids.npy  int64 (N, n_cached): cached nearest ids of each image, -1 pad
          neighbors_dist.npy float32 (N, n_cached): their distances, inf pad
          model/             the autoencoder checkpoint that produced latents.npy

A new state is written into ``versions/.building-*`` and renamed to its final name;
only then is ``collection.json`` replaced (``os.replace``, atomic on POSIX and
Windows) to point at it. A run that stops anywhere before that replace leaves the
previous version current and intact; the leftover directory is removed by the next
writer.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from .._io import write_text_atomic
from .._validation import DataFormatError

FORMAT = "imsim-collection"
FORMAT_VERSION = 1
POINTER = "collection.json"
VERSIONS = "versions"
KEEP_VERSIONS = 2  # the current one and the one before it (a reader may still hold it)

_VERSION_RE = re.compile(r"^v(\d{6})$")

_SCHEMA = """
CREATE TABLE images (
    id       INTEGER PRIMARY KEY,   -- row of latents.npy
    path     TEXT NOT NULL UNIQUE,  -- relative to the photos root, POSIX separators
    sha256   TEXT NOT NULL,         -- of the file's bytes, hex
    size     INTEGER NOT NULL,      -- bytes
    mtime_ns INTEGER NOT NULL,      -- modification time, ns since the epoch
    width    INTEGER NOT NULL,      -- pixels, upright (EXIF orientation applied)
    height   INTEGER NOT NULL,
    label    TEXT                   -- first-level sub-folder, when labels are taken from them
);
CREATE INDEX images_sha256 ON images(sha256);
CREATE TABLE skipped (
    path     TEXT PRIMARY KEY,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    reason   TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class ImageRecord:
    """Metadata of one indexed image (one row of the ``images`` table)."""

    path: str
    sha256: str
    size: int
    mtime_ns: int
    width: int
    height: int
    label: str | None = None


@dataclass(frozen=True)
class SkippedFile:
    """A file that could not be read; it is retried once its size or mtime changes."""

    path: str
    size: int
    mtime_ns: int
    reason: str


def is_collection(path) -> bool:
    """True when ``path`` holds a ``collection.json`` (of any format version)."""
    return (Path(path) / POINTER).is_file()


def read_pointer(root: Path) -> dict:
    """Read and check ``collection.json``; return it as a dict.

    Raises
    ------
    FileNotFoundError
        ``root`` does not exist or is not a collection.
    DataFormatError
        The file is damaged, or was written in another format version.
    """
    if not root.exists():
        raise FileNotFoundError(f"collection not found: {root}")
    pointer = root / POINTER
    if not pointer.is_file():
        raise FileNotFoundError(f"not an imsim collection: {root} has no {POINTER} "
                                f"(create one with `imsim index PHOTOS_DIR -c {root}`)")
    try:
        info = json.loads(pointer.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"cannot read {pointer}: {exc}") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise DataFormatError(f"{pointer} is not an imsim collection file "
                              f"(expected format {FORMAT!r}, found {info.get('format')!r})"
                              if isinstance(info, dict) else f"{pointer} is not a JSON object")
    found = info.get("format_version")
    if found != FORMAT_VERSION:
        raise DataFormatError(
            f"collection {root} has format version {found} (written by imsim "
            f"{info.get('imsim_version', '?')}); this imsim {__version__} reads format version "
            f"{FORMAT_VERSION}. Open it with that imsim version, or rebuild it with "
            f"`imsim index PHOTOS_DIR -c {root} --retrain`")
    current = info.get("current")
    if not isinstance(current, str) or not _VERSION_RE.match(current) \
            or not (root / VERSIONS / current).is_dir():
        raise DataFormatError(f"collection {root} points at a missing version {current!r}")
    return info


@contextlib.contextmanager
def write_lock(root: Path):
    """Hold an exclusive lock on ``root/.lock`` while writing a new version.

    Two writers at once would race for the same version name; the second one fails
    at once with a clear message instead of waiting. Readers never lock: versions are
    immutable and the pointer is swapped atomically.
    """
    root.mkdir(parents=True, exist_ok=True)
    handle = open(root / ".lock", "a+")
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks, single writer assumed
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RuntimeError(f"collection {root} is being written by another process; "
                                   f"try again when it has finished") from None
        yield
    finally:
        handle.close()


def _version_number(name: str) -> int:
    m = _VERSION_RE.match(name)
    return int(m.group(1)) if m else -1


def new_staging_dir(root: Path) -> Path:
    """A fresh ``versions/.building-*`` directory to write the next version into."""
    versions = root / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".building-", dir=versions))


def commit_version(root: Path, staging: Path) -> str:
    """Rename ``staging`` to the next version name and point ``collection.json`` at it.

    The caller holds :func:`write_lock`. Returns the new version's name.
    """
    versions = root / VERSIONS
    numbers = [_version_number(p.name) for p in versions.iterdir()]
    name = f"v{max(numbers + [0]) + 1:06d}"
    os.replace(staging, versions / name)
    info = {"format": FORMAT, "format_version": FORMAT_VERSION, "imsim_version": __version__,
            "current": name, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_text_atomic(root / POINTER, json.dumps(info, indent=2) + "\n")
    return name


def prune_versions(root: Path, keep: int = KEEP_VERSIONS) -> None:
    """Remove leftover staging directories and all but the newest ``keep`` versions.

    Only called under :func:`write_lock`; the current version is always kept.
    """
    versions = root / VERSIONS
    if not versions.is_dir():
        return
    current = None
    if (root / POINTER).is_file():
        with contextlib.suppress(OSError, ValueError):
            current = json.loads((root / POINTER).read_text(encoding="utf-8")).get("current")
    named = sorted((p for p in versions.iterdir() if _VERSION_RE.match(p.name)),
                   key=lambda p: _version_number(p.name), reverse=True)
    keep_names = {p.name for p in named[:keep]} | {current}
    for p in versions.iterdir():
        if p.name.startswith(".building-") or (_VERSION_RE.match(p.name) and p.name not in keep_names):
            shutil.rmtree(p, ignore_errors=True)


def link_or_copy_tree(src: Path, dst: Path) -> None:
    """Copy the directory ``src`` to ``dst``, hard-linking files where the disk allows.

    Versions are immutable, so an unchanged model can share its files with the
    previous version instead of being copied.
    """
    def link(s, d):
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=link)


# -- SQLite metadata ----------------------------------------------------------

def write_metadata(path: Path, records: list[ImageRecord], skipped: list[SkippedFile]) -> None:
    """Create ``images.sqlite`` at ``path``; image ``i`` of ``records`` gets id ``i``."""
    con = sqlite3.connect(path)
    try:
        con.executescript(_SCHEMA)
        con.executemany(
            "INSERT INTO images (id, path, sha256, size, mtime_ns, width, height, label) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((i, r.path, r.sha256, r.size, r.mtime_ns, r.width, r.height, r.label)
             for i, r in enumerate(records)))
        con.executemany("INSERT INTO skipped (path, size, mtime_ns, reason) VALUES (?, ?, ?, ?)",
                        ((s.path, s.size, s.mtime_ns, s.reason) for s in skipped))
        con.commit()
    finally:
        con.close()


def open_metadata(path: Path) -> sqlite3.Connection:
    """Open ``images.sqlite`` read-only; the file never changes once written."""
    if not path.is_file():
        raise DataFormatError(f"collection version is incomplete: {path} is missing")
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


def read_records(con: sqlite3.Connection) -> list[ImageRecord]:
    """Every image record, in id order (record ``i`` has id ``i``)."""
    rows = con.execute("SELECT id, path, sha256, size, mtime_ns, width, height, label "
                       "FROM images ORDER BY id").fetchall()
    for expected, row in enumerate(rows):
        if row[0] != expected:
            raise DataFormatError(f"image ids are not 0..N-1 (found id {row[0]} at row {expected})")
    return [ImageRecord(*row[1:]) for row in rows]


def read_skipped(con: sqlite3.Connection) -> list[SkippedFile]:
    """Files skipped by the last indexing run, sorted by path."""
    rows = con.execute("SELECT path, size, mtime_ns, reason FROM skipped ORDER BY path").fetchall()
    return [SkippedFile(*row) for row in rows]


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON (files inside a staging dir need no rename)."""
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError(f"collection version is incomplete: {path} is missing") from None
    except ValueError as exc:
        raise DataFormatError(f"cannot read {path}: {exc}") from None


def save_array(path: Path, array: np.ndarray) -> None:
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)


def load_array(path: Path, *, mmap: bool = True) -> np.ndarray:
    if not path.is_file():
        raise DataFormatError(f"collection version is incomplete: {path} is missing")
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)

