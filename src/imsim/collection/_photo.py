"""The one decode of a photo in a collection: its pixels for the vector and, at index
time, its thumbnails, from one decoded raster.

A JPEG is drafted (libjpeg's 1/2, 1/4 or 1/8 scale) to the smallest scale whose
shorter side still covers the largest thumbnail (320 px) and the vector's input. A
YCbCr or gray JPEG is then decoded at that scale by OpenCV into a BGR array and shrunk
by an integer factor to at least the largest thumbnail's size
(:func:`imsim.collection._jpeg.decode`: the same pixels as Pillow's drafted decode, with
less work around them); any other image by Pillow, shrunk by an integer box filter to
that side (:func:`~imsim.datasets.reduced.decode_reduced`, within the decode budget).
From that one raster:

* the thumbnails (:func:`imsim.collection._thumbs.from_decoded`, the bytes
  :func:`~imsim.collection._thumbs.render` makes from the file);
* the vector's pixels: the smallest of the thumbnails (or the raster) that covers the
  input side, in the collection's mode (transparency on white, RGB or gray), resized
  bilinearly to ``size`` x ``size`` (what the 1/8 draft of the input alone gave
  before: the pixels differ by about one grey level, see docs/MEASUREMENTS.md).

A query decodes its photo the same way (without the thumbnails; a path is read into
memory first, as the scan reads it), so an indexed photo and the same file given as a
query have identical pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..datasets.image import open_image, to_mode
from ..datasets.reduced import decode_reduced_oriented
from . import _thumbs


@dataclass(frozen=True)
class DecodedPhoto:
    """One photo decoded once.

    Attributes
    ----------
    pixels : ndarray of shape (size, size, 3) or (size, size), uint8
        The vector's input, upright.
    width, height : int
        Upright size of the photo in the file, in pixels.
    format : str or None
        Pillow's format name.
    thumbnails : list of bytes or None
        The encoded thumbnails of :data:`imsim.collection._thumbs.SIZES` (asked for),
        an entry ``b""`` where one could not be made (made on demand later).
    """

    pixels: np.ndarray
    width: int
    height: int
    format: str | None
    thumbnails: list[bytes] | None = None


def draft_side(size: int) -> int:
    """The shorter side a photo is decoded to (at least; or its whole size): the largest
    thumbnail's longest side, or the vector's input side when that is larger."""
    return max(max(_thumbs.SIZES), int(size))


def decode_photo(source, size: int, color: bool, name: str | None = None, *,
                 thumbnails: bool = False, budget=None) -> DecodedPhoto:
    """Decode ``source`` (path-like, bytes or binary file object) once: the vector's
    ``size`` x ``size`` pixels (``color``: RGB, else gray) and, with ``thumbnails``, the
    encoded thumbnails. Errors as :func:`~imsim.datasets.image.decode_image` raises
    them (``UnreadableImageError``, ``ImageTooLargeError``)."""
    from PIL import Image

    from . import _jpeg

    side = draft_side(size)
    data, name = _jpeg.in_memory(source, name)
    with open_image(source if data is None else data, draft=(side, side), name=name) as (img, width, height):
        fmt = img.format
        raw = img.size
        fast = _jpeg.decode(img, data, width, height, _thumbs.fit_size(width, height, max(_thumbs.SIZES)),
                            budget)
        whole = None
        if fast is not None:  # a JPEG, decoded into an array (BGR)
            decoded, whole = fast
        else:
            decoded, orientation = decode_reduced_oriented(img, side, budget, keep_alpha=True)
            if fmt != "JPEG":  # not drafted: a PNG's eXIf chunk after the pixels is seen now
                turned = orientation in (5, 6, 7, 8)
                width, height = (raw[1], raw[0]) if turned else raw
            opaque = _jpeg.from_pillow(decoded, _thumbs.fit_size(width, height, max(_thumbs.SIZES)))
            if opaque is not None:  # the JPEG path's raster: the same pixels, the same vector
                whole, decoded = (lambda full=decoded: full), opaque
        # the vector's input from the smallest thumbnail that covers it (each one made
        # from the next larger, as the stored thumbnails are): a query makes them too
        blobs, images = _thumbs.from_decoded(decoded, width, height, encode=thumbnails)
        candidates = images + [decoded]
        if whole is not None and min(_shape(decoded)) < size:
            candidates.append(whole())  # a very wide or tall photo: the whole decoded raster
        source = min((im for im in candidates if min(_shape(im)) >= size),
                     key=lambda im: _shape(im)[0] * _shape(im)[1], default=candidates[-1])
        if isinstance(source, np.ndarray):
            import cv2

            source = Image.fromarray(cv2.cvtColor(source, cv2.COLOR_BGR2RGB))
        px = to_mode(source, bool(color))
        if px.size != (size, size):
            px = px.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        pixels = np.array(px, dtype=np.uint8)
    return DecodedPhoto(pixels, int(width), int(height), fmt, blobs if thumbnails else None)


def _shape(im) -> tuple[int, int]:
    """(width, height) of a Pillow image or an (h, w, ...) array."""
    return (im.shape[1], im.shape[0]) if isinstance(im, np.ndarray) else im.size
