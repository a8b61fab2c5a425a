"""Querying a collection: by image (the ANN index, the neighbour cache, or an exact search
for another metric; a verified re-rank), by text, and a photo's vector as a query makes it.

The functions take the opened :class:`~imsim.collection.Collection` as ``coll`` and trust
their arguments: ``Collection.query``, ``query_text`` and ``encode`` check them first.
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .._validation import ImageTooLargeError
from ..datasets.image import limits, read_image_file
from . import _model
from ._duplicates import absolute_threshold, in_metric
from ._results import Hit, QueryResult

VERIFY_DEPTH = 16  # hits a verified query re-ranks
UNDECIDED = 0.75  # share of the encoder's duplicate threshold: an unverified hit nearer is not demoted
MAX_TEXT = 1000  # characters of a text query (a CLIP tower reads 77 tokens of it)


def check_threshold(threshold: float | None) -> None:
    """A distance threshold: None, or a finite number >= 0 (ValueError else).
    ``imsim query`` calls it before choosing a collection, ``Collection.query``,
    ``query_text`` and ``duplicates`` at their boundary."""
    if threshold is not None and not (np.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be a distance, a finite number >= 0, got {threshold!r}")


def encode(coll, image) -> np.ndarray:
    """The latent vector (latent_dim,) float32 of a photo (path, bytes or file object)."""
    data, desc, _ = identify(coll, image, lookup=False)
    return _encode_bytes(coll, data, desc)[0]


def _encode_bytes(coll, data: bytes, desc: str) -> np.ndarray:
    from ._photo import decode_photo

    # decoded as the build decodes each photo (identical pixels for an indexed file);
    # errors name the query as the caller gave it
    pixels = decode_photo(data, coll.settings.size, coll.settings.color, desc).pixels
    return _model.encode(coll.model, pixels[None], progress=False)


def query(coll, image, n: int, *, metric: str, threshold: float | None, mode: str,
          verify: bool) -> QueryResult:
    """The ``n`` images most like ``image`` (see :meth:`Collection.query`; the arguments
    are checked there, ``metric`` is a canonical name)."""
    data, desc, self_id = identify(coll, image)
    cached = (mode == "auto" and self_id is not None and metric == coll.settings.metric
              and n <= coll.settings.n_cached)
    wanted = n
    if verify:  # a deeper list to re-rank (the cached one when it answers)
        n = min(max(n, VERIFY_DEPTH), coll.settings.n_cached) if cached else max(n, VERIFY_DEPTH)
    if cached:
        ids_all, dist_all = coll.neighbors()
        ids, dist = np.asarray(ids_all[self_id, :n]), np.asarray(dist_all[self_id, :n])
    else:
        if data is not None and (mode == "default" or self_id is None):
            q = _encode_bytes(coll, data, desc)
        else:
            q = np.asarray(coll.latents[self_id:self_id + 1])
        k = min(n + (self_id is not None), len(coll))
        if metric == coll.settings.metric:
            D, I = coll._index_obj().search(q, k)
        else:
            from ..distances import topk

            D, I = topk(q, np.asarray(coll.latents), k, metric)
        keep = I[0] >= 0
        if self_id is not None:
            keep &= I[0] != self_id
        ids, dist = I[0][keep][:n], D[0][keep][:n]
    hits = _hits(coll, ids, dist, metric, threshold)
    if verify:  # the nearest VERIFY_DEPTH re-ranked, any further ones as they were
        hits = _verified(coll, hits[:VERIFY_DEPTH], data, self_id) + hits[VERIFY_DEPTH:]
    return QueryResult(hits=hits[:wanted],
                       mode="cached" if cached else "default", metric=metric,
                       query_id=self_id, query=desc)


def query_text(coll, text: str, n: int, *, threshold: float | None) -> QueryResult:
    """The ``n`` images that best match ``text`` (see :meth:`Collection.query_text`)."""
    q = coll.model.encode_text([text])
    D, I = coll._index_obj().search(q, min(n, len(coll)))
    metric = coll.settings.metric
    return QueryResult(hits=_hits(coll, I[0], D[0], metric, threshold), mode="text",
                       metric=metric, query=text)


def _hits(coll, ids, dist, metric: str, threshold) -> list[Hit]:
    ids, dist = np.asarray(ids), np.asarray(dist)
    valid = ids >= 0
    if threshold is not None:
        valid &= dist <= threshold
    ids, dist = ids[valid], dist[valid]
    return [Hit(id=int(i), path=str(coll.photos_root / rel), relpath=rel, distance=float(d),
                similarity=float(1.0 - d) if metric == "cosine" else None, label=lab)
            for i, d, (rel, lab) in zip(ids, dist, coll._rows(ids))]


def _verified(coll, hits: list[Hit], data: bytes | None, self_id: int | None) -> list[Hit]:
    """``hits`` re-ranked by :func:`verified_order` (:attr:`Hit.verified`,
    :attr:`Hit.same_layout`)."""
    import dataclasses

    from threadpoolctl import threadpool_limits

    from . import _verify

    if coll._features is None:
        coll._features = _verify.FeatureCache(_verify.photo_source(coll))
    if data is not None:
        from ..datasets.image import probe_image
        from ._thumbs import SIZES, make_thumbnail

        w, h, _ = probe_image(data)
        q = _verify.features(*_verify.decode_backdrop(make_thumbnail(data, w, h, SIZES[-1])[0]))
    else:
        q = coll._features.get(self_id)
    mirror = _verify.mirrored(q)

    def level(hit) -> int:  # 2: the same picture, 1: the same layout, 0: neither
        try:
            f = coll._features.get(hit.id)
        except (OSError, ValueError):  # a photo gone since: left unverified
            return 0
        m = _verify.match(q, f)
        if m.same_picture:
            return 2
        flip = _verify.match(mirror, f, flipped=True)
        return 2 if flip.same_picture else int(m.same_layout or flip.same_layout)

    # OpenCV and FAISS release the GIL: the hits are checked on the cores at once
    with threadpool_limits(1, user_api="openmp"), \
            ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        levels = list(pool.map(level, hits))
    near = in_metric(UNDECIDED * absolute_threshold(coll.encoder_name, "l2"), coll.settings.metric)
    order = verified_order(levels, [h.distance for h in hits], near)
    return [dataclasses.replace(hits[i], verified=levels[i] == 2, same_layout=levels[i] >= 1)
            for i in order]


def verified_order(levels, distances, near: float) -> list[int]:
    """The order of a verified query's hits: the same picture (level 2) first, then the
    same layout (level 1) together with the unverified hits nearer than ``near`` (their
    vectors all but say the same picture, and local features fail on tiny or plain
    versions: an icon of 16 px), then the rest; nearest first within each (``levels``
    and ``distances`` given nearest first)."""
    rank = [2 if lv == 2 else 1 if lv == 1 or d <= near else 0
            for lv, d in zip(levels, distances)]
    return sorted(range(len(rank)), key=lambda i: -rank[i])  # stable: nearest first


def encoder_matches(coll, encoder: str) -> bool:
    """Whether ``encoder`` (a name the user gave) is the encoder that made ``coll``'s vectors."""
    from ..encoders import check_name, same_encoder

    recorded = coll.manifest.get("encoder") or {"name": coll.encoder_name}
    if str(encoder).startswith("onnx:"):
        encoder = check_name(encoder)
    return same_encoder(encoder, recorded)


def identify(coll, image, lookup: bool = True) -> tuple[bytes | None, str, int | None]:
    """(file bytes or None, a description, id of the same image in the collection)."""
    if lookup and isinstance(image, (int, np.integer)) and not isinstance(image, bool):
        if not 0 <= int(image) < len(coll):
            raise ValueError(f"image id {image} is out of range: the collection holds "
                             f"ids 0..{len(coll) - 1}")
        return None, f"id {int(image)}", int(image)
    rel = None
    if isinstance(image, (str, os.PathLike)):
        p = Path(image).expanduser()
        if not p.exists() and not p.is_symlink():
            raise FileNotFoundError(f"query image not found: {p}")
        data, desc = read_image_file(p), str(p)
        try:
            rel = p.resolve().relative_to(coll.photos_root).as_posix()
        except ValueError:
            pass
    elif isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        desc = f"<{len(data)} bytes>"
    elif hasattr(image, "read"):
        desc = str(getattr(image, "name", "<file object>"))
        cap = limits().max_bytes
        data = image.read(cap + 1)
        if len(data) > cap:
            raise ImageTooLargeError(desc, f"more than {cap:,} bytes, the limit "
                                           f"(raise it with IMSIM_MAX_IMAGE_BYTES)")
    else:
        raise TypeError(f"query image must be a path, bytes, a file object"
                        f"{' or an image id' if lookup else ''}, got {type(image).__name__}")
    if not lookup:
        return data, desc, None
    sha = hashlib.sha256(data).hexdigest()
    rows = coll._con.execute("SELECT id, path FROM images WHERE sha256 = ? ORDER BY id",
                             (sha,)).fetchall()
    self_id = next((i for i, p in rows if p == rel), rows[0][0] if rows else None)
    return data, desc, self_id
