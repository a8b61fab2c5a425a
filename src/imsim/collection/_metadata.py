"""The metadata and arrays of one collection version: ``images.sqlite``, ``*.npy``, JSON.

Every reader here checks what it reads and raises :class:`DataFormatError` naming
the file and the repair (``imsim index PHOTOS_DIR -c COLLECTION --retrain``): a
damaged SQLite file, ids that are not 0..N-1 (rows missing), a stored path that
leaves the photos folder (absolute, ``..``), an empty, garbage or mis-sized array.
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validation import DataFormatError

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


@contextlib.contextmanager
def damaged_on_error(path: Path):
    """Turn any error while loading the version's file ``path`` into one DataFormatError
    line naming it and the repair (a damaged index or model can raise anything)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - numpy, FAISS, torch, safetensors, json...
        reason = str(exc).split("\n")[0] or type(exc).__name__
        if "pickle" in reason:  # numpy's advice to unpickle an untrusted file: never
            reason = "not an imsim file"
        if str(path) not in reason:
            reason = f"{path} is damaged ({reason[:200]})"
        raise DataFormatError(f"{reason}; {repair_hint(path.parents[2])}") from None


def repair_hint(root: Path) -> str:
    return f"rebuild it with `imsim index PHOTOS_DIR -c {root} --retrain`"


# -- SQLite metadata ----------------------------------------------------------

def write_metadata(path: Path, records: list[ImageRecord], skipped: list[SkippedFile]) -> None:
    """Create ``images.sqlite`` at ``path``; image ``i`` of ``records`` gets id ``i``."""
    for r in records:
        check_relpath(r.path, path)
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


def check_relpath(rel, source) -> str:
    """``rel`` when it is a safe path inside the photos folder, else DataFormatError.

    A stored path must be relative, use ``/``, and have no empty, ``.`` or ``..``
    part, so joining it to the photos folder (or an export folder) stays inside.
    """
    if not isinstance(rel, str) or not rel or rel.startswith("/") or "\0" in rel \
            or (os.sep == "\\" and ("\\" in rel or ":" in rel)) \
            or any(part in ("", ".", "..") for part in rel.split("/")):
        parents = Path(source).parents
        hint = repair_hint(parents[2]) if len(parents) > 2 else "rebuild the collection with --retrain"
        raise DataFormatError(f"{source} holds an unsafe image path {rel!r} (paths must stay inside "
                              f"the photos folder); {hint}")
    return rel


def open_metadata(path: Path) -> sqlite3.Connection:
    """Open ``images.sqlite`` read-only; the file never changes once written."""
    if not path.is_file():
        raise DataFormatError(f"collection version is incomplete: {path} is missing; "
                              f"{repair_hint(path.parents[2])}")
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


def check_metadata(con: sqlite3.Connection, path: Path) -> int:
    """Check ``images.sqlite`` (schema, ids 0..N-1, safe paths); returns N.

    Raises DataFormatError naming the file and the repair for a damaged database,
    missing rows or a stored path that leaves the photos folder.
    """
    hint = repair_hint(path.parents[2])
    try:
        n, lo, hi = con.execute("SELECT COUNT(*), MIN(id), MAX(id) FROM images").fetchone()
        con.execute("SELECT path, size, mtime_ns, reason FROM skipped LIMIT 1").fetchall()
        bad = con.execute(
            "SELECT path FROM images WHERE path = '' OR path LIKE '/%' "
            "OR path = '..' OR path LIKE '../%' OR path LIKE '%/../%' OR path LIKE '%/..' "
            "OR path = '.' OR path LIKE './%' OR path LIKE '%/./%' OR path LIKE '%/.' "
            "OR path LIKE '%//%' OR path LIKE '%/' OR instr(path, char(0)) > 0 LIMIT 1").fetchone()
    except sqlite3.Error as exc:
        raise DataFormatError(f"{path} is damaged ({exc}); {hint}") from None
    if bad is not None:
        check_relpath(bad[0], path)
    if n and (lo != 0 or hi != n - 1):
        raise DataFormatError(f"{path} is damaged (image ids are not 0..{n - 1}: rows are missing); "
                              f"{hint}")
    return int(n)


def read_records(con: sqlite3.Connection) -> list[ImageRecord]:
    """Every image record, in id order (record ``i`` has id ``i``)."""
    rows = con.execute("SELECT id, path, sha256, size, mtime_ns, width, height, label "
                       "FROM images ORDER BY id").fetchall()
    for expected, row in enumerate(rows):
        if row[0] != expected:
            raise DataFormatError(f"image ids are not 0..N-1 (found id {row[0]} at row {expected})")
    return [ImageRecord(*row[1:]) for row in rows]


def read_rows(con: sqlite3.Connection, ids, path: Path) -> list[tuple[str, str | None]]:
    """(relative path, label) of each image id in ``ids``, in that order, from the
    ``images.sqlite`` at ``path``; DataFormatError naming the file for an id it lacks."""
    ids = [int(i) for i in ids]
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    found = dict((r[0], r[1:]) for r in con.execute(
        f"SELECT id, path, label FROM images WHERE id IN ({marks})", ids))
    missing = [i for i in ids if i not in found]
    if missing:
        raise DataFormatError(f"{path} has no row for image id {missing[0]}; "
                              f"{repair_hint(path.parents[2])}")
    return [found[i] for i in ids]


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
        raise DataFormatError(f"collection version is incomplete: {path} is missing; "
                              f"{repair_hint(path.parents[2])}") from None
    except ValueError as exc:
        raise DataFormatError(f"cannot read {path}: {exc}; {repair_hint(path.parents[2])}") from None


def save_array(path: Path, array: np.ndarray) -> None:
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)


def load_array(path: Path, *, mmap: bool = True, shape=None, dtype=None) -> np.ndarray:
    """Load a ``.npy`` file of the version; check its ``shape`` and ``dtype`` when given.

    Raises DataFormatError naming the file and the repair for a missing, empty,
    damaged or mis-sized file.
    """
    hint = repair_hint(path.parents[2])
    if not path.is_file():
        raise DataFormatError(f"collection version is incomplete: {path} is missing; {hint}")
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - numpy's header parser raises ValueError,
        # SyntaxError, tokenize.TokenError, ... on damaged bytes: all mean "damaged"
        reason = "empty file" if path.stat().st_size == 0 else \
            str(exc).split(";")[0].split("\n")[0][:120] if "pickle" not in str(exc) else "not a .npy array"
        raise DataFormatError(f"{path} is damaged ({reason}); {hint}") from None
    if not isinstance(array, np.ndarray) or (dtype is not None and array.dtype != dtype) or \
            (shape is not None and tuple(array.shape) != tuple(shape)):
        found = f"{getattr(array, 'dtype', '?')} {getattr(array, 'shape', '?')}"
        want = f"{np.dtype(dtype) if dtype is not None else ''} {tuple(shape) if shape else ''}".strip()
        raise DataFormatError(f"{path} is damaged (holds {found}, expected {want}); {hint}")
    return array

