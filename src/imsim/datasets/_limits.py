"""The caps every image decode obeys, read from the environment at each call, and
Pillow set up once for them. A leaf of :mod:`imsim.datasets`: :mod:`.image`,
:mod:`._regular` and :mod:`._budget` all read their limits here.
"""
from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass

from .._validation import env_int

__all__ = ["ImageLimits", "limits", "DEFAULT_MAX_BYTES"]

DEFAULT_MAX_BYTES = 256 * 2**20
_PILLOW_READY = False
_FILTER_LOCK = threading.Lock()


def _bomb_warning_ignored(category) -> bool:
    """Whether the first filter that applies to Pillow's bomb warning ignores it."""
    for action, message, cat, module, _ in warnings.filters:
        if issubclass(category, cat) and message is None and (module is None or module.match("PIL.Image")):
            return action == "ignore"
    return False


def _pillow():
    """Pillow's Image module, set up once for imsim.

    Pillow warns (DecompressionBombWarning, a raw line with a source path) between its
    limit and twice it; imsim refuses everything above the limit itself, so that
    warning never says anything new and is silenced for Pillow's own module only.
    ``IMSIM_MAX_IMAGE_PIXELS`` above Pillow's limit raises Pillow's limit with it.
    """
    global _PILLOW_READY
    from PIL import Image

    # checked on each call because warnings.catch_warnings() blocks elsewhere restore the
    # filter list; added under a lock (filterwarnings is not thread-safe)
    if not _bomb_warning_ignored(Image.DecompressionBombWarning):
        with _FILTER_LOCK:
            warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning, module=r"PIL\.")
    if not _PILLOW_READY:
        wanted = env_int("IMSIM_MAX_IMAGE_PIXELS", None)
        if wanted is not None:
            if Image.MAX_IMAGE_PIXELS is not None and wanted > Image.MAX_IMAGE_PIXELS:
                Image.MAX_IMAGE_PIXELS = wanted
        _PILLOW_READY = True
    return Image


@dataclass(frozen=True)
class ImageLimits:
    """The caps every decode obeys (read from the environment at each call).

    Attributes
    ----------
    max_bytes : int
        Longest file or upload read, in bytes (``IMSIM_MAX_IMAGE_BYTES``).
    max_pixels : int
        Most pixels (width x height) decoded (``IMSIM_MAX_IMAGE_PIXELS``; default
        Pillow's ``Image.MAX_IMAGE_PIXELS``).
    """

    max_bytes: int
    max_pixels: int


def limits() -> ImageLimits:
    """The current :class:`ImageLimits`."""
    Image = _pillow()
    pil_limit = Image.MAX_IMAGE_PIXELS or 2**62
    return ImageLimits(max_bytes=env_int("IMSIM_MAX_IMAGE_BYTES", DEFAULT_MAX_BYTES),
                       max_pixels=env_int("IMSIM_MAX_IMAGE_PIXELS", pil_limit))
