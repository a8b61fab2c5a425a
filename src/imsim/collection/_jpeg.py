"""The fast path of a collection's JPEG photos: decoded by OpenCV straight into NumPy.

A JPEG photo (YCbCr or gray, ending with its end-of-image marker) is opened by the
library's :func:`~imsim.datasets.image.open_image` as every photo is (the byte and pixel
caps, the header's upright size and EXIF orientation, libjpeg's draft scale), then
decoded by OpenCV's libjpeg-turbo at that same 1/2, 1/4 or 1/8 scale
(``cv2.imdecode(IMREAD_REDUCED_COLOR_*)``: the pixels Pillow's drafted decode gives),
into a BGR ``uint8`` array instead of Pillow's 4-byte pixels. Its thumbnails
(:func:`imsim.collection._thumbs.from_decoded`) and the vector's input
(:func:`imsim.collection._photo.decode_photo`) are then made from that array with
OpenCV's resizes and JPEG encoder. Measured on 1024 x 768 camera JPEGs: 2.1 ms of CPU a
photo instead of 3.6 ms through Pillow (docs/MEASUREMENTS.md).

Everything else is decoded by Pillow (:func:`~imsim.datasets.reduced.decode_reduced`);
an opaque picture then goes the same way from its RGB raster (:func:`from_pillow`), so a
JPEG and a lossless PNG copy of it get the same thumbnails and vector (the "same
pixels" duplicates are found by their vectors first). Pillow's path, start to end:
other formats, CMYK JPEGs, a file that does not end with the JPEG end marker (a
truncated one: Pillow says so; trailing data after the marker: decoded by Pillow),
a file object (decoded from the file, not read into memory), and any JPEG OpenCV does
not decode to the size Pillow announced. Errors stay Pillow's: a file OpenCV cannot
decode goes to Pillow, which decodes it or says why not.
"""
from __future__ import annotations

import os

import numpy as np

from ..datasets.image import DECODE_BUDGET, read_image_file

_EOI = b"\xff\xd9"
_TURNED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def _cv2():
    try:
        import cv2
    except ImportError:  # a broken install: Pillow's path decodes every photo
        return None
    return cv2


def in_memory(source, name: str | None = None) -> tuple[bytes | None, str | None]:
    """(the encoded bytes of ``source``, the name its errors give): bytes as they are, a path
    read as :func:`~imsim.datasets.image.open_image` reads it (the same checks and errors);
    None for a file object, which Pillow decodes from the file."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), name
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        return read_image_file(source), name or (path if isinstance(path, str) else repr(path))
    return None, name


def decode(img, data, width: int, height: int, target: tuple[int, int], budget=None):
    """The JPEG ``data``, opened (and drafted) as ``img`` by ``open_image``, decoded by
    OpenCV at the drafted scale, or None when this path does not take it.

    Parameters
    ----------
    img : PIL.Image.Image
        ``data`` as :func:`~imsim.datasets.image.open_image` opened it (header read and
        drafted, pixels not decoded).
    data : bytes
        The encoded file.
    width, height : int
        Its upright size (what ``open_image`` yields).
    target : (int, int)
        The upright size of the largest thumbnail made from the result
        (:func:`imsim.collection._thumbs.fit_size`): the drafted raster is shrunk by the
        largest integer factor (area averages) that keeps it at least that size.
    budget : DecodeBudget, optional
        Held while decoding (default the library's ``DECODE_BUDGET``).

    Returns
    -------
    (ndarray, callable) or None
        The shrunk raster, upright, BGR ``uint8`` of shape (h, w, 3); and a function
        returning the whole drafted raster, upright (for a vector input larger than
        the shrunk raster: a very wide or tall photo).
    """
    if (data is None or img.format != "JPEG" or img.mode not in ("RGB", "L")
            or bytes(data[-2:]) != _EOI):
        return None
    cv2 = _cv2()
    if cv2 is None:
        return None
    try:
        exif = img.getexif()  # as Pillow's path reads it: a damaged block goes there too
    except Exception:  # noqa: BLE001
        return None
    orientation = exif.get(0x0112) if exif else None
    raw_w, raw_h = (height, width) if orientation in _TURNED else (width, height)
    w, h = img.size  # the drafted raster's size
    scale = next((s for s in (1, 2, 4, 8) if -(-raw_w // s) == w and -(-raw_h // s) == h), None)
    if scale is None:
        return None
    flag = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}[scale]
    tw, th = target
    if orientation in _TURNED:
        tw, th = th, tw  # the target in the file's own frame
    factor = _factor(w, h, tw, th)
    out_w, out_h = round(w / factor), round(h / factor)
    budget = DECODE_BUDGET if budget is None else budget
    with budget.hold(budget.cost(w, h, "RGB") + budget.cost(out_w, out_h, "RGB")):
        try:
            drafted = cv2.imdecode(np.frombuffer(data, np.uint8), flag | cv2.IMREAD_IGNORE_ORIENTATION)
        except cv2.error:
            return None
        if drafted is None or drafted.shape != (h, w, 3):
            return None
        raster = drafted if factor == 1 else cv2.resize(drafted, (out_w, out_h),
                                                        interpolation=cv2.INTER_AREA)
    return upright(raster, orientation), lambda: upright(drafted, orientation)


def _factor(w: int, h: int, tw: int, th: int) -> int:
    """The largest integer factor that keeps a w x h raster at least tw x th."""
    return max(1, min(w // max(tw, 1), h // max(th, 1)))


def from_pillow(img, target: tuple[int, int]):
    """An opaque photo Pillow decoded (``decode_reduced``: RGB, upright) as the JPEG path's
    raster: BGR, shrunk by the same integer factor, so a file and its lossless copy in
    another format (the same pixels) get the same thumbnails and vector; None without
    OpenCV or for another mode (transparency: Pillow's thumbnails keep it). ``target``: as
    in :func:`decode`."""
    cv2 = _cv2()
    if cv2 is None or img.mode != "RGB":
        return None
    a = cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)
    h, w = a.shape[:2]
    factor = _factor(w, h, *target)
    if factor == 1:
        return a
    return cv2.resize(a, (round(w / factor), round(h / factor)), interpolation=cv2.INTER_AREA)


def upright(a: np.ndarray, orientation) -> np.ndarray:
    """The array ``a`` (rows, columns, ...) as shown: EXIF ``orientation`` applied as
    :func:`PIL.ImageOps.exif_transpose` applies it (1, None or unknown: as it is)."""
    t = a.swapaxes(0, 1) if orientation in _TURNED else a
    flips = {2: (slice(None), slice(None, None, -1)), 3: (slice(None, None, -1), slice(None, None, -1)),
             4: (slice(None, None, -1),), 5: (), 6: (slice(None), slice(None, None, -1)),
             7: (slice(None, None, -1), slice(None, None, -1)), 8: (slice(None, None, -1),)}
    if orientation not in flips:
        return a
    return np.ascontiguousarray(t[flips[orientation]])
