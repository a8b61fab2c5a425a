"""Thumbnails of a collection's photos: the one thumbnail maker, and the thumbnails made
at index time and stored in the version.

:func:`from_decoded` is the only code that makes a thumbnail from decoded pixels: index
time calls it from each photo's one decode (:func:`imsim.collection._photo.decode_photo`,
which also gives the vector's pixels), :func:`render` from a file (a photo the scan did
not decode), and the web server calls :func:`make_thumbnail` (one size, its own pixel cap and
decode budget) for a version that has no stored thumbnail. Every image gets two
thumbnails, its longest side at most 160 and 320 pixels (1x and 2x screens; never
enlarged). The photo is opened by the library's
:func:`~imsim.datasets.image.open_image` (regular files, the byte and pixel caps, a
JPEG drafted by libjpeg so its shorter side keeps at least the thumbnail's longest
side) and decoded by :func:`~imsim.datasets.reduced.decode_reduced` (within the decode
budget, other formats shrunk by an integer box filter; a transparent picture keeps its
transparency, so a white drawing on a transparent canvas shows on the page's backdrop),
then shrunk by area averages (a box filter, each size from the next larger one: 0.9 ms
instead of bilinear's 1.35 for 512x384 -> 320x240). A JPEG given as bytes or a path is
decoded by OpenCV instead (:mod:`imsim.collection._jpeg`: the same drafted pixels, as a
BGR array) and shrunk by OpenCV: area averages by an integer factor, then bilinear
below a factor of 2 (0.2 ms for 512x384 -> 320x240), its JPEG thumbnails encoded by
OpenCV's libjpeg-turbo (same quality). Transparent thumbnails are PNG with
alpha; small ones (<= 128 x 128 pixels: digits, icons) are PNG (zlib level 1: level 6 took 3x as long for 15 %
fewer bytes and made PNG encoding most of the thumbnails' time on 5,000 photos), the
rest JPEG (quality 85). A photo whose two thumbnails have the same size is encoded once.

A version stores them in two files: ``thumbs.bin`` (the encoded thumbnails, one after
the other) and ``thumbs.npy`` (int64 of shape (N, 2, 2): byte offset and length of
image ``i``'s thumbnail of size ``SIZES[j]``; length 0 when the file could not be
read; the offsets are in no particular order: the scan's thumbnails come first, as it
made them). An update copies the thumbnails of unchanged photos (same SHA-256) from the
previous version instead of decoding them again.
"""
from __future__ import annotations

import io
import mmap
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .._progress import progress as _progress
from ..datasets.image import open_image
from ..datasets.reduced import decode_reduced
from . import _store

SIZES = (160, 320)  # longest side in pixels: tiles of ~150 CSS px on 1x and 2x screens
_LOSSLESS_PX = 128 * 128  # thumbnails this small are PNG (JPEG smears tiny images)
_PNG_LEVEL = 1  # zlib level of PNG thumbnails: lossless either way, level 1 is the fast one
_JPEG_QUALITY = 85
_BIN, _INDEX = "thumbs.bin", "thumbs.npy"


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled so the longest side is at most ``max_side``; never enlarged."""
    scale = min(1.0, max_side / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _encode(img) -> bytes:
    """A Pillow image, or a BGR array (:mod:`._jpeg`), as thumbnail bytes: PNG when small or
    transparent (RGBA), else JPEG (quality 85; an array's by OpenCV's libjpeg-turbo)."""
    if isinstance(img, np.ndarray):
        import cv2

        if img.shape[0] * img.shape[1] > _LOSSLESS_PX:
            return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])[1].tobytes()
        from PIL import Image

        img = Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    buf = io.BytesIO()
    if img.mode == "RGBA" or img.size[0] * img.size[1] <= _LOSSLESS_PX:
        img.save(buf, format="PNG", compress_level=_PNG_LEVEL)
    else:
        img.save(buf, format="JPEG", quality=_JPEG_QUALITY)
    return buf.getvalue()


def render(source, width: int, height: int, sizes=SIZES, *, max_pixels: int | None = None,
           budget=None, name: str | None = None) -> list[bytes]:
    """Encoded thumbnails of the photo ``source`` (upright size ``width`` x ``height``).

    Parameters
    ----------
    source : path-like, bytes or binary file object
        The photo, as :func:`~imsim.datasets.image.open_image` takes it.
    width, height : int
        Its upright size in pixels (the collection's record).
    sizes : sequence of int
        Longest side of each thumbnail, in pixels.
    max_pixels : int, optional
        Pixel cap of the decoded raster (default the library's).
    budget : DecodeBudget, optional
        Held while decoding (default the library's ``DECODE_BUDGET``).
    name : str, optional
        How errors name the photo.

    Returns
    -------
    list of bytes
        One encoded thumbnail per entry of ``sizes`` (see :func:`media_type`). The photo
        is decoded once, for the largest size; the smaller ones are resized from it.

    Raises
    ------
    UnreadableImageError
        (a ValueError; ``ImageTooLargeError`` over a cap) the file cannot be read.
    """
    from . import _jpeg

    side = max(fit_size(width, height, max(sizes)))
    data, name = _jpeg.in_memory(source, name)
    with open_image(source if data is None else data, draft=(side, side), max_pixels=max_pixels,
                    name=name) as (img, _, _):
        target = fit_size(width, height, max(sizes))
        fast = _jpeg.decode(img, data, width, height, target, budget)
        if fast is not None:
            decoded = fast[0]
        else:
            decoded = decode_reduced(img, side, budget, keep_alpha=True)
            opaque = _jpeg.from_pillow(decoded, target)
            decoded = decoded if opaque is None else opaque
    return from_decoded(decoded, width, height, sizes)[0]


def from_decoded(decoded, width: int, height: int, sizes=SIZES, *, encode: bool = True
                 ) -> tuple[list[bytes], list]:
    """The thumbnails (one per entry of ``sizes``) of a photo of upright size ``width`` x
    ``height`` decoded by :func:`~imsim.datasets.reduced.decode_reduced` (``keep_alpha``)
    with a shorter side of at least the largest thumbnail's longest side, or its whole
    size, or by :func:`imsim.collection._jpeg.decode` (a BGR array at least the largest
    thumbnail's size): what :func:`render` and the build's one decode of each photo
    (:func:`imsim.collection._photo.decode_photo`) both make.

    Each size is shrunk from the next larger one (:func:`shrink`): a Pillow image by an
    area average (a box filter: an exact integer factor is
    :meth:`PIL.Image.Image.reduce`), an array by OpenCV (bilinear below a factor of 2,
    else area averages).

    Returns
    -------
    (list of bytes, list of PIL.Image.Image or of ndarray)
        The encoded thumbnails (empty bytes when ``encode`` is False) and the images they
        encode, in the order of ``sizes``.
    """
    targets = [fit_size(width, height, s) for s in sizes]
    order = sorted(range(len(sizes)), key=lambda j: -sizes[j])
    out: list[bytes] = [b""] * len(sizes)
    images: list = [None] * len(sizes)
    made: dict[tuple[int, int], bytes] = {}  # a small photo's thumbnails are one size: encode once
    for j in order:
        if targets[j] not in made:
            decoded = shrink(decoded, targets[j])
            made[targets[j]] = _encode(decoded) if encode else b""
        out[j], images[j] = made[targets[j]], decoded
    return out, images


def shrink(img, size: tuple[int, int]):
    """``img`` resized to ``size`` (smaller) by an area average: :meth:`~PIL.Image.Image.reduce`
    for an exact integer factor, else a box-filter resize (each output pixel the mean of
    its own area; a third faster than the bilinear one)."""
    from PIL import Image

    if isinstance(img, np.ndarray):
        return _shrink_array(img, size)
    if img.size == size:
        return img
    w, h = img.size
    if w % size[0] == 0 and h % size[1] == 0 and w // size[0] == h // size[1]:
        return img.reduce(w // size[0])
    return img.resize(size, Image.Resampling.BOX)


def _shrink_array(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """:func:`shrink` of an array (:mod:`._jpeg`) by OpenCV: area averages for an exact integer
    factor (as :meth:`~PIL.Image.Image.reduce`) or a factor of 2 or more; bilinear below 2
    (every source pixel weighs in: 0.2 ms instead of the box filter's 0.9 ms for
    512x384 -> 320x240)."""
    import cv2

    h, w = a.shape[:2]
    if (w, h) == tuple(size):
        return a
    linear = w < 2 * size[0] and h < 2 * size[1] and not (
        w % size[0] == 0 and h % size[1] == 0 and w // size[0] == h // size[1])
    return cv2.resize(a, tuple(size), interpolation=cv2.INTER_LINEAR if linear else cv2.INTER_AREA)


def make_thumbnail(source, width: int, height: int, max_side: int, *, max_pixels: int | None = None,
                   budget=None, name: str | None = None) -> tuple[bytes, str]:
    """One thumbnail of longest side ``max_side`` made by :func:`render`, and its media type
    (what the web server makes for a version without stored thumbnails).

    Returns
    -------
    (bytes, str)
        The encoded thumbnail and ``"image/png"`` or ``"image/jpeg"``.
    """
    (data,) = render(source, width, height, (max_side,), max_pixels=max_pixels, budget=budget,
                     name=name)
    return data, media_type(data)


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


class Spool:
    """The thumbnails a build's scan makes from each photo's one decode, appended to the
    ``thumbs.bin`` of the version being written as they come (never all in memory);
    :func:`write` adds the others and the index."""

    def __init__(self, version_dir):
        self._file = open(Path(version_dir) / _BIN, "wb")
        self._offset = 0
        self.spans: dict[str, list[tuple[int, int]]] = {}  # relative path -> (offset, length) per size

    def add(self, relpath: str, blobs: list[bytes]) -> None:
        """Store the thumbnails (one per entry of :data:`SIZES`) of the photo ``relpath``."""
        spans = []
        for data in blobs:
            spans.append((self._offset, len(data)))
            self._file.write(data)
            self._offset += len(data)
        self.spans[relpath] = spans

    def close(self) -> None:
        self._file.close()


def write(version_dir, photos_root, records, previous=None, *, workers: int | None = None,
          progress=None, spool: Spool | None = None) -> int:
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
    spool : Spool, optional
        The thumbnails the scan already made (its ``thumbs.bin`` in ``version_dir``,
        which this completes): those photos are not decoded again.

    Returns
    -------
    int
        Thumbnails rendered now (the rest were reused, made by the scan, or could not be
        read).
    """
    version_dir, photos_root = Path(version_dir), Path(photos_root)
    old = Thumbnails.open(previous._dir) if previous is not None else None
    old_by_sha = {}
    if old is not None:
        old_by_sha = {r.sha256: i for i, r in enumerate(previous.records()) if i < len(old)}
    made_spans = spool.spans if spool is not None else {}
    index = np.zeros((len(records), len(SIZES), 2), dtype=np.int64)
    blobs: dict[int, list[bytes]] = {}
    to_render = []
    for i, rec in enumerate(records):
        spans = made_spans.get(rec.path)
        if spans is not None:
            index[i] = spans
            continue
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

    if spool is not None:
        spool.close()
    with open(version_dir / _BIN, "ab" if spool is not None else "wb") as f:
        offset = f.tell()

        def store(i, per_size):
            nonlocal offset
            for s, data in enumerate(per_size):
                index[i, s] = offset, len(data)
                f.write(data)
                offset += len(data)

        for i, per_size in blobs.items():
            store(i, per_size)
        workers = workers or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            made = _progress(pool.map(one, to_render), total=len(to_render), desc="thumbnails",
                            unit="img", show=progress)
            for b, i in zip(made, to_render):  # the bar first: it counts its last item
                store(i, b)
    _store.save_array(version_dir / _INDEX, index)
    return len(to_render)
