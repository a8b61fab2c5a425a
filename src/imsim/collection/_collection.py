"""The :class:`Collection`: a photo folder indexed for search by image."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._io import write_text_atomic
from .._validation import DataFormatError
from . import _groups, _model, _store, _thumbs
from ._building import Building
from ._querying import Querying
from ._results import Groups
from ._settings import METRICS, CollectionSettings, IndexReport

__all__ = ["Collection", "CollectionSettings", "IndexReport", "METRICS"]


class Collection(Building, Querying):
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

    @property
    def encoder_name(self) -> str:
        """The encoder that made the latents (``manifest["encoder"]["name"]``; "autoencoder"
        for collections written before encoders were recorded)."""
        return str((self.manifest.get("encoder") or {}).get("name", "autoencoder"))
