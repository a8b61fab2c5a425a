"""The :class:`Collection`: a photo folder indexed for search by image.

The class is the whole public API of a collection, read top to bottom: opening and
contents, writing versions, querying, groups, duplicates. Each public method checks its
arguments and calls the module that does the work: :mod:`._write` (one version: scan,
encode, index, commit) and :mod:`._build` (update, ``index``'s choice), :mod:`._query`,
:mod:`._groups`, :mod:`._find_duplicates`; the files on disk are :mod:`._store`'s.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._validation import DataFormatError, check_metric, check_positive_int
from . import _build, _groups, _model, _query, _store, _thumbs
from ._guard import check_same_folder
from ._results import Groups, QueryResult
from ._settings import METRICS, CollectionSettings, IndexReport
from ._write import write_version

__all__ = ["Collection", "CollectionSettings", "IndexReport", "METRICS"]


class Collection:
    """A photo folder indexed for "find the images most like this one".

    Open an existing collection with :meth:`open`; create one with :meth:`build`
    (or :meth:`index`, which builds or updates). A collection directory holds the
    model, the metadata (SQLite), the latents, the ANN index and the cached
    neighbour lists of one immutable version; writing a new version never disturbs
    the current one (see :mod:`imsim.collection._store`).

    Thread safety: an opened collection only reads its immutable version, so
    :meth:`query`, :meth:`encode` and :meth:`records` may be called from several
    threads at once (``imsim serve`` does). Call :meth:`load` before sharing it, as the
    server does, so the lazy parts (model, index) are not loaded twice.

    Examples
    --------
    >>> coll = Collection.build("photos/", "photos.imsim", epochs=5)   # doctest: +SKIP
    >>> for hit in coll.query("photos/cat.jpg", n=5):                  # doctest: +SKIP
    ...     print(hit.path, hit.distance)
    """

    def __init__(self, root: Path, version: str):
        self.path = Path(root)
        self.version = version
        self._dir = self.path / _store.VERSIONS / version
        # a shared lease: no prune deletes this version while it is open (see _store)
        self._lease = _store.open_lease(self._dir)
        try:
            self._load_version()
        except BaseException:
            self.close()
            raise

    def _load_version(self) -> None:
        manifest = _store.read_json(self._dir / "manifest.json")
        try:
            self.settings = CollectionSettings(**manifest["settings"])
            self.photos_root = Path(manifest["photos_root"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFormatError(f"{self._dir / 'manifest.json'} is damaged: {exc}; "
                                  f"{_store.repair_hint(self.path)}") from None
        self.manifest = manifest
        self.last_index: IndexReport | None = None
        self._con = _store.open_metadata(self._dir / "images.sqlite")
        self._n = _store.check_metadata(self._con, self._dir / "images.sqlite")
        # the headers only (memory-mapped): a damaged or mis-sized file fails here, clearly
        _store.load_array(self._dir / "latents.npy", shape=(self._n, self.settings.latent_dim),
                          dtype=np.float32)
        self._latents = None
        self._index = None
        self._model = None
        self._cache = None
        self._features = None  # local features of verified queries, made on demand

    # -- opening ---------------------------------------------------------------

    @classmethod
    def open(cls, path) -> "Collection":
        """Open the current version of the collection at ``path``.

        Raises
        ------
        FileNotFoundError
            ``path`` is not a collection.
        DataFormatError
            It was written in another format version, or is damaged.
        """
        root = Path(path).expanduser()
        for _ in range(5):
            info = _store.read_pointer(root)
            try:
                return cls(root, info["current"])
            except FileNotFoundError:  # pruned between reading the pointer and the lease
                continue
        raise RuntimeError(f"collection {root} keeps changing; try again")

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        s = self.settings
        return (f"Collection({str(self.path)!r}, version={self.version}, n={self._n}, "
                f"{s.size}x{s.size} {'RGB' if s.color else 'gray'}, latent={s.latent_dim}, "
                f"metric={s.metric})")

    def close(self) -> None:
        """Release the SQLite connection and the version's lease (also done when collected)."""
        con = getattr(self, "_con", None)
        if con is not None:
            con.close()
        lease, self._lease = getattr(self, "_lease", None), None
        if lease is not None:
            lease.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def load(self) -> "Collection":
        """Load now what queries load on first use: latents, neighbour cache, ANN index, model.

        A server calls it before sharing the collection between threads, so the first
        requests are not slow and concurrent requests never load the same part twice.
        Returns the collection itself.
        """
        _ = self.latents
        self.neighbors()
        self._index_obj()
        _ = self.model
        return self

    # -- contents --------------------------------------------------------------

    @property
    def latents(self) -> np.ndarray:
        """Latent vectors, float32 of shape (N, latent_dim); row i is image id i."""
        if self._latents is None:
            self._latents = _store.load_array(self._dir / "latents.npy",
                                              shape=(self._n, self.settings.latent_dim), dtype=np.float32)
        return self._latents

    def records(self) -> list[_store.ImageRecord]:
        """Metadata of every image, in id order."""
        return _store.read_records(self._con)

    def skipped(self) -> list[tuple[str, str]]:
        """``(relative path, reason)`` of the files the last run could not read."""
        return [(s.path, s.reason) for s in _store.read_skipped(self._con)]

    def thumbnails(self) -> "_thumbs.Thumbnails | None":
        """The thumbnails stored in this version at index time (longest side
        ``THUMBNAIL_SIDES`` = 160 and 320 px; ``.get(image_id, j)`` gives the encoded bytes of
        size ``j``, None when that photo could not be read then), or None for a version
        written before thumbnails were stored."""
        stored = _thumbs.Thumbnails.open(self._dir)
        return stored if stored is not None and len(stored) == len(self) else None

    def image_path(self, image_id: int) -> Path:
        """Absolute path of the photo with id ``image_id``."""
        return self.photos_root / self._rows([image_id])[0][0]

    def neighbors(self) -> tuple[np.ndarray, np.ndarray]:
        """The cached neighbour lists: ids int64 (N, n_cached) with -1 padding and
        distances float32 (N, n_cached) with inf padding, nearest first, self excluded."""
        if self._cache is None:
            shape = (self._n, self.settings.n_cached)
            self._cache = (_store.load_array(self._dir / "neighbors_ids.npy", shape=shape, dtype=np.int64),
                           _store.load_array(self._dir / "neighbors_dist.npy", shape=shape,
                                             dtype=np.float32))
        return self._cache

    @property
    def model(self):
        """The encoder that made the latents (:class:`imsim.encoders.Encoder`, loaded on first use)."""
        if self._model is None:
            with _store.damaged_on_error(self._dir / "model"):
                self._model = _model.load_model(self._dir / "model", self.settings.input_shape)
        return self._model

    @property
    def encoder_name(self) -> str:
        """The encoder that made the latents (``manifest["encoder"]["name"]``; "autoencoder"
        for collections written before encoders were recorded)."""
        return str((self.manifest.get("encoder") or {}).get("name", "autoencoder"))

    def _rows(self, ids) -> list[tuple[str, str | None]]:
        """(relative path, label) of each id, in the given order."""
        return _store.read_rows(self._con, ids, self._dir / "images.sqlite")

    def _index_obj(self):
        if self._index is None:
            with _store.damaged_on_error(self._dir / "index.npz"):
                self._index = _model.load_index(self._dir / "index.npz")
        return self._index

    # -- writing versions --------------------------------------------------------

    @classmethod
    def build(cls, photos_dir, path, *, size: int = 64, color: bool = True, latent_dim: int | None = None,
              metric: str = "l2", n_cached: int = 32, labels_from_subdirs: bool = False,
              model=None, epochs: int = _model.DEFAULT_EPOCHS, seed: int = 0,
              encoder: str = "auto", weights=None, steps: int | None = None,
              workers: int | None = None, progress: bool | None = None,
              engine=None) -> "Collection":
        """Index every image of ``photos_dir`` into a new version of the collection ``path``.

        Trains an autoencoder on the folder (unless ``model`` is given), encodes every
        image, builds the ANN index and caches each image's nearest neighbours. When
        ``path`` already is a collection, this starts it over (what ``--retrain``
        does); its current version stays readable until the new one is complete.

        Parameters
        ----------
        photos_dir : path-like
            Folder of photos, scanned recursively.
        path : path-like
            Collection directory (created when missing; an existing directory must be
            empty or a collection).
        size, color, latent_dim, metric, n_cached, labels_from_subdirs
            See :class:`CollectionSettings`.
        model : path-like, optional
            Reuse this model instead of training: a checkpoint directory or another
            collection (its model). Its input shape must be (size, size, channels).
        epochs : int
            Training epochs over the folder.
        seed : int
            Seed of the training (initial weights, shuffling).
        encoder : str
            Which encoder makes the vectors (:data:`imsim.encoders.NAMES`); "auto" picks
            the best one for the folder's size (:func:`imsim.encoders.choose`).
            Recorded in the manifest (``manifest["encoder"]``).
        weights : path-like, optional
            Weights of a ``torchscript``, ``torchvision:NAME`` or ``open_clip:NAME`` encoder.
        steps : int, optional
            Optimisation steps of the ``contrastive`` encoder (default: scaled to the folder).
        workers : int, optional
            Threads that read and decode files.
        progress : bool, optional
            Show progress bars (default: when stderr is a terminal).
        engine : None, "local", "dask" or :class:`imsim.engine.Engine`
            Where the photos are decoded and encoded (:mod:`imsim.engine`; the
            workers must see the photo folder at the same path). Training stays local.

        Returns
        -------
        Collection
            The new version, opened; ``last_index`` says what the run did.
        """
        # latent_dim None: the encoder's own length (recorded once the encoder is fitted)
        settings = CollectionSettings(size=size, color=color, latent_dim=latent_dim or 32, metric=metric,
                                      n_cached=n_cached, labels_from_subdirs=labels_from_subdirs)
        root = Path(path).expanduser()
        if root.exists() and not _store.is_collection(root) and not _store.is_unfinished(root) and (
                not root.is_dir() or any(root.iterdir())):
            raise FileExistsError(f"{root} exists and is not an imsim collection; "
                                  f"give a new or empty folder")
        return write_version(cls, root, Path(photos_dir).expanduser(), settings, previous=None,
                             model=model, training=_model.training_settings(
                                 epochs=epochs, seed=seed, encoder=encoder, weights=weights, steps=steps,
                                 latent_dim=latent_dim),
                             workers=workers, progress=progress, engine=engine)

    def update(self, photos_dir=None, *, retrain: bool = False, model=None,
               epochs: int | None = None, seed: int | None = None, workers: int | None = None,
               progress: bool | None = None, replace: bool = False, engine=None) -> "Collection":
        """Bring the collection up to date with its photo folder; returns the new version.

        Only new or changed files (size or mtime differ, then the SHA-256) are decoded
        and encoded with the collection's model; deleted files are dropped; files that
        only moved or were touched keep their latents. The result equals a fresh
        :meth:`build` of the folder with the same model.

        Parameters
        ----------
        photos_dir : path-like, optional
            The photo folder (default: the one the collection was built from).
        retrain : bool
            Start over: train a new model on the folder and encode everything.
        model : path-like, optional
            Switch to this model (checkpoint or collection) and re-encode everything.
        epochs, seed : int, optional
            Training settings for ``retrain`` (default: the previous ones).
        replace : bool
            Allow ``photos_dir`` to be another folder than the collection's: its
            photos then replace the collection's (without it: ValueError).
        """
        photos = Path(photos_dir).expanduser() if photos_dir is not None else self.photos_root
        check_same_folder(self, photos, replace)
        return _build.update(self, photos, retrain=retrain, model=model, epochs=epochs, seed=seed,
                             workers=workers, progress=progress, engine=engine)

    @classmethod
    def index(cls, photos_dir, path, *, retrain: bool = False, model=None,
              epochs: int | None = None, seed: int | None = None, encoder: str | None = None,
              weights=None, steps: int | None = None, workers: int | None = None,
              progress: bool | None = None, replace: bool = False, engine=None,
              **settings) -> "Collection":
        """Build the collection ``path`` from ``photos_dir``, or update it when it exists.

        ``settings`` (size, color, latent_dim, metric, n_cached, labels_from_subdirs)
        left out or None keep the collection's values (or the defaults for a new one);
        changing one of an existing collection needs ``retrain=True`` (or ``model``);
        indexing another folder than the collection's needs ``replace=True``. With
        ``retrain=True`` a damaged collection is rebuilt from its photos folder.
        The same holds for ``encoder`` (and ``weights``): another encoder than the
        collection's needs ``retrain=True``. This is what ``imsim index`` runs.
        """
        given = {k: v for k, v in settings.items() if v is not None}
        unknown = set(given) - set(CollectionSettings.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown collection setting(s): {', '.join(sorted(unknown))}")
        if encoder is not None:
            from ..encoders import check_name

            encoder = check_name(encoder)
        enc = {k: v for k, v in (("encoder", encoder), ("weights", weights), ("steps", steps))
               if v is not None}
        return _build.index(cls, Path(path).expanduser(), photos_dir, given, encoder=encoder,
                            enc=enc, retrain=retrain, model=model, epochs=epochs, seed=seed,
                            workers=workers, progress=progress, replace=replace, engine=engine)

    # -- querying --------------------------------------------------------------

    def encode(self, image) -> np.ndarray:
        """Latent vector of a photo, as a query computes it.

        Parameters
        ----------
        image : path-like, bytes or binary file object

        Returns
        -------
        ndarray of shape (latent_dim,), float32
        """
        return _query.encode(self, image)

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
        if encoder is not None and not _query.encoder_matches(self, encoder):
            raise ValueError(f"collection {self.path} was built with the {self.encoder_name} encoder; "
                             f"its vectors cannot be compared with {encoder}'s: query without "
                             f"--encoder, or re-index with --encoder {encoder} --retrain")
        metric = self.settings.metric if metric is None else check_metric(metric, METRICS)
        if mode not in ("auto", "default"):
            raise ValueError(f"mode must be 'auto' or 'default', got {mode!r}")
        _query.check_threshold(threshold)
        return _query.query(self, image, n, metric=metric, threshold=threshold, mode=mode,
                            verify=verify)

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
        if len(text) > _query.MAX_TEXT:
            raise ValueError(f"the text query has {len(text):,} characters, more than the "
                             f"{_query.MAX_TEXT:,} allowed")
        _query.check_threshold(threshold)
        recorded = self.manifest.get("encoder") or {}
        if not self.encoder_name.startswith("onnx:") or recorded.get("text") is False:
            raise ValueError(f"collection {self.path} was built with the {self.encoder_name} encoder, "
                             f"which has no text tower: text search needs an onnx: encoder with "
                             f"one (`imsim models fetch clip-vit-b32`, then `imsim index PHOTOS "
                             f"--encoder onnx:clip-vit-b32 --retrain`)")
        return _query.query_text(self, text, n, threshold=threshold)

    # -- groups ----------------------------------------------------------------

    def groups(self, k="auto", *, method: str = "kmedoids", k_range=None, seed: int = 0,
               save: bool = True) -> Groups:
        """Group the images into ``k`` groups of similar images.

        Parameters
        ----------
        k : "auto" or int
            "auto": the elbow method over ``k_range`` picks k at the knee of the
            objective (sum of distances to the group centres).
        method : {"kmedoids", "kmedians"}
            k-medoids (FasterPAM, the collection's metric; every group's centre is a
            real photo) or k-medians (L1; the representative is the member nearest
            to the centre). Above 5,000 images k-medoids fits on a seeded sample of
            5,000 and assigns every image to its nearest medoid.
        k_range : iterable of int, optional
            The k values tried by "auto" (default 2..30, at most the number of
            images). A curve with no knee (it falls evenly: see
            :func:`imsim.cluster.find_knee`) is a ValueError that says so.
        seed : int
        save : bool
            Write the result to ``groups.json`` in the collection (read by the map).

        Returns
        -------
        Groups
            Largest group first; ``elbow`` holds the curve when ``k="auto"``.
        """
        return _groups.groups(self, k, method=method, k_range=k_range, seed=seed, save=save)

    def load_groups(self) -> Groups | None:
        """The saved ``groups.json`` when it was computed on this version, else None."""
        return _groups.load_groups(self)

    def export_groups(self, groups: Groups, dest, *, copy: bool = False) -> Path:
        """Write each group's photos into ``dest/group_NN/`` (symlinks, or copies).

        Files keep their sub-folder path inside their group folder. ``dest`` must be
        new or empty; it is filled beside itself and renamed into place.
        """
        if groups.version != self.version:
            raise ValueError(f"these groups were computed on version {groups.version}, the "
                             f"collection is at {self.version}; compute them again")
        return _groups.export_groups(groups, [r.path for r in self.records()], dest, copy=copy)

    # -- duplicates ------------------------------------------------------------

    def duplicates(self, threshold: float | None = None, *, verify: bool = True,
                   relative: bool = False, progress: bool | None = None):
        """The collection's duplicates, in tiers: identical files, same pixels, near,
        and mirrored (a near pair whose transform is a flip).

        Parameters
        ----------
        threshold : float, optional
            Largest distance, in the collection's metric, between the vectors of a
            near-duplicate candidate (default: the absolute value calibrated for the
            collection's encoder by ``benchmarks/photos.py --real``).
        verify : bool
            Keep a near candidate only when its local features agree on one geometric
            transform and its aligned pixels agree (default). False: every candidate
            within the threshold counts, as before verification existed.
        relative : bool
            Default threshold relative to the folder (``BETA`` x the median distance
            to the 16th nearest photo) instead of the absolute one.
        progress : bool, optional
            A progress bar while verifying (default: on a terminal), as in ``build``.

        Returns
        -------
        Duplicates
            ``.groups``, ``.tiers``, ``.similarity``, ``.pairs``; ``to_dict()``,
            ``to_map()``, ``to_remove(records, keep, mirrored=False)``.
        """
        from ._find_duplicates import find_duplicates

        return find_duplicates(self, threshold, verify=verify, relative=relative,
                               progress=progress)
