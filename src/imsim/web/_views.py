"""What the page shows besides search: thumbnails, the latent map's points, the
distance scale and the duplicate groups. Each is computed once per served version and
kept in memory (versions are immutable)."""
from __future__ import annotations

import base64
import threading
from collections import OrderedDict

import numpy as np
from fastapi import HTTPException

from ..collection import THUMBNAIL_SIDES, media_type
from ._maps import MapPoints

_SCALE_SAMPLE = 1_000  # images whose nearest neighbour sets the scale of another metric
HASH_CHARS = 12  # of the photo's SHA-256 in a thumbnail's URL and ETag
IMMUTABLE = "public, max-age=31536000, immutable"
#: the ?size= values of a thumbnail -> longest side in pixels (the sizes stored at indexing)
THUMB_SIDES = {"thumbnail": THUMBNAIL_SIDES[0], "thumbnail-2x": THUMBNAIL_SIDES[1]}


class Extras:
    """What the page shows of one served version besides search: thumbnail URLs and the
    stored thumbnails, the distance scale, the map's points, the duplicate groups. Each
    is computed on first use and kept (a version is immutable)."""

    def __init__(self, coll, records):
        self.coll = coll
        self.records = records
        self._stored = coll.thumbnails()
        self.typical = Cached(lambda metric: typical_distance(coll, metric))
        self.points = MapPoints(coll, records)
        self.duplicates = Cached(lambda threshold: duplicates(coll, threshold))

    def hash(self, image_id: int) -> str:
        return self.records[image_id].sha256[:HASH_CHARS]

    see_through = None  # the View's imsim.web._alpha.SeeThrough: icons shown from their file

    def url(self, image_id: int, size: str = "thumbnail") -> str:
        """The thumbnail's URL, named by the photo's content: cacheable for ever (a small
        picture with transparency: the file itself, see :mod:`imsim.web._alpha`)."""
        if self.see_through is not None and self.see_through(image_id):
            size = "original"
        extra = "" if size == "thumbnail" else f"&size={size}"
        return f"/api/images/{image_id}?h={self.hash(image_id)}{extra}"

    def stored(self, image_id: int, size: str) -> tuple[bytes, str] | None:
        """(encoded thumbnail, media type) stored at indexing, or None."""
        if self._stored is None:
            return None
        data = self._stored.get(image_id, list(THUMB_SIDES).index(size))
        return (data, media_type(data)) if data else None

    def data_uri(self, image_id: int, size: str) -> str | None:
        """The stored thumbnail as a ``data:`` URI (None when not stored): a listing
        carries a page of them in one answer, so a tab shows its tiles at once."""
        if self.see_through is not None and self.see_through(image_id):
            return self.see_through.data_uri(image_id)
        found = self.stored(image_id, size)
        if found is None:
            return None
        return f"data:{found[1]};base64,{base64.b64encode(found[0]).decode('ascii')}"


def typical_distance(coll, metric: str) -> float | None:
    """Median distance from a collection image to its nearest other image, in ``metric``.

    The page draws each result's distance against it. The collection's own metric
    reads it from the cached neighbour lists; another metric searches a seeded
    sample of 1,000 images exactly. None for a collection of one image.
    """
    n = len(coll)
    if n < 2:
        return None
    if metric == coll.settings.metric:
        nearest = np.asarray(coll.neighbors()[1][:, 0])
    else:
        from ..distances import topk

        rows = np.arange(n)
        if n > _SCALE_SAMPLE:
            rows = np.sort(np.random.default_rng(0).choice(n, _SCALE_SAMPLE, replace=False))
        latents = np.asarray(coll.latents)
        D, I = topk(latents[rows], latents, 2, metric)
        nearest = np.where(I[:, 0] == rows, D[:, 1], D[:, 0])
    nearest = nearest[np.isfinite(nearest)]
    return float(np.median(nearest)) if nearest.size else None


class Cached:
    """``fn(key)`` computed once per key (the latest ``maxsize`` keys kept), one at a time."""

    def __init__(self, fn, maxsize: int = 16):
        self.fn = fn
        self.maxsize = maxsize
        self.lock = threading.Lock()
        self.done: OrderedDict = OrderedDict()

    def __call__(self, key):
        with self.lock:
            if key not in self.done:
                self.done[key] = self.fn(key)
                if len(self.done) > self.maxsize:
                    self.done.popitem(last=False)
            self.done.move_to_end(key)
            return self.done[key]


def duplicates(coll, threshold: float | None) -> dict:
    """``coll.duplicates(threshold).to_dict()`` and the version its ids belong to, or the
    HTTP error that says why not (the library checks the threshold: 422 with its message)."""
    try:
        return {"version": coll.version, **coll.duplicates(threshold).to_dict()}
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
