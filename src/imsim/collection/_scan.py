"""Scan a photo folder against the previous collection version.

A file whose size and mtime match the previous record is unchanged and not even
read. Any other file is read once: its bytes give the SHA-256 and are decoded once
(:func:`decode_photo`, the library's :func:`~imsim.datasets.image.decode_image`, the same
call a query makes, so indexed and query pixels are identical; it also gives the
upright size). When the SHA-256 matches an image of the previous version (a touched
or renamed file), its latent vector is reused instead of decoding.

With ``decode=False`` (a build whose encoding runs on a distributed engine's workers,
which decode each file themselves) the scan hashes the bytes and reads only the
header for the upright size (:func:`~imsim.datasets.image.probe_image`): each new
photo is decoded once, on a worker.
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._progress import progress as _progress
from .._validation import UnreadableImageError
from ..datasets.folder import walk_folder
from ..datasets.image import probe_image, read_image_file
from . import _photo
from ._store import ImageRecord, SkippedFile


@dataclass
class ScanResult:
    """The new state of the folder, aligned with the ids the new version will use.

    Attributes
    ----------
    records : list of ImageRecord
        Readable images sorted by relative path; record ``i`` becomes id ``i``.
    reuse : ndarray of shape (N,), int64
        Row of the previous latents to reuse for record ``i``, or -1 when the image
        was decoded and must be encoded.
    pixels : ndarray of shape (M, H, W) or (M, H, W, 3), uint8
        The decoded images of the records with ``reuse == -1``, in record order (none
        when the scan did not decode).
    skipped : list of SkippedFile
        Files that could not be read, with the reason.
    counts : dict
        ``new``, ``changed``, ``unchanged``, ``deleted``, ``encoded``, ``skipped``.
    """

    records: list[ImageRecord]
    reuse: np.ndarray
    pixels: np.ndarray
    skipped: list[SkippedFile]
    counts: dict = field(default_factory=dict)


class _Stat(NamedTuple):
    """What the scan keeps of a file's ``stat`` until its record is made (an
    ``os.stat_result`` takes about 500 bytes: 40 MB over 100,000 files)."""

    st_size: int
    st_mtime_ns: int


def decode_photo(source, size: int, color: bool, name: str, *, thumbnails: bool = False):
    """The one decode of a photo for its vector (the scan's, or a worker's) and, with
    ``thumbnails``, its thumbnails: :func:`imsim.collection._photo.decode_photo`."""
    return _photo.decode_photo(source, size, color, name, thumbnails=thumbnails)


def _read(path: Path, size: int, color: bool, known_sha: dict[str, int], pixels: bool = True,
          thumbnails: bool = False):
    """Read, hash and (unless the hash is known) decode one file, once; with ``pixels``
    False only its header is read for the size (the file is decoded elsewhere).

    Returns ``(sha256, stat, reused_row, pixels, (width, height), error, thumbnails)``
    (``thumbnails``: the encoded thumbnails when asked for and decoded, else None).
    """
    try:
        st = path.stat()
        data = read_image_file(path)
    except UnreadableImageError as exc:
        return None, None, -1, None, None, exc.reason, None
    except OSError as exc:
        return None, None, -1, None, None, f"cannot read file: {exc.strerror or exc}", None
    sha = hashlib.sha256(data).hexdigest()
    row = known_sha.get(sha, -1)
    if row >= 0:
        return sha, st, row, None, None, None, None
    try:
        if not pixels:
            width, height, _ = probe_image(data, name=str(path))
            return sha, st, -1, None, (width, height), None, None
        image = decode_photo(data, size, color, str(path), thumbnails=thumbnails)
    except UnreadableImageError as exc:
        return sha, st, -1, None, None, exc.reason, None
    return sha, st, -1, image.pixels, (image.width, image.height), None, image.thumbnails


def scan(root, *, size: int, color: bool, labels_from_subdirs: bool = False,
         previous: list[ImageRecord] | None = None,
         previous_skipped: list[SkippedFile] | None = None,
         workers: int | None = None, progress=None, exclude=(), decode: bool = True,
         thumbnails=None) -> ScanResult:
    """Compare the folder ``root`` with the previous records and decode what changed.

    Parameters
    ----------
    root : path-like
        The photos folder (scanned recursively by ``scan_folder``).
    size, color : int, bool
        Decoding settings of the collection (square side in pixels; RGB or gray).
    labels_from_subdirs : bool
        Label each image by its first-level sub-folder (images at the top: no label).
    previous, previous_skipped : lists, optional
        The previous version's records (id order) and skipped files. None (a fresh
        build, or a new model) decodes every file.
    workers : int, optional
        Threads reading and decoding files (hashing and JPEG decoding release the GIL).
    exclude : iterable of path-like
        Folders never entered (the collection itself, when it lies in ``root``).
    decode : bool
        Decode the files to encode (``pixels``); False reads only their headers (their
        sizes) and leaves ``pixels`` empty, for a build whose workers decode them.
    thumbnails : imsim.collection._thumbs.Spool, optional
        Where the thumbnails of the photos decoded now are stored, made from the same
        decode as their pixels (by relative path; see :meth:`Spool.add`).

    Returns
    -------
    ScanResult
    """
    root = Path(root).expanduser()
    listing = walk_folder(root, exclude=exclude)
    files = listing.files
    previous = previous or []
    by_path = {r.path: i for i, r in enumerate(previous)}
    by_sha: dict[str, int] = {}
    for i, r in enumerate(previous):
        by_sha.setdefault(r.sha256, i)
    old_skipped = {s.path: s for s in (previous_skipped or [])}

    entries: list[tuple[str, object]] = []  # (rel, ("keep", row) | ("skip", SkippedFile) | ("read", i))
    to_read: list[Path] = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        try:
            st = path.stat()
        except OSError:  # vanished between the scan and now
            continue
        row = by_path.get(rel)
        if row is not None and previous[row].size == st.st_size and previous[row].mtime_ns == st.st_mtime_ns:
            entries.append((rel, ("keep", row)))
            continue
        old = old_skipped.get(rel)
        if old is not None and old.size == st.st_size and old.mtime_ns == st.st_mtime_ns:
            entries.append((rel, ("skip", old)))
            continue
        entries.append((rel, ("read", len(to_read))))
        to_read.append(path)

    workers = workers or min(8, os.cpu_count() or 1)
    thumbs = thumbnails is not None and decode
    results = []
    shape = (size, size, 3) if color else (size, size)
    # the decoded pixels go into one array as they come (a list of them and np.stack
    # would hold them twice: 2.4 GB at 100,000 photos of 64 x 64 x 3)
    block = np.empty((len(to_read) if decode else 0,) + shape, dtype=np.uint8)
    decoded: list[int] = []  # rows of ``block`` that hold pixels, in the order of to_read
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = _progress(pool.map(lambda p: _read(p, size, color, by_sha, decode, thumbs), to_read),
                        total=len(to_read), desc="reading images", unit="img",
                        show=progress)
        for j, (res, path) in enumerate(zip(done, to_read)):  # the bar first: it counts its last item
            if res[6] is not None:  # written as they come: a build never holds them all
                thumbnails.add(path.relative_to(root).as_posix(), res[6])
            if res[3] is not None:
                block[j] = res[3]
                decoded.append(j)
            st = res[1] if res[1] is None else _Stat(res[1].st_size, res[1].st_mtime_ns)
            results.append((res[0], st, res[2], None) + res[4:6] + (None,))

    records, reuse, skipped = [], [], []
    counts = dict.fromkeys(("new", "changed", "unchanged", "deleted", "encoded", "skipped"), 0)
    for rel, (kind, value) in entries:
        label = rel.split("/", 1)[0] if labels_from_subdirs and "/" in rel else None
        if kind == "keep":
            records.append(previous[value])
            reuse.append(value)
            counts["unchanged"] += 1
            continue
        if kind == "skip":
            skipped.append(value)
            continue
        sha, st, row, _, dims, error, _ = results[value]
        if error is not None:
            skipped.append(SkippedFile(rel, st.st_size if st else -1,
                                       st.st_mtime_ns if st else -1, error))
            continue
        if row >= 0:
            old = previous[row]
            dims = (old.width, old.height)
        else:
            counts["encoded"] += 1
        records.append(ImageRecord(rel, sha, st.st_size, st.st_mtime_ns, dims[0], dims[1], label))
        reuse.append(row)
        if rel not in by_path:
            counts["new"] += 1
        elif previous[by_path[rel]].sha256 == sha:
            counts["unchanged"] += 1
        else:
            counts["changed"] += 1
    for rel, reason in listing.skipped:
        try:
            st = os.lstat(root / rel) if "\\x" not in rel else None
        except OSError:
            st = None
        skipped.append(SkippedFile(rel, st.st_size if st else -1, st.st_mtime_ns if st else -1, reason))
    skipped.sort(key=lambda s: s.path)
    kept = {r.path for r in records}
    counts["deleted"] = sum(1 for r in previous if r.path not in kept)
    counts["skipped"] = len(skipped)
    for k, j in enumerate(decoded):  # in place, in record order (j >= k: nothing overwritten)
        if j != k:
            block[k] = block[j]
    return ScanResult(records=records, reuse=np.asarray(reuse, dtype=np.int64),
                      pixels=block[:len(decoded)], skipped=skipped, counts=counts)
