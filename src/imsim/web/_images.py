"""Image bytes for the web app: bounded decoding, upload checks, thumbnails, media types.

Every image the server decodes (an upload, a thumbnail) is opened by the library's
:func:`imsim.datasets.image.open_image` (regular files only, the byte and pixel caps,
JPEG draft, typed errors; the mode conversion is its ``to_mode``) and decoded here
by :func:`open_reduced`, which bounds its memory three ways:

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

The library's :func:`~imsim.datasets.image.decode_image` decodes whole images for a
model; this reduced decode is what a server needs beyond it.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import io

from fastapi import HTTPException

from .._validation import ImageTooLargeError, UnreadableImageError
from ..datasets import image as _lib

_LOSSLESS_PX = 128 * 128  # thumbnails this small are PNG (JPEG smears tiny images)
MAX_PIXELS = 50_000_000  # default cap of a decoded upload or photo (a 50 MP phone camera)
DECODE_BUDGET = 512 * 2**20  # default bytes of rasters decoded at once
_TRIM_OVER = 16 * 2**20  # hand memory back after decodes larger than this
# bytes a pixel takes in Pillow's storage: 1 for 8-bit single band, 2 for 16-bit, else 4
_NARROW_MODES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}

MEDIA_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg", ".png": "image/png",
    ".webp": "image/webp", ".bmp": "image/bmp", ".gif": "image/gif", ".tif": "image/tiff",
    ".tiff": "image/tiff",
}


class DecodeBudget(_lib.DecodeBudget):
    """Bytes of decoded rasters allowed in memory at once, shared by all requests.

    The library's pixel-weighted semaphore, weighted in bytes: ``with budget.reserve(n):``
    waits until ``n`` more bytes fit (a reservation larger than the whole budget waits
    until it is alone), then holds them; ``peak`` is the most bytes held at once.
    """

    def __init__(self, limit: int = DECODE_BUDGET):
        super().__init__(int(limit))

    @contextlib.contextmanager
    def reserve(self, n: int):
        with self.hold(n):
            yield
        if n > _TRIM_OVER:
            release_memory()


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
def _opened(source, min_side: int, max_pixels: int, what: str):
    """The library's :func:`~imsim.datasets.image.open_image` (a JPEG set to decode at the
    smallest libjpeg scale that keeps ``2 * min_side`` pixels a side), its typed errors
    raised as HTTP errors naming ``what``: 413 over a cap, 415 not a readable image."""
    side = 2 * min_side
    try:
        with _lib.open_image(source, draft=(side, side), max_pixels=max_pixels, name=what) as (img, _, _):
            yield img
    except ImageTooLargeError as exc:
        if exc.limit == max_pixels:
            raise HTTPException(413, f"{what} is {exc.pixels:,} pixels; this server decodes images "
                                     f"up to {max_pixels:,} pixels (raise it with --max-pixels)") from None
        if exc.pixels is not None:  # over twice Pillow's limit: refused while opening
            raise HTTPException(413, f"{what} is {exc.pixels:,} pixels: refused as a possible "
                                     f"decompression bomb (this server decodes images up to "
                                     f"{max_pixels:,} pixels)") from None
        raise HTTPException(413, f"cannot read {what}: {exc.reason}") from None
    except UnreadableImageError as exc:
        raise HTTPException(415, f"cannot read {what}: {exc.reason}") from None


def _cost(img) -> int:
    """Bytes of the raster that decoding ``img`` makes."""
    width, height = img.size
    return width * height * _NARROW_MODES.get(img.mode, 4)


def _reduce(img, min_side: int, cost: int, budget: "DecodeBudget"):
    """Decode ``img`` within ``budget``, shrunk by the largest integer factor that keeps its
    shorter side >= 2 * ``min_side``; return it upright, in RGB with alpha on white.

    The conversion and the box filter run on strips of a few MiB, so the only large
    buffer is the decoded raster itself (``Image.reduce`` and ``convert`` of a whole
    RGBA or palette image would each copy it).
    """
    from PIL import Image, ImageOps

    factor = max(1, min(img.size) // (2 * min_side))
    width, height = img.size
    out_w, out_h = -(-width // factor), -(-height // factor)
    with budget.reserve(cost + 4 * out_w * out_h):
        img.load()
        out = Image.new("RGB", (out_w, out_h))
        rows = max(1, (4 * 2**20) // (4 * width * factor)) * factor
        for top in range(0, height, rows):
            strip = _lib.to_mode(img.crop((0, top, width, min(top + rows, height))), color=True)
            out.paste(strip.reduce(factor) if factor > 1 else strip, (0, top // factor))
        info = img.getexif()
        img.close()  # frees the full raster inside the reservation
    out.info["exif"] = info.tobytes() if info else b""
    return ImageOps.exif_transpose(out)


def open_reduced(source, min_side: int, *, max_pixels: int, budget: "DecodeBudget", what: str):
    """Decode ``source`` reduced so its shorter side stays >= ``2 * min_side`` where it can.

    Parameters
    ----------
    source : bytes or path-like
        The encoded image.
    min_side : int
        The caller resizes the result to at most this many pixels a side.
    max_pixels : int
        Refuse (413) an image whose decoded raster would have more pixels.
    budget : DecodeBudget
        The decode waits for its raster's bytes in this budget.
    what : str
        How error messages name the image ("the upload", "image 12 (a/b.png)").

    Returns
    -------
    PIL.Image.Image
        RGB (transparent pixels on white), upright (EXIF orientation applied).

    Raises
    ------
    HTTPException
        413 over ``max_pixels`` or Pillow's limit, 415 not a decodable image.
    """
    with _opened(source, min_side, max_pixels, what) as img:
        return _reduce(img, min_side, _cost(img), budget)


def reduced_upload(data: bytes, side: int, *, max_pixels: int, budget: "DecodeBudget"
                   ) -> tuple[bytes, int]:
    """The upload as the query should decode it, and the bytes that decode may take.

    ``data`` itself when its raster is small (at most 16 MiB: the query decodes exactly
    what was sent, and it is decoded only there), else a lossless PNG of it reduced
    (upright, RGB) to about ``2 * side`` pixels on its shorter side. The cost is six
    rasters of what is returned (the library's decode and its conversions: an RGBA image
    is copied four times on its way to RGB); hold it in ``budget`` while querying.

    Raises HTTPException 413 (too many pixels) or 415 (not an image).
    """
    with _opened(data, side, max_pixels, "the upload") as img:
        cost = _cost(img)
        if cost <= _TRIM_OVER:
            return data, 6 * cost
        small = _reduce(img, side, cost, budget)
    buf = io.BytesIO()
    small.save(buf, format="PNG", compress_level=1)
    return buf.getvalue(), 6 * 4 * small.width * small.height


def make_thumbnail(path, width: int, height: int, *, max_side: int,
                   max_pixels: int = MAX_PIXELS,
                   budget: DecodeBudget | None = None, what: str | None = None) -> tuple[bytes, str]:
    """Encoded thumbnail of the photo at ``path`` whose upright size is ``width`` x ``height``.

    Returns (bytes, media type). Raises HTTPException 413/415 when the file cannot be
    decoded within the limits.
    """
    from PIL import Image

    from ..collection import thumbnail_size

    size = thumbnail_size(width, height, max_side)
    img = open_reduced(path, max(size), max_pixels=max_pixels,
                       budget=budget if budget is not None else DecodeBudget(),
                       what=what or str(path))
    if img.size != size:
        img = img.resize(size, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    if size[0] * size[1] <= _LOSSLESS_PX:
        img.save(buf, format="PNG", optimize=False)
        return buf.getvalue(), "image/png"
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue(), "image/jpeg"
