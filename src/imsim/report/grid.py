"""A PNG grid of images with optional titles: samples, query results, clusters."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .._io import atomic_path

__all__ = ["image_grid", "shorten_middle"]

_TARGET_CELL_PX = 96   # default magnification aims at cells about this wide
_FONT_PT = 10          # title font: 13.9 px at 100 dpi, capitals about 10 px high
_LINE_PX = 16          # height of one title line in the strip above each cell
_ELLIPSIS = "\u2026"


def _as_rgb_list(images) -> list[np.ndarray]:
    images = getattr(images, "images", images)  # an ImageSet
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4):
            raise ValueError(f"images must have shape (N, H, W) or (N, H, W, C), got {images.shape}")
        images = list(images)
    out = []
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.dtype != np.uint8:
            raise TypeError(f"image {i} has dtype {img.dtype}, expected uint8 pixels")
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=-1)
        if img.ndim != 3 or img.shape[-1] != 3 or 0 in img.shape:
            raise ValueError(f"image {i} has shape {img.shape}, expected (H, W) or (H, W, 3)")
        out.append(img)
    if not out:
        raise ValueError("no images to draw")
    return out


def shorten_middle(text: str, fits) -> str:
    """``text``, or its start and end around an ellipsis: the longest such that ``fits``.

    A third of the characters kept come from the start and two thirds from the end,
    where a file name differs from its neighbours' most often
    (``64x64/sta…ter-error.png``). ``fits(str) -> bool`` says whether a candidate fits.
    """
    def cut(kept: int) -> str:
        head = kept // 3
        return text[:head] + _ELLIPSIS + text[len(text) - (kept - head):]

    if fits(text):
        return text
    lo, hi = 0, len(text) - 1  # characters kept around the ellipsis
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(cut(mid)):
            lo = mid
        else:
            hi = mid - 1
    return cut(lo)


def _width_px(renderer, font):
    def width(text: str) -> float:
        return renderer.get_text_width_height_descent(text, font, ismath=False)[0]
    return width


def image_grid(images, path, *, titles=None, ncols: int | None = None, scale: int | None = None,
               pad: int = 4, dpi: int = 100) -> Path:
    """Write ``images`` as one PNG grid, row by row, with optional titles.

    Parameters
    ----------
    images : ndarray of shape (N, H, W) or (N, H, W, 3), dtype uint8, a sequence
        of such (H, W[, 3]) arrays (sizes may differ), or an ImageSet
        Gray images are drawn in gray levels 0..255 (no contrast stretch).
    path : str or path-like
        Output PNG file; written atomically (temporary file + rename).
    titles : sequence of str, optional
        One caption per image (labels, distances, file names), one or more lines
        separated by ``"\\n"``; a line wider than its cell is shortened in the middle.
    ncols : int, optional
        Images per row; default ceil(sqrt(N)).
    scale : int, optional
        Output pixels per image pixel (nearest-neighbour, so pixels stay crisp);
        default about 96 px per cell, at least 1.
    pad : int
        Gap between cells, in output pixels.
    dpi : int
        Only sets the title font size in pixels (10 pt).

    Returns
    -------
    Path
        ``path``. The PNG is ``ncols*(w*scale + pad) + pad`` pixels wide and
        ``nrows*(h*scale + pad + title) + pad`` high, with ``title`` 16 px per line
        of the longest title when titles are given, else 0; (h, w) is the largest
        image size.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cells = _as_rgb_list(images)
    n = len(cells)
    if titles is not None:
        titles = [str(t) for t in titles]
        if len(titles) != n:
            raise ValueError(f"{len(titles)} titles for {n} images")
    ncols = math.ceil(math.sqrt(n)) if ncols is None else int(ncols)
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    h = max(c.shape[0] for c in cells)
    w = max(c.shape[1] for c in cells)
    scale = max(1, _TARGET_CELL_PX // max(h, w)) if scale is None else int(scale)
    if scale < 1:
        raise ValueError(f"scale must be at least 1, got {scale}")
    n_lines = max(t.count("\n") + 1 for t in titles) if titles else 0
    title_px = _LINE_PX * n_lines
    cell_w, cell_h = w * scale, h * scale
    width = ncols * (cell_w + pad) + pad
    height = nrows * (cell_h + title_px + pad) + pad

    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for i, img in enumerate(cells):
        row, col = divmod(i, ncols)
        big = img.repeat(scale, axis=0).repeat(scale, axis=1)
        # smaller images sit in the middle of their cell
        y = pad + row * (cell_h + title_px + pad) + title_px + (cell_h - big.shape[0]) // 2
        x = pad + col * (cell_w + pad) + (cell_w - big.shape[1]) // 2
        canvas[y:y + big.shape[0], x:x + big.shape[1]] = big

    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    # figimage draws the array at one array pixel per output pixel: no resampling
    fig.figimage(canvas, xo=0, yo=0, origin="upper")
    if titles:
        from matplotlib.font_manager import FontProperties

        width_of = _width_px(fig.canvas.get_renderer(), FontProperties(size=_FONT_PT))
    for i, text in enumerate(titles or []):
        row, col = divmod(i, ncols)
        cx = pad + col * (cell_w + pad) + cell_w / 2
        top = pad + row * (cell_h + title_px + pad) + title_px - _LINE_PX * (text.count("\n") + 1)
        room = cell_w + pad - 2
        for j, line in enumerate(text.split("\n")):
            cy = top + _LINE_PX * (j + 0.5)
            fig.text(cx / width, 1 - cy / height,
                     shorten_middle(line, lambda t, room=room: width_of(t) <= room),
                     ha="center", va="center", fontsize=_FONT_PT, color="black")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, facecolor="white")
    return path
