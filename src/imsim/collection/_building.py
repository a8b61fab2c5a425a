"""Building and updating a collection: the public entry points of :mod:`._write`."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

from .._validation import DataFormatError
from . import _model, _store
from ._guard import check_same_folder as _check_same_folder
from ._guard import rebuild_damaged as _rebuild_damaged
from ._settings import CollectionSettings
from ._write import write_version

Self = TypeVar("Self", bound="Building")  # the class these methods are called on: Collection


class Building:
    """:meth:`build`, :meth:`update` and :meth:`index` of :class:`Collection`."""

    @classmethod
    def build(cls: type[Self], photos_dir, path, *, size: int = 64, color: bool = True, latent_dim: int | None = None,
              metric: str = "l2", n_cached: int = 32, labels_from_subdirs: bool = False,
              model=None, epochs: int = _model.DEFAULT_EPOCHS, seed: int = 0,
              encoder: str = "auto", weights=None, steps: int | None = None,
              workers: int | None = None, progress: bool | None = None,
              engine=None) -> Self:
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

    def update(self: Self, photos_dir=None, *, retrain: bool = False, model=None,
               epochs: int | None = None, seed: int | None = None, workers: int | None = None,
               progress: bool | None = None, replace: bool = False, engine=None) -> Self:
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
        training = _model.merge_training(self.manifest.get("training"), epochs=epochs, seed=seed)
        training.setdefault("epochs", _model.DEFAULT_EPOCHS)
        training.setdefault("seed", 0)
        training.setdefault("encoder", self.encoder_name)  # written before encoders had names
        incremental = not retrain and model is None
        return write_version(type(self), self.path, photos, self.settings,
                             previous=self if incremental else None, model=model,
                             training=training, workers=workers, progress=progress,
                             engine=engine)

    @classmethod
    def index(cls: type[Self], photos_dir, path, *, retrain: bool = False, model=None,
              epochs: int | None = None, seed: int | None = None, encoder: str | None = None,
              weights=None, steps: int | None = None, workers: int | None = None,
              progress: bool | None = None, replace: bool = False, engine=None, **settings) -> Self:
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
        from ..encoders import describe, same_encoder

        if encoder is not None:
            from ..encoders import check_name

            encoder = check_name(encoder)
        enc = {k: v for k, v in (("encoder", encoder), ("weights", weights), ("steps", steps))
               if v is not None}
        if not _store.is_collection(root):
            training = _model.merge_training(epochs=epochs, seed=seed)
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
            recorded = current.manifest.get("encoder") or {"name": current.encoder_name}
            if encoder is not None and encoder != "auto" and not same_encoder(encoder, recorded):
                changed["encoder"] = describe(encoder)
                old["encoder"] = describe(current.encoder_name, recorded)
            if changed and not (retrain or model is not None):
                desc = ", ".join(f"{k}={old[k]} (asked {v})" for k, v in changed.items())
                raise ValueError(f"collection {root} was built with {desc}; pass --retrain "
                                 f"(retrain=True) to rebuild it with the new settings")
            if not changed and not (retrain and enc):
                return current.update(photos_dir, retrain=retrain, model=model, epochs=epochs,
                                      seed=seed, workers=workers, progress=progress, replace=replace,
                                      engine=engine)
            training = _model.merge_training(current.manifest.get("training"), epochs=epochs,
                                             seed=seed, **enc)
            old.pop("encoder", None)
            # the length asked for at the build (None: the encoder's own), not the old encoder's
            old["latent_dim"] = training.pop("latent_dim", None)
            photos = current.photos_root if photos_dir is None else photos_dir
            return cls.build(photos, root, model=model, workers=workers, progress=progress,
                             engine=engine, **training, **{**old, **given})
