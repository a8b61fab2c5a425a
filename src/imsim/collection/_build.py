"""What :meth:`Collection.update` and :meth:`Collection.index` run on top of
:func:`._write.write_version`: the training settings an update reuses, the choice
``index`` makes between an update, a build and the rebuild of a damaged collection.

The functions trust their arguments (the methods check them); ``cls`` is the
:class:`~imsim.collection.Collection` class, ``coll`` an opened collection.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from .._validation import DataFormatError
from . import _model, _store
from ._guard import check_same_folder
from ._settings import CollectionSettings
from ._write import write_version


def update(coll, photos: Path, *, retrain: bool, model, epochs, seed, workers, progress, engine):
    """A new version of ``coll`` from ``photos``: incremental unless ``retrain`` or ``model``."""
    training = _model.merge_training(coll.manifest.get("training"), epochs=epochs, seed=seed)
    training.setdefault("epochs", _model.DEFAULT_EPOCHS)
    training.setdefault("seed", 0)
    training.setdefault("encoder", coll.encoder_name)  # written before encoders had names
    incremental = not retrain and model is None
    return write_version(type(coll), coll.path, photos, coll.settings,
                         previous=coll if incremental else None, model=model,
                         training=training, workers=workers, progress=progress,
                         engine=engine)


def index(cls, root: Path, photos_dir, given: dict, *, encoder: str | None, enc: dict,
          retrain: bool, model, epochs, seed, workers, progress, replace: bool, engine):
    """Build ``root`` from ``photos_dir``, or update it when it is a collection (see
    :meth:`Collection.index`); ``given`` holds the settings asked for, ``encoder`` the
    checked encoder name and ``enc`` the encoder options given."""
    from ..encoders import describe, same_encoder

    if not _store.is_collection(root):
        training = _model.merge_training(epochs=epochs, seed=seed)
        return cls.build(photos_dir, root, model=model, workers=workers, progress=progress,
                         engine=engine, **training, **enc, **given)
    if retrain:
        try:
            cls.open(root).close()
        except DataFormatError:
            return rebuild_damaged(cls, root, photos_dir, given, model=model, epochs=epochs,
                                   seed=seed, workers=workers, progress=progress)
    with cls.open(root) as current:
        if photos_dir is not None:
            check_same_folder(current, Path(photos_dir).expanduser(), replace)
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


def rebuild_damaged(cls, root: Path, photos_dir, given: dict, **kwargs):
    """``--retrain`` of a collection that cannot be opened: rebuild it from its manifest's
    photos folder and settings (or the given ones); the damaged version is pruned after."""
    try:
        info = _store.read_pointer(root)
        manifest = _store.read_json(root / _store.VERSIONS / info["current"] / "manifest.json")
        old = dict(manifest.get("settings") or {})
        photos = manifest.get("photos_root")
    except (OSError, ValueError):
        old, photos = {}, None
    if photos_dir is None:
        if photos is None:
            raise DataFormatError(f"collection {root} is too damaged to know its photos folder; "
                                  f"give it: `imsim index PHOTOS_DIR -c {root} --retrain`")
        photos_dir = photos
    settings = {k: v for k, v in {**old, **given}.items() if k in CollectionSettings.__dataclass_fields__}
    training = _model.merge_training(epochs=kwargs.pop("epochs"), seed=kwargs.pop("seed"))
    return cls.build(photos_dir, root, **kwargs, **training, **settings)
