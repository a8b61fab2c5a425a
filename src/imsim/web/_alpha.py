"""Small pictures with transparency are shown from their own file, not their thumbnail.

Thumbnails keep a picture's transparency (collections indexed before that composited it
on white, where a white icon on a transparent background, a ghost or a flag, is a white
square on the page), and an icon is crisper from its own file than from a thumbnail
that enlarges it. So a picture whose longest side is at most :data:`MAX_SIDE` pixels, in a format that can
be transparent, and whose file says it is (an alpha channel or a transparent colour),
is shown from the file itself, on the tiles' checkerboard: such files are small, and
the browser scales them. Read as every photo is (:func:`imsim.web._files.open_photo`:
inside the photo folder, still the file indexed); what a file says is kept per version.
"""
from __future__ import annotations

import base64
import threading
from pathlib import PurePosixPath

from ..datasets import image as _lib
from . import _files
from ._images import MEDIA_TYPES

MAX_SIDE = 128  # icons; larger pictures keep their stored thumbnail
MAX_EMBED = 64 * 1024  # bytes of a file a listing carries inline as a data: URI
_KINDS = {".png", ".gif", ".webp"}


class SeeThrough:
    """``see_through(image_id)``: whether the page shows image ``image_id`` from its file."""

    def __init__(self, view):
        self.view = view
        self._known: dict[int, bool] = {}
        self._lock = threading.Lock()

    def __call__(self, image_id: int) -> bool:
        rec = self.view.records[image_id]
        if max(rec.width, rec.height) > MAX_SIDE or PurePosixPath(rec.path).suffix.lower() not in _KINDS:
            return False
        with self._lock:
            known = self._known.get(image_id)
        if known is None:
            known = self._transparent(rec)
            with self._lock:
                self._known[image_id] = known
        return known

    def _transparent(self, rec) -> bool:
        try:
            with _files.open_photo(self.view, rec) as fp, _lib.open_image(fp, name=rec.path) as (img, _, _):
                return img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
        except Exception:  # noqa: BLE001 - gone, changed or unreadable: the thumbnail stands
            return False

    def data_uri(self, image_id: int) -> str | None:
        """The file as a ``data:`` URI when it is small enough to travel in a listing."""
        rec = self.view.records[image_id]
        if rec.size > MAX_EMBED:
            return None
        try:
            with _files.open_photo(self.view, rec) as fp:
                data = fp.read(MAX_EMBED + 1)
        except Exception:  # noqa: BLE001 - the URL then says why, when the browser asks
            return None
        media = MEDIA_TYPES.get(PurePosixPath(rec.path).suffix.lower(), "application/octet-stream")
        return f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"
