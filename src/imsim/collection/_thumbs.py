"""Thumbnails of a collection's photos, made at index time and stored in the version.

Every image gets two thumbnails, its longest side at most 160 and 320 pixels (1x and
2x screens; never enlarged), decoded by the one image reader
(:func:`imsim.datasets.folder.load_image`), so transparent pixels are composited onto
white exactly as the model sees them. Small thumbnails (<= 128 x 128 pixels: digits,
icons) are PNG (zlib level 1: level 6 took 3x as long for 15 % fewer bytes and made
PNG encoding most of the thumbnails' time on 5,000 photos), the rest JPEG (quality 85).
A photo whose two thumbnails have the same size is encoded once.

A version stores them in two files: ``thumbs.bin`` (the encoded thumbnails, one after
the other) and ``thumbs.npy`` (int64 of shape (N, 2, 2): byte offset and length of
image ``i``'s thumbnail of size ``SIZES[j]``; length 0 when the file could not be
read). An update copies the thumbnails of unchanged photos (same SHA-256) from the
previous version instead of decoding them again. Versions written before thumbnails
existed have neither file: :func:`render` makes one on demand, the same way.
"""
from __future__ import annotations

import io
import mmap
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .._progress import progress
from . import _store

SIZES = (160, 320)  # longest side in pixels: tiles of ~150 CSS px on 1x and 2x screens
BACKGROUND = "white"  # what transparent pixels are composited onto (load_image's choice)
_LOSSLESS_PX = 128 * 128  # thumbnails this small are PNG (JPEG smears tiny images)
_PNG_LEVEL = 1  # zlib level of PNG thumbnails: lossless either way, level 1 is the fast one
_BIN, _INDEX = "thumbs.bin", "thumbs.npy"


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled so the longest side is at most ``max_side``; never enlarged."""
    scale = min(1.0, max_side / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _encode(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    img = Image.fromarray(pixels)
    if pixels.shape[0] * pixels.shape[1] <= _LOSSLESS_PX:
        img.save(buf, format="PNG", compress_level=_PNG_LEVEL)
    else:
        img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def render(path, width: int, height: int, sizes=SIZES) -> list[bytes]:
    """Encoded thumbnails of the photo at ``path`` (upright size ``width`` x ``height``).

    Returns one ``bytes`` per entry of ``sizes``. The photo is decoded once, at the
    largest size, and the smaller thumbnails are resized from it.

    Raises
    ------
    UnreadableImageError
        (a ValueError) the file cannot be read.
    """
    from PIL import Image

    from ..datasets.folder import load_image

    order = sorted(range(len(sizes)), key=lambda j: -sizes[j])
    big = load_image(path, size=fit_size(width, height, sizes[order[0]]), color=True)
    out: list[bytes] = [b""] * len(sizes)
    made: dict[tuple[int, int], bytes] = {}  # a small photo's thumbnails are one size: encode once
    for j in order:
        target = fit_size(width, height, sizes[j])
        if target not in made:
            pixels = big if (big.shape[1], big.shape[0]) == target else np.asarray(
                Image.fromarray(big).resize(target, Image.Resampling.BILINEAR))
            made[target] = _encode(pixels)
        out[j] = made[target]
    return out


def media_type(data: bytes) -> str:
    """``image/png`` or ``image/jpeg``, from the encoded bytes."""
    return "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"


class Thumbnails:
    """The stored thumbnails of one version (read-only; safe to share between threads)."""

    def __init__(self, index: np.ndarray, data):
        self._index = index
        self._data = data

    @classmethod
    def open(cls, version_dir) -> "Thumbnails | None":
        """The thumbnails stored in ``version_dir``, or None for a version without them."""
        version_dir = Path(version_dir)
        if not (version_dir / _INDEX).is_file() or not (version_dir / _BIN).is_file():
            return None
        index = _store.load_array(version_dir / _INDEX)
        if index.ndim != 3 or index.shape[1:] != (len(SIZES), 2):
            return None  # another thumbnail layout: made on demand instead
        with open(version_dir / _BIN, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        return cls(np.asarray(index), data)

    def __len__(self) -> int:
        return len(self._index)

    def get(self, image_id: int, size_index: int) -> bytes | None:
        """Encoded thumbnail ``SIZES[size_index]`` of ``image_id``; None when not stored."""
        offset, length = self._index[image_id, size_index]
        if length <= 0:
            return None
        return bytes(self._data[offset:offset + length])


def write(version_dir, photos_root, records, previous=None, *, workers: int | None = None,
          progress_bar=None) -> int:
    """Store the thumbnails of ``records`` in the (staging) version ``version_dir``.

    Parameters
    ----------
    version_dir : path-like
        The version being written.
    photos_root : path-like
        The photo folder the records' paths are relative to.
    records : list of ImageRecord
        In id order.
    previous : Collection, optional
        The version being updated: thumbnails of photos with the same SHA-256 are
        copied from it.
    workers : int, optional
        Threads that decode photos (Pillow releases the GIL while decoding).

    Returns
    -------
    int
        Thumbnails rendered now (the rest were reused, or could not be read).
    """
    version_dir, photos_root = Path(version_dir), Path(photos_root)
    old = Thumbnails.open(previous._dir) if previous is not None else None
    old_by_sha = {}
    if old is not None:
        old_by_sha = {r.sha256: i for i, r in enumerate(previous.records()) if i < len(old)}
    blobs: list[list[bytes] | None] = [None] * len(records)
    to_render = []
    for i, rec in enumerate(records):
        j = old_by_sha.get(rec.sha256)
        if j is not None and all(old.get(j, s) for s in range(len(SIZES))):
            blobs[i] = [old.get(j, s) for s in range(len(SIZES))]
        else:
            to_render.append(i)

    def one(i):
        rec = records[i]
        try:
            return render(photos_root / rec.path, rec.width, rec.height)
        except ValueError:  # changed or gone since the scan: the server tries again on demand
            return [b""] * len(SIZES)

    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        made = progress(pool.map(one, to_render), total=len(to_render), desc="thumbnails",
                        unit="img", disable=progress_bar if progress_bar is None else not progress_bar)
        for i, b in zip(to_render, made):
            blobs[i] = b
    index = np.zeros((len(records), len(SIZES), 2), dtype=np.int64)
    offset = 0
    with open(version_dir / _BIN, "wb") as f:
        for i, per_size in enumerate(blobs):
            for s, data in enumerate(per_size):
                index[i, s] = offset, len(data)
                f.write(data)
                offset += len(data)
    _store.save_array(version_dir / _INDEX, index)
    return len(to_render)
