"""Image bytes for the web app: bounded decoding, upload checks, thumbnails, media types.

Every image the server decodes (an upload, a thumbnail) is opened by the library's
:func:`imsim.datasets.image.open_image` (regular files only, the byte and pixel caps,
JPEG draft, typed errors) and decoded reduced by the library's
:func:`~imsim.datasets.reduced.decode_reduced`, which bounds its memory three ways:

* a pixel cap lower than Pillow's (``max_pixels``, checked on the header, and for a
  JPEG on the size libjpeg will actually decode after ``draft``);
* a reduced decode: JPEGs are decoded at 1/2, 1/4 or 1/8 scale by libjpeg (``draft``),
  other formats are shrunk by an integer box filter (``Image.reduce``) right after
  decoding, strip by strip, so only the decoded raster is ever large;
* a :class:`DecodeBudget` (the library's, counted in bytes here): decodes reserve their
  estimated bytes and wait while the sum in flight would pass the budget, so 16
  concurrent bombs cost at most the budget, not 16 rasters. Freed rasters are handed
  back to the system (``malloc_trim``): glibc keeps large freed blocks in its arenas
  otherwise.

A thumbnail of a version without stored ones is made by the collection's one thumbnail
maker (:func:`imsim.collection.make_thumbnail`), within this server's cap and budget.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import io

from fastapi import HTTPException

from .._validation import ImageTooLargeError, UnreadableImageError
from ..collection import THUMBNAIL_SIDES
from ..collection import make_thumbnail as _make_thumbnail
from ..datasets import image as _lib
from ..datasets.reduced import decode_reduced
from ._errors import ApiError, too_large
from ._limits import DECODE_MEMORY_MB, MAX_PIXELS

DECODE_BUDGET = int(DECODE_MEMORY_MB * 2**20)  # default bytes of rasters decoded at once
_TRIM_OVER = 16 * 2**20  # hand memory back after decodes larger than this

MEDIA_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg", ".png": "image/png",
    ".webp": "image/webp", ".bmp": "image/bmp", ".gif": "image/gif", ".tif": "image/tiff",
    ".tiff": "image/tiff",
}


class DecodeBudget(_lib.DecodeBudget):
    """Bytes of decoded rasters allowed in memory at once, shared by all requests.

    The library's semaphore, weighted in bytes (``unit="bytes"``): ``with budget.hold(n):``
    (or ``reserve``) waits until ``n`` more bytes fit (a reservation larger than the whole
    budget waits until it is alone), then holds them, and hands large freed rasters back
    to the system afterwards; ``peak`` is the most bytes held at once.
    """

    def __init__(self, limit: int = DECODE_BUDGET):
        super().__init__(int(limit), unit="bytes")

    @contextlib.contextmanager
    def hold(self, n: int):
        with super().hold(n):
            yield
        if n > _TRIM_OVER:
            release_memory()

    reserve = hold


def _glibc(name: str):
    """A glibc function by name, or None (musl, macOS, Windows)."""
    lib = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(lib), name) if lib else None
    except (OSError, AttributeError):
        return None


_malloc_trim, _mallopt = _glibc("malloc_trim"), _glibc("mallopt")
_M_MMAP_THRESHOLD = -3


def release_memory() -> None:
    """Return freed heap memory to the system (glibc ``malloc_trim``; a no-op elsewhere)."""
    if _malloc_trim is not None:
        _malloc_trim(ctypes.c_size_t(0))


def tune_malloc(threshold: int = 4 * 2**20) -> None:
    """Serve every allocation of ``threshold`` bytes or more with its own ``mmap``.

    glibc raises that threshold by itself after large blocks are freed (up to 32 MiB),
    after which decoded rasters live in its arenas and stay held when freed: 16 bomb
    uploads left 6 GB held. A fixed threshold turns that off; a no-op off glibc.
    """
    if _mallopt is not None:
        _mallopt(ctypes.c_int(_M_MMAP_THRESHOLD), ctypes.c_int(threshold))


@contextlib.contextmanager
def _http_errors(what: str, max_pixels: int):
    """The library's typed image errors raised as HTTP errors naming ``what``: 413 over a
    cap, 415 not a readable image."""
    try:
        yield
    except ImageTooLargeError as exc:
        if exc.limit == max_pixels:
            raise too_large(f"{what} is {exc.pixels:,} pixels; this server decodes images up to "
                            f"{max_pixels:,} pixels (raise it with --max-pixels)",
                            size=exc.pixels, limit=max_pixels, unit="pixels",
                            option="--max-pixels") from None
        if exc.pixels is not None:  # over twice Pillow's limit: refused while opening
            raise too_large(f"{what} is {exc.pixels:,} pixels: refused as a possible decompression "
                            f"bomb (this server decodes images up to {max_pixels:,} pixels)",
                            size=exc.pixels, limit=max_pixels, unit="pixels",
                            option="--max-pixels") from None
        # the library's byte cap (IMSIM_MAX_IMAGE_BYTES), not one of the server's options
        raise ApiError(413, f"cannot read {what}: {exc.reason}", error="too_large",
                       limit=_lib.limits().max_bytes, unit="bytes") from None
    except UnreadableImageError as exc:
        raise HTTPException(415, f"cannot read {what}: {exc.reason}") from None


def reduced_upload(data: bytes, side: int, *, max_pixels: int, budget: "DecodeBudget"
                   ) -> tuple[bytes, int]:
    """The upload as the query should decode it, and the bytes that decode may take.

    ``data`` itself when its raster is small (at most 16 MiB: the query decodes exactly
    what was sent, and it is decoded only there), else a lossless PNG of it reduced
    (upright, RGB) to about ``2 * side`` pixels on its shorter side, and at least the
    largest thumbnail's side (a verified search's local features come from that). The cost is six
    rasters of what is returned (the library's decode and its conversions: an RGBA image
    is copied four times on its way to RGB); hold it in ``budget`` while querying.

    Raises HTTPException 413 (too many pixels) or 415 (not an image).
    """
    keep = max(2 * side, THUMBNAIL_SIDES[-1])
    with _http_errors("the upload", max_pixels), _lib.open_image(
            data, draft=(keep, keep), max_pixels=max_pixels, name="the upload") as (img, _, _):
        cost = budget.cost(*img.size, img.mode)
        if cost <= _TRIM_OVER:
            return data, 6 * cost
        small = decode_reduced(img, keep, budget)
    buf = io.BytesIO()
    small.save(buf, format="PNG", compress_level=1)
    return buf.getvalue(), 6 * 4 * small.width * small.height


def make_thumbnail(path, width: int, height: int, *, max_side: int,
                   max_pixels: int = MAX_PIXELS,
                   budget: DecodeBudget | None = None, what: str | None = None) -> tuple[bytes, str]:
    """The collection's thumbnail (:func:`imsim.collection.make_thumbnail`) of the photo at
    ``path`` (upright size ``width`` x ``height``), within this server's cap and budget.

    Returns (bytes, media type). Raises HTTPException 413/415 when the file cannot be
    decoded within the limits.
    """
    what = what or str(path)
    with _http_errors(what, max_pixels):
        return _make_thumbnail(path, width, height, max_side, max_pixels=max_pixels,
                               budget=budget if budget is not None else DecodeBudget(), name=what)
