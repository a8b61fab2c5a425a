"""The collection directory on disk: versions, the atomic swap, SQLite metadata.

Layout (format version 1)::

    COLLECTION/
      collection.json        format, format_version, imsim_version, current version name
      .lock                  held (flock) while a process writes a new version
      groups.json            last `groups` result (names the version it was computed on)
      versions/
        v000003/             one immutable, complete state of the collection
          .lease             empty; every open Collection holds a shared flock on it
          manifest.json      settings, photos root, counts, model provenance
          images.sqlite      tables images(id, path, sha256, size, mtime_ns, width, height,
                             label) and skipped(path, size, mtime_ns, reason)
          latents.npy        float32 (N, D); row i is the latent vector of image id i
          index.npz          the ANN index over latents.npy: a FAISS HNSW graph, serialized
                             by imsim.search (HNSWIndex.save / Index.load)
          neighbors_ids.npy  int64 (N, n_cached): cached nearest ids of each image, -1 pad
          neighbors_dist.npy float32 (N, n_cached): their distances, inf pad
          model/             the autoencoder checkpoint that produced latents.npy

A new state is written into ``versions/.building-*``, every file and folder of it
is fsync'ed, it is renamed to its final name (and ``versions/`` fsync'ed); only then
is ``collection.json`` replaced (``os.replace`` of an fsync'ed temporary file, then
an fsync of the folder) to point at it. A run that stops anywhere before that
replace leaves the previous version current and intact; the leftover directory
(or a renamed version newer than the current one: an orphan) is removed by the next
writer. A first build that stops early leaves only ``.lock`` and ``versions/``: the
next ``imsim index`` accepts such an unfinished folder and starts it over.

**Reader leases.** Every open :class:`~imsim.collection.Collection` holds a shared
``flock`` on its version's ``.lease`` file (:func:`open_lease`) until it is
closed. :func:`prune_versions` deletes an old version only while it holds an
exclusive ``flock`` on that file (non-blocking), so a version that a reader (a
running ``imsim serve``) still has open is never deleted; it is pruned by a later
writer once closed. A reader that finds the version already deleted (it lost the
race with a prune) re-reads ``collection.json``. Where ``fcntl`` is missing
(Windows) there are no leases and no pruning of versions beyond the newest two.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from .. import __version__
from .._io import fsync_dir, write_text_atomic
from .._validation import DataFormatError
from ._metadata import (ImageRecord, SkippedFile, check_metadata, check_relpath,  # noqa: F401
                        damaged_on_error,
                        load_array, open_metadata, read_json, read_records, read_rows, read_skipped,
                        repair_hint, save_array, write_json, write_metadata)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks
    fcntl = None

FORMAT = "imsim-collection"
FORMAT_VERSION = 1
POINTER = "collection.json"
VERSIONS = "versions"
LEASE = ".lease"
KEEP_VERSIONS = 2  # the current one and the one before it (a reader may still hold it)

_VERSION_RE = re.compile(r"^v(\d{6})$")

def is_collection(path) -> bool:
    """True when ``path`` holds a ``collection.json`` (of any format version)."""
    return (Path(path) / POINTER).is_file()


def is_unfinished(path) -> bool:
    """True when ``path`` is what a failed or interrupted first build leaves behind.

    That is a folder with no ``collection.json`` holding only ``.lock`` and/or a
    ``versions/`` folder of staging directories and never-committed versions.
    """
    path = Path(path)
    if not path.is_dir() or is_collection(path):
        return False
    names = {p.name for p in path.iterdir()}
    if not names or not names <= {".lock", VERSIONS}:
        return False
    versions = path / VERSIONS
    return not versions.exists() or (versions.is_dir() and all(
        p.name.startswith(".building-") or _VERSION_RE.match(p.name) for p in versions.iterdir()))


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
        if is_unfinished(root):
            raise FileNotFoundError(f"collection {root} was never completed (its first `imsim index` "
                                    f"stopped early); run `imsim index PHOTOS_DIR -c {root}` again")
        raise FileNotFoundError(f"not an imsim collection: {root} has no {POINTER} "
                                f"(create one with `imsim index PHOTOS_DIR -c {root}`)")
    try:
        info = json.loads(pointer.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"cannot read {pointer}: {exc}; {repair_hint(root)}") from None
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
        raise DataFormatError(f"collection {root} points at a missing version {current!r}; "
                              f"{repair_hint(root)}")
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


def fault_point(name: str) -> None:
    """Crash here when ``IMSIM_FAULT_AT`` names this point (the fault-injection tests).

    The process kills itself with SIGKILL, as a power cut or ``kill -9`` would: no
    ``finally`` block, no cleanup runs.
    """
    if os.environ.get("IMSIM_FAULT_AT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def fsync_tree(path: Path) -> None:
    """fsync every file and folder under ``path`` (and ``path``), so a rename commits data."""
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(dirpath)


def commit_version(root: Path, staging: Path) -> str:
    """Rename ``staging`` to the next version name and point ``collection.json`` at it.

    The caller holds :func:`write_lock`. Every file is on disk (fsync) before the
    rename, and the version before ``collection.json`` names it. Returns the new
    version's name.
    """
    versions = root / VERSIONS
    (staging / LEASE).touch()
    fsync_tree(staging)
    fault_point("commit-before-rename")
    numbers = [_version_number(p.name) for p in versions.iterdir()]
    name = f"v{max(numbers + [0]) + 1:06d}"
    os.replace(staging, versions / name)
    fsync_dir(versions)
    fault_point("commit-before-pointer")
    info = {"format": FORMAT, "format_version": FORMAT_VERSION, "imsim_version": __version__,
            "current": name, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_text_atomic(root / POINTER, json.dumps(info, indent=2) + "\n")
    fault_point("commit-after-pointer")
    return name


def open_lease(version_dir: Path):
    """Hold a shared lease on the version folder ``version_dir``; returns the open file or None.

    Raises FileNotFoundError when the version is gone (or being deleted by a prune
    right now): the caller re-reads ``collection.json``. None where leases are not
    available (no ``fcntl``, or an old version without a lease file on a read-only disk).
    """
    if fcntl is None:
        return None
    lease = version_dir / LEASE
    try:
        fd = os.open(lease, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        if not version_dir.is_dir():
            raise
        try:  # a version written before leases existed
            fd = os.open(lease, os.O_RDONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError:
            return None
    except OSError:
        return None
    handle = os.fdopen(fd, "rb")
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise FileNotFoundError(f"version {version_dir} is being deleted") from None
        return None
    if os.fstat(handle.fileno()).st_nlink == 0:  # deleted between our open and our lock
        handle.close()
        raise FileNotFoundError(f"version {version_dir} was deleted")
    return handle


def _remove_unleased(path: Path) -> bool:
    """Delete the version folder ``path`` unless a reader holds its lease; True if deleted."""
    if fcntl is None:
        shutil.rmtree(path, ignore_errors=True)
        return True
    try:
        handle = open(path / LEASE, "rb")
    except FileNotFoundError:
        handle = None
    except OSError:
        return False
    try:
        if handle is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False  # a reader has it open: keep it for a later prune
        # the lease goes first, so a reader opening it now finds it gone
        with contextlib.suppress(OSError):
            os.unlink(path / LEASE)
        shutil.rmtree(path, ignore_errors=True)
        return True
    finally:
        if handle is not None:
            handle.close()


def prune_versions(root: Path, keep: int = KEEP_VERSIONS) -> None:
    """Remove staging leftovers, orphans and old versions no reader holds.

    Kept: the current version and the ``keep - 1`` newest ones before it, and every
    version a reader still holds (:func:`open_lease`). Removed: staging folders,
    versions *newer* than the current one (orphans of a crash between the rename and
    the ``collection.json`` swap), older versions. Nothing is removed when
    ``collection.json`` cannot be read. Only called under :func:`write_lock`.
    """
    versions = root / VERSIONS
    if not versions.is_dir():
        return
    for p in versions.iterdir():
        if p.name.startswith(".building-"):
            shutil.rmtree(p, ignore_errors=True)
    if not (root / POINTER).is_file():
        if is_unfinished(root):  # nothing was ever committed: no reader can hold anything
            for p in versions.iterdir():
                shutil.rmtree(p, ignore_errors=True)
        return
    try:
        current = json.loads((root / POINTER).read_text(encoding="utf-8")).get("current")
    except (OSError, ValueError, AttributeError):
        return
    if not isinstance(current, str) or not _VERSION_RE.match(current):
        return
    number = _version_number(current)
    older = sorted((p for p in versions.iterdir() if 0 <= _version_number(p.name) < number),
                   key=lambda p: _version_number(p.name), reverse=True)
    doomed = older[keep - 1:] + [p for p in versions.iterdir() if _version_number(p.name) > number]
    for p in doomed:
        _remove_unleased(p)


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
