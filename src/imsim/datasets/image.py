"""The one image-decoding path: every photo imsim reads goes through :func:`decode_image`.

Folder loading, the collection scan, :meth:`Collection.query` and the web server
all call it, so they see the same pixels and obey the same limits:

- **regular files only**: a FIFO, a device node or a symlink to one (``/dev/zero``)
  is refused from its ``stat`` and never opened for reading; the file is opened
  non-blocking and checked again with ``fstat`` (no race with a swapped file);
- a **byte cap** (:func:`limits`, ``IMSIM_MAX_IMAGE_BYTES``, default 256 MiB): a
  longer file or upload is refused before it is read;
- a **pixel cap** (``IMSIM_MAX_IMAGE_PIXELS``, default Pillow's
  ``Image.MAX_IMAGE_PIXELS``, 89,478,485) on the raster that will be decoded: an
  image above it is refused from its header, with no 1x-2x band where Pillow only
  warns;
- **draft decoding**: a JPEG asked for at a smaller size is decoded by libjpeg at
  1/2, 1/4 or 1/8 scale when that still covers the target, and the pixel cap applies
  to that drafted size (other formats cannot draft: their header size is capped);
- a **bound on concurrent decodes** (:data:`DECODE_BUDGET`, ``IMSIM_DECODE_PIXELS``,
  default the pixel cap): decodes hold their pixel count from a shared budget, so
  many small photos decode at once while two worst-case images never do.

Errors are typed: :class:`~imsim._validation.UnreadableImageError` and its subclass
:class:`~imsim._validation.ImageTooLargeError` (both ``ValueError``) carry
``.source`` and ``.reason``.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import stat
from dataclasses import dataclass

import numpy as np

from .._validation import ImageTooLargeError, UnreadableImageError
from ._budget import DecodeBudget
from ._limits import ImageLimits, _pillow, limits
from ._regular import _too_many_bytes, read_image_file

__all__ = ["DecodedImage", "DecodeBudget", "DECODE_BUDGET", "ImageLimits", "limits",
           "read_image_file", "decode_image", "probe_image", "open_image", "load_image", "target_size",
           "flatten_alpha", "backdrop_level", "has_alpha"]

# Modes that carry 16 or 32 bits per pixel: Pillow's own conversion to L clips them
# at 255 instead of scaling, which would turn a 16-bit scan white.
_WIDE_GRAY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


DECODE_BUDGET = DecodeBudget()


@dataclass(frozen=True)
class DecodedImage:
    """One decoded image.

    Attributes
    ----------
    pixels : ndarray of shape (H, W, 3), (H, W, 4) or (H, W), uint8
        Upright (EXIF orientation applied), resized to the asked size if any; RGBA only
        where :func:`decode_image` was asked to keep a transparent image's alpha.
    width, height : int
        Upright size of the image in the file, in pixels (before any resize).
    format : str or None
        Pillow's format name ("JPEG", "PNG", ...).
    """

    pixels: np.ndarray
    width: int
    height: int
    format: str | None


def target_size(size) -> tuple[int, int] | None:
    """``size`` as Pillow's (width, height), or None to keep the image's own size."""
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        if size < 1:
            raise ValueError(f"size must be a positive number of pixels, got {size}")
        return int(size), int(size)
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in size):
        return int(size[0]), int(size[1])
    raise ValueError(f"size must be an int or a (width, height) pair of positive ints, got {size!r}")


def _describe(source) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source) if isinstance(os.fspath(source), str) else repr(os.fspath(source))
    return str(getattr(source, "name", "<file object>"))


def _read_source(source, cap: int) -> tuple[bytes, str]:
    """(encoded bytes, description) of a path, bytes or binary file object."""
    desc = _describe(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        return read_image_file(source, max_bytes=cap), desc
    elif hasattr(source, "read"):
        data = source.read(cap + 1)
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"image file object must be opened in binary mode, got {type(data).__name__}")
    else:
        raise TypeError(f"image must be a path, bytes or a binary file object, got {type(source).__name__}")
    if len(data) > cap:
        raise _too_many_bytes(desc, len(data), cap)
    return bytes(data), desc


def has_alpha(img) -> bool:
    """Whether a Pillow image carries transparency (an alpha channel or a transparent colour)."""
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info


#: A transparent picture whose visible pixels are this light on average (luminance in
#: [0, 1], weighted by alpha) or lighter gets a darker backdrop than white, black from
#: LIGHT_END on: a white logo or overlay on a transparent canvas would otherwise be
#: plain white, alike to every other (the Tux Paint stamps' lightest, the white ghost,
#: average 0.86; a white logo or desktop overlay 0.97-1.0).
LIGHT_START, LIGHT_END = 0.88, 0.96
_STAT_SIDE = 64  # the average is taken on a copy at most this many pixels a side


def backdrop_level(rgba) -> int:
    """The grey level (0-255) a transparent Pillow image is composited onto: white (255)
    for all but light pictures, down to black for white-on-clear ones, linearly in the
    visible pixels' mean luminance between :data:`LIGHT_START` and :data:`LIGHT_END`, so
    two sizes of one picture get (nearly) the same backdrop."""
    Image = _pillow()
    small = rgba.convert("RGBa")  # premultiplied (a new image): a clear pixel's colour counts 0
    if max(small.size) > _STAT_SIDE:
        small.thumbnail((_STAT_SIDE, _STAT_SIDE), Image.Resampling.BOX)
    x = np.asarray(small, dtype=np.float32)
    alpha = float(x[..., 3].sum())
    if alpha <= 0:
        return 255
    mean = float((x[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)).sum()) / alpha
    t = min(1.0, max(0.0, (mean - LIGHT_START) / (LIGHT_END - LIGHT_START)))
    return int(round(255 * (1.0 - t)))


def flatten_alpha(img, level: int | None = None):
    """A transparent Pillow image composited onto a grey ``level`` (default: its
    :func:`backdrop_level`: white, as image viewers show it, unless the picture itself is
    nearly white), as RGB."""
    Image = _pillow()
    rgba = img.convert("RGBA")
    level = backdrop_level(rgba) if level is None else int(level)
    background = Image.new("RGBA", rgba.size, (level, level, level, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def to_mode(img, color: bool):
    """``img`` as an ``RGB`` (color) or ``L`` (gray) Pillow image."""
    Image = _pillow()
    if img.mode in _WIDE_GRAY_MODES:
        wide = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        values = np.asarray(img, dtype=np.float64)
        # float images are either 0..1 (scientific TIFFs) or already 0..255
        if values.size and np.nanmax(values) <= 1.0:
            values = values * 255.0
        img = Image.fromarray(np.clip(np.rint(np.nan_to_num(values)), 0, 255).astype(np.uint8), "L")
    if has_alpha(img):
        img = flatten_alpha(img)
    target = "RGB" if color else "L"
    if img.mode not in ("L", "RGB"):
        # CMYK, YCbCr, palette, 1-bit...: Pillow converts each of them to RGB
        img = img.convert("RGB")
    return img if img.mode == target else img.convert(target)


def _orientation(img) -> int | None:
    """The EXIF orientation found in the header, without decoding any pixel."""
    if img.format == "PNG" and "exif" not in img.info:
        # Pillow's PNG getexif() decodes the whole image to look for an eXIf chunk after
        # the pixels: that would decode outside the caller's budget (16 bombs at once)
        return None
    try:
        return img.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - a damaged EXIF block only loses the rotation
        return None


def _too_many_pixels(desc: str, width: int, height: int, cap: int) -> ImageTooLargeError:
    return ImageTooLargeError(desc, f"{width}x{height} = {width * height:,} pixels, the limit is "
                                    f"{cap:,} (a possible decompression bomb; raise the limit with "
                                    f"IMSIM_MAX_IMAGE_PIXELS)", pixels=width * height, limit=cap)


@contextlib.contextmanager
def _opened(data, desc: str, cap: int, draft=None):
    """Open ``data`` (bytes or a binary file object; header only) within the pixel cap;
    yield ``(img, width, height)`` with the upright size. With ``draft`` (width, height),
    a JPEG is first set to decode at the smallest libjpeg scale covering it and the cap
    applies to that size. Any failure inside, decoding included, becomes a typed error."""
    Image = _pillow()
    from PIL import UnidentifiedImageError

    try:
        with Image.open(data if hasattr(data, "read") else io.BytesIO(data)) as img:
            width, height = img.size
            if draft is not None and img.format == "JPEG":
                img.draft(None, draft)
            if img.size[0] * img.size[1] > cap:
                raise _too_many_pixels(desc, *img.size, cap)
            if _orientation(img) in (5, 6, 7, 8):
                # orientations 5-8 turn the image by 90 degrees: the upright size is transposed
                width, height = height, width
            yield img, int(width), int(height)
    except UnreadableImageError:
        raise
    except UnidentifiedImageError:
        raise UnreadableImageError(desc, "not an image file that Pillow can decode") from None
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        n = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise ImageTooLargeError(desc, f"{n}, the limit is {cap:,} (a possible decompression bomb; "
                                       f"raise the limit with IMSIM_MAX_IMAGE_PIXELS)",
                                 pixels=int(found.group(1)) if found else None) from None
    except MemoryError:
        raise ImageTooLargeError(desc, "not enough memory to decode it") from None
    except Exception as exc:  # noqa: BLE001
        # Pillow's format plugins raise many exception types on damaged input
        # (OSError, SyntaxError, struct.error, IndexError, ...): all mean "unreadable".
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason.lower() and not reason.startswith("image file is truncated"):
            reason = f"image file is truncated ({reason})"  # one wording for every format
        raise UnreadableImageError(desc, reason) from None


def _decode_bytes(data: bytes, desc: str, target, color: bool, cap: int, budget,
                  keep_alpha: bool = False) -> DecodedImage:
    Image = _pillow()
    from PIL import ImageOps

    # libjpeg decodes at 1/2, 1/4 or 1/8 scale when that still leaves at least the
    # target size (either orientation); the cap and the budget apply to that raster
    draft = None if target is None else (max(target), max(target))
    with _opened(data, desc, cap, draft) as (img, width, height):
        fmt = img.format
        with budget.hold(budget.cost(*img.size, img.mode)):
            img = ImageOps.exif_transpose(img)
            if fmt != "JPEG":  # not drafted: a PNG's eXIf chunk after the pixels is seen now
                width, height = img.size
            img = (img.convert("RGBA") if keep_alpha and color and has_alpha(img)
                   else to_mode(img, color))
            if target is not None and img.size != target:
                img = img.resize(target, Image.Resampling.BILINEAR)
            pixels = np.array(img, dtype=np.uint8)
    return DecodedImage(pixels=pixels, width=width, height=height, format=fmt)


def decode_image(source, *, size=None, color: bool = True, max_bytes: int | None = None,
                 max_pixels: int | None = None, budget: DecodeBudget | None = None,
                 name: str | None = None, keep_alpha: bool = False) -> DecodedImage:
    """Decode one image the way every imsim command does, within the caps.

    Parameters
    ----------
    source : str, path-like, bytes or binary file object
        The encoded image (JPEG, PNG, WebP, BMP, GIF, TIFF; the first frame of an
        animation). A path must name a regular file.
    size : int or (width, height), optional
        Resize to this size with bilinear interpolation; an int means a square. The
        aspect ratio is not kept. Default: the image's own (upright) size.
    color : bool
        True for RGB, False for 8-bit grayscale (ITU-R 601 luma, Pillow's ``L``).
        Transparent pixels are composited onto white first (a nearly white picture onto a
        darker backdrop: :func:`flatten_alpha`).
    max_bytes, max_pixels : int, optional
        Caps for this call (default :func:`limits`).
    budget : DecodeBudget, optional
        The concurrency bound to hold while decoding (default :data:`DECODE_BUDGET`).
    name : str, optional
        How errors name the source (default: the path, the file object's name, or
        ``<N bytes>``).
    keep_alpha : bool
        With ``color``: a transparent image's pixels as RGBA (H, W, 4), not composited
        (what tells two transparent pictures apart that look alike on one backdrop).

    Returns
    -------
    DecodedImage
        ``pixels`` (H, W, 3), (H, W, 4) or (H, W) uint8 and the upright ``width`` x
        ``height``.

    Raises
    ------
    ImageTooLargeError
        Above the byte or the pixel cap (a ValueError).
    UnreadableImageError
        Missing, not a regular file, undecodable or truncated (a ValueError).
    ValueError
        For a bad ``size``.
    """
    target = target_size(size)
    lim = limits()
    cap_bytes = lim.max_bytes if max_bytes is None else int(max_bytes)
    cap_pixels = lim.max_pixels if max_pixels is None else int(max_pixels)
    data, desc = _read_source(source, cap_bytes)
    return _decode_bytes(data, name or desc, target, bool(color), cap_pixels,
                         DECODE_BUDGET if budget is None else budget, bool(keep_alpha))


def probe_image(source, *, max_bytes: int | None = None, max_pixels: int | None = None,
                name: str | None = None) -> tuple[int, int, str | None]:
    """Upright ``(width, height, format)`` of an image from its header, within the caps.

    Reads the file (regular files only, at most ``max_bytes``) but decodes no pixel:
    what a server checks before it queues an upload. Raises as :func:`decode_image`.
    """
    with open_image(source, max_bytes=max_bytes, max_pixels=max_pixels, name=name) as (img, width, height):
        return width, height, img.format


@contextlib.contextmanager
def open_image(source, *, draft=None, max_bytes: int | None = None, max_pixels: int | None = None,
               name: str | None = None):
    """The image opened within the caps, for a caller that decodes it itself (the web
    server's reduced, budgeted decode: :mod:`imsim.web._images`).

    Parameters
    ----------
    source : str, path-like, bytes or binary file object
        A path is read as :func:`read_image_file` reads it; a file object is handed to
        Pillow as it is (decoded from the file, not copied into memory) once its size
        is under the byte cap.
    draft : (width, height), optional
        A JPEG is decoded by libjpeg at the smallest 1/2, 1/4 or 1/8 scale that still
        covers this size; the pixel cap then applies to the size actually decoded.
    max_bytes, max_pixels, name
        As in :func:`decode_image`.

    Yields
    ------
    (PIL.Image.Image, int, int)
        The opened image (header read, pixels not decoded yet: ``img.size`` is the
        raster that decoding makes) and its upright width and height in the file. Any error inside
        the ``with`` block, the decode included, is raised as in :func:`decode_image`.
    """
    lim = limits()
    cap_bytes = lim.max_bytes if max_bytes is None else int(max_bytes)
    st = _regular_stat(source)
    if st is not None:  # an open regular file: Pillow reads it as it decodes
        data, desc = source, _describe(source)
        if st.st_size > cap_bytes:
            raise _too_many_bytes(name or desc, st.st_size, cap_bytes)
    else:
        data, desc = _read_source(source, cap_bytes)
    with _opened(data, name or desc, lim.max_pixels if max_pixels is None else int(max_pixels),
                 draft) as opened:
        yield opened


def _regular_stat(source) -> os.stat_result | None:
    """The ``fstat`` of a binary file object open on a regular file, else None."""
    try:
        st = os.fstat(source.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def load_image(source, *, size=None, color: bool = True) -> np.ndarray:
    """The pixels of :func:`decode_image` (same parameters, errors and limits).

    Returns
    -------
    ndarray of shape (H, W, 3) if color else (H, W), dtype uint8
        After the EXIF orientation is applied, so (H, W) is the upright size.
    """
    return decode_image(source, size=size, color=color).pixels
