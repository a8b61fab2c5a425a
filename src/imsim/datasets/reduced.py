"""Reduced decoding: an image opened by :func:`~imsim.datasets.image.open_image`, decoded
within a budget and shrunk on the way, for callers that need a small picture of a
possibly huge file (thumbnails, the web server's uploads).

A JPEG is already set by ``open_image(draft=...)`` to decode at libjpeg's 1/2, 1/4 or
1/8 scale; any format is then shrunk by the largest integer box filter
(``Image.reduce``) that keeps the shorter side at least ``min_side``. The mode
conversion (the library's :func:`~imsim.datasets.image.to_mode`: transparency on
white) and the box filter run on strips of a few MiB, so the only large buffer is the
decoded raster itself (``reduce`` and ``convert`` of a whole RGBA or palette image
would each copy it), and the decode holds that raster's cost in the budget.
"""
from __future__ import annotations

from .image import DECODE_BUDGET, DecodeBudget, to_mode

__all__ = ["decode_reduced", "decode_reduced_oriented"]

_STRIP_BYTES = 4 * 2**20


def decode_reduced(img, min_side: int, budget: DecodeBudget | None = None, *,
                   keep_alpha: bool = False):
    """Decode the opened ``img`` shrunk by the largest integer factor that keeps its shorter
    side >= ``min_side``.

    Parameters
    ----------
    img : PIL.Image.Image
        As :func:`~imsim.datasets.image.open_image` yields it (header read, pixels not
        decoded); closed here once decoded.
    min_side : int
        Shortest side, in pixels, the result keeps (when the image has it).
    budget : DecodeBudget, optional
        Held for the decoded raster and the result while decoding (default
        :data:`~imsim.datasets.image.DECODE_BUDGET`).
    keep_alpha : bool
        An image with transparency comes back RGBA, its transparency kept (a
        thumbnail shown on a page's own backdrop); default: composited on white.

    Returns
    -------
    PIL.Image.Image
        RGB (transparent pixels composited on white), or RGBA (``keep_alpha`` and a
        transparent image); upright (EXIF orientation applied).
    """
    return decode_reduced_oriented(img, min_side, budget, keep_alpha=keep_alpha)[0]


def decode_reduced_oriented(img, min_side: int, budget: DecodeBudget | None = None, *,
                            keep_alpha: bool = False):
    """:func:`decode_reduced`, and the EXIF orientation found once the pixels were read
    (a PNG's eXIf chunk after its pixels is seen only then; None when there is none).

    Returns
    -------
    (PIL.Image.Image, int or None)
    """
    from PIL import Image, ImageOps

    budget = DECODE_BUDGET if budget is None else budget
    alpha = keep_alpha and (img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info)
    mode = "RGBA" if alpha else "RGB"

    def convert(part):
        return part.convert("RGBA") if alpha else to_mode(part, color=True)

    factor = max(1, min(img.size) // max(1, int(min_side)))
    width, height = img.size
    out_w, out_h = -(-width // factor), -(-height // factor)
    with budget.hold(budget.cost(width, height, img.mode) + budget.cost(out_w, out_h, mode)):
        img.load()
        rows = max(1, _STRIP_BYTES // (4 * width * factor)) * factor
        if factor == 1 and rows >= height:  # small enough for one strip: no copy to paste
            out = convert(img)
        else:
            out = Image.new(mode, (out_w, out_h))
            for top in range(0, height, rows):
                strip = convert(img.crop((0, top, width, min(top + rows, height))))
                out.paste(strip.reduce(factor) if factor > 1 else strip, (0, top // factor))
        info = img.getexif()
        orientation = info.get(0x0112) if info else None
        if out is img and orientation in (None, 1):
            return out, orientation  # decoded as it is shown: no copy to turn
        out.info["exif"] = info.tobytes() if info else b""
        out = ImageOps.exif_transpose(out)  # a new image, even when nothing turns
        img.close()  # frees the full raster inside the hold
    return out, orientation
