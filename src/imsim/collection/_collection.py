"""The :class:`Collection`: a photo folder indexed for search by image."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .. import __version__
from .._io import write_text_atomic
from .._text import safe_name
from .._validation import DataFormatError, ImageTooLargeError, check_metric, check_positive_int
from ..datasets.image import limits, read_image_file
from . import _groups, _model, _store, _thumbs
from ._results import Groups, Hit, QueryResult
from ._guard import check_same_folder as _check_same_folder
from ._guard import check_write_args as _check_write_args
from ._guard import rebuild_damaged as _rebuild_damaged
from ._scan import scan

METRICS = ("l2", "cosine", "l1")
_CACHE_BATCH = 4096  # queries per index search while filling the neighbour cache


@dataclass(frozen=True)
class CollectionSettings:
    """What a collection was built with; fixed until it is rebuilt (``retrain``).

    Attributes
    ----------
    size : int
        Images are resized (bilinear) to ``size`` x ``size`` pixels before encoding.
    color : bool
        RGB (True) or grayscale (False) pixels.
    latent_dim : int
        Length of each image's latent vector.
    metric : {"l2", "cosine", "l1"}
        Distance of the ANN index and of the cached neighbour lists.
    n_cached : int
        Neighbours cached per image (queries for up to this many answer from the cache).
    labels_from_subdirs : bool
        Label images by their first-level sub-folder.
    """

    size: int = 64
    color: bool = True
    latent_dim: int = 32
    metric: str = "l2"
    n_cached: int = 32
    labels_from_subdirs: bool = False

    def __post_init__(self):
        check_positive_int(self.size, "size")
        if self.size % 4:
            # the autoencoder halves the image twice
            raise ValueError(f"size must be a multiple of 4 pixels, got {self.size}")
        max_side = int(os.environ.get("IMSIM_MAX_IMAGE_SIDE", "") or 512)
        if self.size > max_side:
            # every image is held as size x size x 3 bytes for training: 100000 would need 30 GB each
            raise ValueError(f"size {self.size} is above the limit of {max_side} pixels (memory grows "
                             f"as N x size^2 x 3 bytes); raise it with IMSIM_MAX_IMAGE_SIDE")
        check_positive_int(self.latent_dim, "latent_dim")
        check_positive_int(self.n_cached, "n_cached")
        object.__setattr__(self, "metric", check_metric(self.metric, METRICS))
        object.__setattr__(self, "color", bool(self.color))
        object.__setattr__(self, "labels_from_subdirs", bool(self.labels_from_subdirs))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of the model input."""
        return self.size, self.size, 3 if self.color else 1


@dataclass(frozen=True)
class IndexReport:
    """What one indexing run did.

    Attributes
    ----------
    new, changed, unchanged, deleted : int
        Files by their state compared with the previous version.
    encoded : int
        Images decoded and encoded by the model (the rest reused their latents).
    skipped : list of (str, str)
        ``(relative path, reason)`` of every file that could not be read.
    trained : bool
        Whether a new model was trained in this run.
    seconds : float
        Wall time of the run.
    version : str
        The version written.
    """

    new: int
    changed: int
    unchanged: int
    deleted: int
    encoded: int
    skipped: list
    trained: bool
    seconds: float
    version: str


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

    def _rows(self, ids) -> list[tuple[str, str | None]]:
        """(relative path, label) of each id, in the given order."""
        ids = [int(i) for i in ids]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        found = dict((r[0], r[1:]) for r in self._con.execute(
            f"SELECT id, path, label FROM images WHERE id IN ({marks})", ids))
        missing = [i for i in ids if i not in found]
        if missing:
            raise DataFormatError(f"{self._dir / 'images.sqlite'} has no row for image id {missing[0]}; "
                                  f"{_store.repair_hint(self.path)}")
        return [found[i] for i in ids]

    def _index_obj(self):
        if self._index is None:
            with _store.damaged_on_error(self._dir / "index.npz"):
                self._index = _model.load_index(self._dir / "index.npz")
        return self._index

    @property
    def model(self):
        """The encoder that made the latents (:class:`imsim.encoders.Encoder`, loaded on first use)."""
        if self._model is None:
            with _store.damaged_on_error(self._dir / "model"):
                self._model = _model.load_model(self._dir / "model", self.settings.input_shape)
        return self._model

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
        from ..datasets.image import decode_image

        # errors name the query as the caller gave it
        pixels = decode_image(data, size=self.settings.size, color=self.settings.color, name=desc).pixels
        return _model.encode(self.model, pixels[None], progress=False)

    # -- building --------------------------------------------------------------

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
        return cls._write(root, Path(photos_dir).expanduser(), settings, previous=None,
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
        _check_same_folder(self, photos, replace)
        training = dict(self.manifest.get("training") or {})
        training.update({k: v for k, v in (("epochs", epochs), ("seed", seed)) if v is not None})
        training.setdefault("epochs", _model.DEFAULT_EPOCHS)
        training.setdefault("seed", 0)
        training.setdefault("encoder", self.encoder_name)  # written before encoders had names
        incremental = not retrain and model is None
        return type(self)._write(self.path, photos, self.settings,
                                 previous=self if incremental else None, model=model,
                                 training=training, workers=workers, progress=progress,
                                 engine=engine)

    @classmethod
    def index(cls, photos_dir, path, *, retrain: bool = False, model=None,
              epochs: int | None = None, seed: int | None = None, encoder: str | None = None,
              weights=None, steps: int | None = None, workers: int | None = None,
              progress: bool | None = None, replace: bool = False, engine=None, **settings) -> "Collection":
        """Build the collection ``path`` from ``photos_dir``, or update it when it exists.

        ``settings`` (size, color, latent_dim, metric, n_cached, labels_from_subdirs)
        left out or None keep the collection's values (or the defaults for a new one);
        changing one of an existing collection needs ``retrain=True`` (or ``model``);
        indexing another folder than the collection's needs ``replace=True``. With
        ``retrain=True`` a damaged collection is rebuilt from its photos folder.
        The same holds for ``encoder`` (and ``weights``): another encoder than the
        collection's needs ``retrain=True``. This is what ``imsim index`` runs.
        """
        root = Path(path).expanduser()
        given = {k: v for k, v in settings.items() if v is not None}
        unknown = set(given) - set(CollectionSettings.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown collection setting(s): {', '.join(sorted(unknown))}")
        if encoder is not None:
            from ..encoders import check_name

            encoder = check_name(encoder)
        enc = {k: v for k, v in (("encoder", encoder), ("weights", weights), ("steps", steps))
               if v is not None}
        if not _store.is_collection(root):
            training = {k: v for k, v in (("epochs", epochs), ("seed", seed)) if v is not None}
            return cls.build(photos_dir, root, model=model, workers=workers, progress=progress,
                             engine=engine, **training, **enc, **given)
        if retrain:
            try:
                cls.open(root).close()
            except DataFormatError:
                return _rebuild_damaged(cls, root, photos_dir, given, model=model, epochs=epochs,
                                        seed=seed, workers=workers, progress=progress)
        with cls.open(root) as current:
            if photos_dir is not None:
                _check_same_folder(current, Path(photos_dir).expanduser(), replace)
            old = asdict(current.settings)
            changed = {k: v for k, v in given.items() if str(old[k]).lower() != str(v).lower()}
            if encoder is not None and encoder != "auto" and encoder != current.encoder_name:
                changed["encoder"] = encoder
                old["encoder"] = current.encoder_name
            if changed and not (retrain or model is not None):
                desc = ", ".join(f"{k}={old[k]} (asked {v})" for k, v in changed.items())
                raise ValueError(f"collection {root} was built with {desc}; pass --retrain "
                                 f"(retrain=True) to rebuild it with the new settings")
            if not changed and not (retrain and enc):
                return current.update(photos_dir, retrain=retrain, model=model, epochs=epochs,
                                      seed=seed, workers=workers, progress=progress, replace=replace,
                                      engine=engine)
            training = dict(current.manifest.get("training") or {})
            training.update({k: v for k, v in (("epochs", epochs), ("seed", seed)) if v is not None})
            training.update(enc)
            old.pop("encoder", None)
            # the length asked for at the build (None: the encoder's own), not the old encoder's
            old["latent_dim"] = training.pop("latent_dim", None)
            photos = current.photos_root if photos_dir is None else photos_dir
            return cls.build(photos, root, model=model, workers=workers, progress=progress,
                             engine=engine, **training, **{**old, **given})

    @classmethod
    def _write(cls, root: Path, photos: Path, settings: CollectionSettings, *, previous,
               model, training: dict, workers, progress, engine=None) -> "Collection":
        """Scan, (train,) encode, index, cache, and commit one new version."""
        start = time.perf_counter()
        photos = photos.resolve()
        _check_write_args(photos, workers, training, trains=previous is None and model is None)
        with _store.write_lock(root):
            _store.prune_versions(root)
            res = scan(photos, size=settings.size, color=settings.color,
                       labels_from_subdirs=settings.labels_from_subdirs,
                       previous=previous.records() if previous is not None else None,
                       previous_skipped=_store.read_skipped(previous._con) if previous is not None else None,
                       workers=workers, show_progress=progress, exclude=[root])
            _store.fault_point("after-scan")
            for s in res.skipped:
                warnings.warn(f"skipping {safe_name(s.path)}: {safe_name(s.reason)}", stacklevel=3)
            if not res.records:
                raise ValueError(f"no readable images in {photos}"
                                 + (f" ({len(res.skipped)} skipped, first: {res.skipped[0].path}: "
                                    f"{res.skipped[0].reason})" if res.skipped else ""))
            if previous is not None and _unchanged(previous, photos, res):
                version = previous.version
            else:
                version = cls._commit(root, photos, settings, res, previous=previous, model=model,
                                      training=training, progress=progress, engine=engine)
            _store.prune_versions(root)
        coll = cls(root, version)
        coll.last_index = IndexReport(
            new=res.counts["new"], changed=res.counts["changed"], unchanged=res.counts["unchanged"],
            deleted=res.counts["deleted"], encoded=res.counts["encoded"],
            skipped=[(s.path, s.reason) for s in res.skipped],
            trained=previous is None and model is None,
            seconds=time.perf_counter() - start, version=version)
        return coll

    @classmethod
    def _commit(cls, root: Path, photos: Path, settings: CollectionSettings, res, *, previous,
                model, training: dict, progress, engine=None) -> str:
        """Write the scanned state as a new version and make it current; returns its name."""
        staging = _store.new_staging_dir(root)
        try:
            model_dir = staging / "model"
            if previous is not None:
                net = previous.model
                _store.link_or_copy_tree(previous._dir / "model", model_dir)
                provenance = previous.manifest["model"]
                encoder = previous.manifest.get("encoder") or {"name": previous.encoder_name}
            elif model is not None:
                src = _model.resolve_model_dir(model)
                net = _model.load_model(src, settings.input_shape)
                _store.link_or_copy_tree(src, model_dir)
                provenance = {"source": "given", "from": str(Path(model).resolve())}
                encoder = {"name": net.name, "requested": "given", "why": f"--model {model}"}
            else:
                net, encoder = _model.train(res.pixels, settings, training, progress)
                _model.save_model(model_dir, net)
                provenance = {"source": "trained", "n_images": len(res.records), **training}
            _store.fault_point("after-model")
            latents = _assemble_latents(res, net, previous, settings, progress,
                                        _encode_on_engine(engine, model_dir, photos, res, settings))
            _store.fault_point("after-encode")
            encoder["dim"] = int(latents.shape[1])
            settings = replace(settings, latent_dim=int(latents.shape[1]))
            index = _model.make_index(settings.metric, latents, engine)
            _model.save_index(index, staging)
            ids, dist = _neighbour_cache(index, latents, settings.n_cached)
            _store.save_array(staging / "latents.npy", latents)
            _store.save_array(staging / "neighbors_ids.npy", ids)
            _store.save_array(staging / "neighbors_dist.npy", dist)
            _store.fault_point("after-arrays")
            _store.write_metadata(staging / "images.sqlite", res.records, res.skipped)
            _thumbs.write(staging, photos, res.records, previous, progress_bar=progress)
            _store.write_json(staging / "manifest.json", {
                "imsim_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "photos_root": str(photos), "settings": asdict(settings),
                "n_images": len(res.records), "n_skipped": len(res.skipped),
                "model": provenance, "training": training, "encoder": encoder,
            })
            return _store.commit_version(root, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    # -- querying --------------------------------------------------------------

    def query(self, image, n: int = 10, *, metric: str | None = None,
              threshold: float | None = None, mode: str = "auto",
              encoder: str | None = None) -> QueryResult:
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

        Returns
        -------
        QueryResult
            Hits nearest first. An image found in the collection is left out of its
            own results (exact duplicates at other paths are kept).
        """
        n = check_positive_int(n, "n")
        if encoder is not None and encoder != self.encoder_name:
            raise ValueError(f"collection {self.path} was built with the {self.encoder_name} encoder; "
                             f"its vectors cannot be compared with {encoder}'s: query without "
                             f"--encoder, or re-index with --encoder {encoder} --retrain")
        metric = self.settings.metric if metric is None else check_metric(metric, METRICS)
        if mode not in ("auto", "default"):
            raise ValueError(f"mode must be 'auto' or 'default', got {mode!r}")
        if threshold is not None and not np.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number, got {threshold!r}")

        data, desc, self_id = self._identify(image)
        cached = (mode == "auto" and self_id is not None and metric == self.settings.metric
                  and n <= self.settings.n_cached)
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
        valid = ids >= 0
        if threshold is not None:
            valid &= dist <= threshold
        ids, dist = ids[valid], dist[valid]
        hits = [Hit(id=int(i), path=str(self.photos_root / rel), relpath=rel, distance=float(d),
                    similarity=float(1.0 - d) if metric == "cosine" else None, label=lab)
                for i, d, (rel, lab) in zip(ids, dist, self._rows(ids))]
        return QueryResult(hits=hits, mode="cached" if cached else "default", metric=metric,
                           query_id=self_id, query=desc)

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
        paths = [str(self.photos_root / r.path) for r in self.records()]
        result = _groups.compute_groups(np.asarray(self.latents), k=k, method=method,
                                        metric=self.settings.metric, k_range=k_range, seed=seed,
                                        version=self.version, paths=paths)
        if save:
            write_text_atomic(self.path / "groups.json", json.dumps(result.to_dict(), indent=1) + "\n")
        return result

    def load_groups(self) -> Groups | None:
        """The saved ``groups.json`` when it was computed on this version, else None."""
        path = self.path / "groups.json"
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataFormatError(f"cannot read {path}: {exc}") from None
        if data.get("collection_version") != self.version:
            return None
        return Groups.from_dict(data)

    def export_groups(self, groups: Groups, dest, *, copy: bool = False) -> Path:
        """Write each group's photos into ``dest/group_NN/`` (symlinks, or copies).

        Files keep their sub-folder path inside their group folder. ``dest`` must be
        new or empty; it is filled beside itself and renamed into place.
        """
        if groups.version != self.version:
            raise ValueError(f"these groups were computed on version {groups.version}, the "
                             f"collection is at {self.version}; compute them again")
        relpaths = [r.path for r in self.records()]
        return _groups.export_groups(groups, relpaths, dest, copy=copy)

    # -- duplicates ------------------------------------------------------------

    def duplicates(self, threshold: float | None = None):
        """Groups of near-duplicate photos (versions of one picture) in the whole collection.

        Parameters
        ----------
        threshold : float, optional
            Largest distance, in the collection's metric, between two photos linked
            as duplicates (default: the value calibrated for the collection's encoder
            by ``benchmarks/photos.py``; see :func:`default_threshold`).

        Returns
        -------
        Duplicates
            ``.threshold``, ``.metric``, ``.groups`` (sorted id lists, largest first)
            and ``to_dict()`` -> ``{"threshold", "metric", "groups": [{"ids", "relpaths"}]}``.
        """
        from . import _duplicates

        metric = self.settings.metric
        latents = np.asarray(self.latents)
        ids, dist = self.neighbors()
        if threshold is None:
            threshold = _duplicates.default_threshold(self.encoder_name, metric, np.asarray(dist))
        elif not np.isfinite(threshold) or threshold < 0:
            raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
        groups = _duplicates.duplicate_groups(latents, np.asarray(ids), np.asarray(dist),
                                              float(threshold), metric)
        rel = [r.path for r in self.records()] if groups else []
        return _duplicates.Duplicates(threshold=float(threshold), metric=metric, groups=groups,
                                      relpaths=[[rel[i] for i in g] for g in groups])

    @property
    def encoder_name(self) -> str:
        """The encoder that made the latents (``manifest["encoder"]["name"]``; "autoencoder"
        for collections written before encoders were recorded)."""
        return str((self.manifest.get("encoder") or {}).get("name", "autoencoder"))

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


def _unchanged(previous: Collection, photos: Path, res) -> bool:
    """True when a scan found exactly the previous version's files and skipped files."""
    return (res.counts["encoded"] == 0 and str(photos) == str(previous.photos_root)
            and res.records == previous.records()
            and res.skipped == _store.read_skipped(previous._con))


def _encode_on_engine(engine, model_dir: Path, photos: Path, res, settings) -> np.ndarray | None:
    """The files to encode, decoded and encoded by the model in ``model_dir`` on a
    distributed engine's workers (:func:`_model.encode_files`); None locally."""
    if engine is None or not len(res.pixels):
        return None
    from ..engine import using

    paths = [photos / r.path for r, row in zip(res.records, res.reuse) if row < 0]
    with using(engine) as eng:
        return _model.encode_files(eng, model_dir, paths, size=settings.size, color=settings.color) \
            if eng.distributed else None


def _assemble_latents(res, net, previous, settings: CollectionSettings, progress,
                      fresh: np.ndarray | None = None) -> np.ndarray:
    """Latents in record order: reused rows from ``previous``, the rest encoded now
    (or ``fresh``, encoded elsewhere)."""
    dim = previous.latents.shape[1] if previous is not None else None
    if fresh is None:
        fresh = (_model.encode(net, res.pixels, progress=progress) if len(res.pixels)
                 else np.zeros((0, dim or settings.latent_dim), dtype=np.float32))
    if dim is not None and fresh.shape[1] != dim:
        raise ValueError(f"the model makes {fresh.shape[1]}-dimensional latents, the collection "
                         f"holds {dim}-dimensional ones")
    out = np.empty((len(res.records), fresh.shape[1]), dtype=np.float32)
    reused = res.reuse >= 0
    if reused.any():
        out[reused] = np.asarray(previous.latents)[res.reuse[reused]]
    out[~reused] = fresh
    return out


def _neighbour_cache(index, latents: np.ndarray, n_cached: int) -> tuple[np.ndarray, np.ndarray]:
    """Each image's ``n_cached`` nearest other images, found with ``index`` in batches.

    Memory stays O(batch x n_cached): the N x N distance matrix is never formed.
    Returns ids int64 (N, n_cached) padded with -1 and distances float32 padded with inf.
    """
    n = len(latents)
    ids = np.full((n, n_cached), -1, dtype=np.int64)
    dist = np.full((n, n_cached), np.inf, dtype=np.float32)
    k = min(n_cached + 1, n)
    width = min(n_cached, k)
    for start in range(0, n, _CACHE_BATCH):
        stop = min(start + _CACHE_BATCH, n)
        D, I = index.search(np.ascontiguousarray(latents[start:stop]), k)
        not_self = I != np.arange(start, stop)[:, None]
        # a stable sort moves the query itself (at most one column) to the end
        order = np.argsort(~not_self, axis=1, kind="stable")[:, :width]
        rows = np.arange(stop - start)[:, None]
        picked = not_self[rows, order]
        ids[start:stop, :width] = np.where(picked, I[rows, order], -1)
        dist[start:stop, :width] = np.where(picked, D[rows, order], np.inf)
    return ids, dist
