"""Querying a collection by image and by text: :meth:`Collection.query`,
:meth:`Collection.query_text` and :meth:`Collection.encode`."""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .._validation import ImageTooLargeError, check_metric, check_positive_int
from ..datasets.image import limits, read_image_file
from . import _model
from ._results import Hit, QueryResult


def check_threshold(threshold: float | None) -> None:
    """A query's distance threshold: None, or a finite number >= 0 (ValueError else).
    ``imsim query`` calls it before choosing a collection, ``Collection.query`` and
    ``query_text`` at their boundary."""
    if threshold is not None and not (np.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be a distance, a finite number >= 0, got {threshold!r}")
from ._settings import METRICS


VERIFY_DEPTH = 16  # hits a verified query re-ranks
MAX_TEXT = 1000  # characters of a text query (a CLIP tower reads 77 tokens of it)


class Querying:
    """:meth:`query` and :meth:`encode` of :class:`Collection`."""

    def encode(self, image) -> np.ndarray:
        """Latent vector of a photo, as a query computes it.

        Parameters
        ----------
        image : path-like, bytes or binary file object

        Returns
        -------
        ndarray of shape (latent_dim,), float32
        """
        data, desc, _ = self._identify(image, lookup=False)
        return self._encode_bytes(data, desc)[0]

    def _encode_bytes(self, data: bytes, desc: str) -> np.ndarray:
        from ._photo import decode_photo

        # decoded as the build decodes each photo (identical pixels for an indexed file);
        # errors name the query as the caller gave it
        pixels = decode_photo(data, self.settings.size, self.settings.color, desc).pixels
        return _model.encode(self.model, pixels[None], progress=False)

    # -- querying --------------------------------------------------------------

    def query(self, image, n: int = 10, *, metric: str | None = None,
              threshold: float | None = None, mode: str = "auto",
              encoder: str | None = None, verify: bool = False) -> QueryResult:
        """The ``n`` images of the collection most like ``image``.

        Parameters
        ----------
        image : path-like, bytes, binary file object, or int
            A photo (any size; it is decoded and resized like the indexed ones), or
            the id of an image in the collection.
        n : int
            Number of results (fewer when the collection is smaller or ``threshold``
            cuts the list).
        metric : {"l2", "cosine", "l1"}, optional
            Default: the collection's metric, answered by its ANN index and cache.
            Another metric is answered by an exact search over the latents.
        threshold : float, optional
            Keep only hits at distance <= threshold (cosine: ``1 - similarity``).
        mode : {"auto", "default"}
            "auto" answers an image already in the collection (same SHA-256 as an
            indexed file) from the cached neighbour lists when they are deep enough;
            "default" always decodes, encodes and searches.
        encoder : str, optional
            The encoder the caller expects; another than the collection's is a
            ValueError (vectors of two encoders cannot be compared).
        verify : bool
            Re-rank the nearest :data:`VERIFY_DEPTH` (16) by geometric verification
            (:mod:`imsim.collection._verify`): of those, the hits that show the query's
            picture come first (``verified``: local features agree on one transform and
            the aligned pixels agree up to exposure), then those whose features agree
            though the pixels differ (``same_layout``: another rendering or light of the
            scene), then the others, each group in its order; hits beyond them keep their
            place, with ``verified`` and ``same_layout`` None.

        Returns
        -------
        QueryResult
            Hits nearest first. An image found in the collection is left out of its
            own results (exact duplicates at other paths are kept).
        """
        n = check_positive_int(n, "n")
        if encoder is not None and not self._same_encoder(encoder):
            raise ValueError(f"collection {self.path} was built with the {self.encoder_name} encoder; "
                             f"its vectors cannot be compared with {encoder}'s: query without "
                             f"--encoder, or re-index with --encoder {encoder} --retrain")
        metric = self.settings.metric if metric is None else check_metric(metric, METRICS)
        if mode not in ("auto", "default"):
            raise ValueError(f"mode must be 'auto' or 'default', got {mode!r}")
        check_threshold(threshold)

        data, desc, self_id = self._identify(image)
        cached = (mode == "auto" and self_id is not None and metric == self.settings.metric
                  and n <= self.settings.n_cached)
        wanted = n
        if verify:  # a deeper list to re-rank (the cached one when it answers)
            n = min(max(n, VERIFY_DEPTH), self.settings.n_cached) if cached else max(n, VERIFY_DEPTH)
        if cached:
            ids_all, dist_all = self.neighbors()
            ids, dist = np.asarray(ids_all[self_id, :n]), np.asarray(dist_all[self_id, :n])
        else:
            if data is not None and (mode == "default" or self_id is None):
                q = self._encode_bytes(data, desc)
            else:
                q = np.asarray(self.latents[self_id:self_id + 1])
            k = min(n + (self_id is not None), self._n)
            if metric == self.settings.metric:
                D, I = self._index_obj().search(q, k)
            else:
                from ..distances import topk

                D, I = topk(q, np.asarray(self.latents), k, metric)
            keep = I[0] >= 0
            if self_id is not None:
                keep &= I[0] != self_id
            ids, dist = I[0][keep][:n], D[0][keep][:n]
        hits = self._hits(ids, dist, metric, threshold)
        if verify:  # the nearest VERIFY_DEPTH re-ranked, any further ones as they were
            hits = self._verified(hits[:VERIFY_DEPTH], data, self_id) + hits[VERIFY_DEPTH:]
        return QueryResult(hits=hits[:wanted],
                           mode="cached" if cached else "default", metric=metric,
                           query_id=self_id, query=desc)

    def query_text(self, text: str, n: int = 10, *, threshold: float | None = None) -> QueryResult:
        """The ``n`` images that best match a description, nearest first.

        Needs a collection built with a CLIP-family ``onnx:`` encoder whose settings name
        a text tower (:mod:`imsim.encoders.onnx`): the text's vector, in the images'
        space, is searched in the collection's index (its metric).

        Parameters
        ----------
        text : str
            The description, e.g. ``"a red car"`` (at most :data:`MAX_TEXT` characters;
            the tokenizer keeps the tower's context length of tokens).
        n : int
        threshold : float, optional
            Keep only hits at distance <= threshold.

        Returns
        -------
        QueryResult
            ``mode`` is ``"text"``, ``query`` the text.

        Raises
        ------
        ValueError
            An empty or too long text, or an encoder without a text tower.
        """
        n = check_positive_int(n, "n")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("the text query is empty: describe what to find, e.g. 'a red car'")
        if len(text) > MAX_TEXT:
            raise ValueError(f"the text query has {len(text):,} characters, more than the "
                             f"{MAX_TEXT:,} allowed")
        check_threshold(threshold)
        recorded = self.manifest.get("encoder") or {}
        if not self.encoder_name.startswith("onnx:") or recorded.get("text") is False:
            raise ValueError(f"collection {self.path} was built with the {self.encoder_name} encoder, "
                             f"which has no text tower: text search needs an onnx: encoder with "
                             f"one (`imsim models fetch clip-vit-b32`, then `imsim index PHOTOS "
                             f"--encoder onnx:clip-vit-b32 --retrain`)")
        q = self.model.encode_text([text])
        D, I = self._index_obj().search(q, min(n, self._n))
        metric = self.settings.metric
        return QueryResult(hits=self._hits(I[0], D[0], metric, threshold), mode="text",
                           metric=metric, query=text)

    def _hits(self, ids, dist, metric: str, threshold) -> list[Hit]:
        ids, dist = np.asarray(ids), np.asarray(dist)
        valid = ids >= 0
        if threshold is not None:
            valid &= dist <= threshold
        ids, dist = ids[valid], dist[valid]
        return [Hit(id=int(i), path=str(self.photos_root / rel), relpath=rel, distance=float(d),
                    similarity=float(1.0 - d) if metric == "cosine" else None, label=lab)
                for i, d, (rel, lab) in zip(ids, dist, self._rows(ids))]

    def _verified(self, hits: list[Hit], data: bytes | None, self_id: int | None) -> list[Hit]:
        """``hits`` re-ranked: the same picture first, then the same layout, then the
        rest, each in its order (:attr:`Hit.verified`, :attr:`Hit.same_layout`)."""
        import dataclasses

        from threadpoolctl import threadpool_limits

        from . import _verify

        if self._features is None:
            self._features = _verify.FeatureCache(_verify.photo_source(self))
        if data is not None:
            from ..datasets.image import probe_image
            from ._thumbs import SIZES, make_thumbnail

            w, h, _ = probe_image(data)
            q = _verify.features(_verify.decode(make_thumbnail(data, w, h, SIZES[-1])[0]))
        else:
            q = self._features.get(self_id)
        mirror = _verify.mirrored(q)

        def level(hit) -> int:  # 2: the same picture, 1: the same layout, 0: neither
            try:
                f = self._features.get(hit.id)
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
        order = sorted(range(len(hits)), key=lambda i: -levels[i])  # stable: nearest first
        return [dataclasses.replace(hits[i], verified=levels[i] == 2, same_layout=levels[i] >= 1)
                for i in order]

    def _same_encoder(self, encoder: str) -> bool:
        from ..encoders import check_name, same_encoder

        recorded = self.manifest.get("encoder") or {"name": self.encoder_name}
        if str(encoder).startswith("onnx:"):
            encoder = check_name(encoder)
        return same_encoder(encoder, recorded)

    def _identify(self, image, lookup: bool = True) -> tuple[bytes | None, str, int | None]:
        """(file bytes or None, a description, id of the same image in the collection)."""
        if lookup and isinstance(image, (int, np.integer)) and not isinstance(image, bool):
            if not 0 <= int(image) < self._n:
                raise ValueError(f"image id {image} is out of range: the collection holds "
                                 f"ids 0..{self._n - 1}")
            return None, f"id {int(image)}", int(image)
        rel = None
        if isinstance(image, (str, os.PathLike)):
            p = Path(image).expanduser()
            if not p.exists() and not p.is_symlink():
                raise FileNotFoundError(f"query image not found: {p}")
            data, desc = read_image_file(p), str(p)
            try:
                rel = p.resolve().relative_to(self.photos_root).as_posix()
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
        rows = self._con.execute("SELECT id, path FROM images WHERE sha256 = ? ORDER BY id",
                                 (sha,)).fetchall()
        self_id = next((i for i, p in rows if p == rel), rows[0][0] if rows else None)
        return data, desc, self_id
