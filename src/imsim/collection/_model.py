"""The collection's links to the model and search layers: train, encode, index.

Everything heavy (torch, faiss) is imported inside the functions, so opening a
collection and answering cached queries loads neither.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from . import _store

DEFAULT_EPOCHS = 5  # the autoencoder encoder's epochs (see imsim.encoders.learned)
SHARDS = "index"  # a version's folder of index shards (instead of index.npz)


def training_settings(*, epochs, seed, encoder, weights, steps, latent_dim=None) -> dict:
    """The training settings a build records (and an update or retrain reuses)."""
    out = {"epochs": epochs, "seed": seed, "encoder": encoder, "latent_dim": latent_dim}
    if weights is not None:
        out["weights"] = str(Path(weights).expanduser().resolve())
    if steps is not None:
        out["steps"] = int(steps)
    return out


def resolve_model_dir(model) -> Path:
    """The checkpoint folder named by ``model``: a checkpoint, or a collection's model."""
    path = Path(model).expanduser()
    if _store.is_collection(path):
        info = _store.read_pointer(path)
        return path / _store.VERSIONS / info["current"] / "model"
    return path


def load_model(model_dir: Path, input_shape):
    """The fitted encoder saved in ``model_dir`` (see :func:`imsim.encoders.load_encoder`)."""
    from ..encoders import load_encoder

    return load_encoder(model_dir, input_shape=input_shape)


def train(pixels: np.ndarray, settings, training: dict, progress):
    """Fit the encoder that ``training["encoder"]`` names (default ``auto``) on the images.

    Returns
    -------
    (Encoder, dict)
        The fitted encoder and what the manifest records of it: ``name``, ``requested``,
        ``why`` (how ``auto`` chose), ``note`` (what fitting did), ``train_seconds``.
    """
    import time

    from ..encoders import check_name, choose, make_encoder

    requested = check_name(training.get("encoder") or "auto")
    why = ""
    name = requested
    if requested == "auto":
        name, why = choose(len(pixels))
    elif len(pixels) < 2 and requested in ("autoencoder", "contrastive"):
        raise ValueError(f"training a model needs at least 2 readable images, found {len(pixels)}; "
                         f"add photos, use --encoder thumbnail or pass a model (--model)")
    encoder = make_encoder(name, latent_dim=training.get("latent_dim"), weights=training.get("weights"),
                           size=settings.size, color=settings.color, steps=training.get("steps"))
    if name == "autoencoder":
        encoder.epochs = int(training.get("epochs", DEFAULT_EPOCHS))
    start = time.perf_counter()
    encoder.fit(pixels, seed=int(training.get("seed", 0)), progress=_show(progress))
    encoder.train_seconds = time.perf_counter() - start
    info = {"name": encoder.name, "requested": requested, "why": why, "note": encoder.note,
            "train_seconds": round(encoder.train_seconds, 3)}
    if training.get("weights") is not None:
        info["weights"] = str(Path(training["weights"]).expanduser().resolve())
    return encoder, info


def save_model(model_dir: Path, encoder) -> None:
    encoder.save(model_dir)


def encode(model, pixels: np.ndarray, *, progress) -> np.ndarray:
    """Vectors float32 (N, dim) of uint8 images (N, H, W[, 3]) by a fitted encoder.

    This is the one function that turns pixels into vectors in a build: it may run
    on several workers, each with its own copy of the encoder.
    """
    return np.ascontiguousarray(model.encode(pixels, progress=_show(progress)), dtype=np.float32)


def make_index(metric: str, latents: np.ndarray, engine=None):
    """The collection's ANN index (HNSW) over ``latents``, fitted.

    On a distributed engine (an open :class:`imsim.engine.Engine`, or the name
    ``"dask"``) it is a :class:`~imsim.search.ShardedIndex` of HNSW shards, one per
    worker, which :func:`save_index` stores one file per shard. An open engine builds
    and keeps each shard on its worker; with a name (whose cluster the build has
    already closed) the shards are built here.
    """
    from ..engine import DEFAULT_WORKERS, Engine
    from ..search import Index

    named = isinstance(engine, str) and engine.lower() != "local"
    if not named and not (isinstance(engine, Engine) and engine.distributed):
        return Index.create("hnsw", metric=metric).fit(latents)
    from ..search import ShardedIndex

    shards = engine.n_workers if isinstance(engine, Engine) else DEFAULT_WORKERS
    return ShardedIndex("hnsw", {"metric": metric}, n_shards=shards,
                        engine=None if named else engine).fit(latents)


def save_index(index, version_dir: Path) -> Path:
    """Write ``index`` into a version folder: ``index.npz``, or for a sharded index the
    folder ``index/`` with one file per shard (each written by the worker holding it)."""
    from ..search import ShardedIndex

    if isinstance(index, ShardedIndex):
        return index.save_shards(Path(version_dir) / SHARDS)
    return index.save(Path(version_dir) / "index.npz")


def load_index(path: Path):
    """The index saved at ``path`` (a version's ``index.npz``), or the sharded one in the
    ``index/`` folder beside it, its shards searched in this process."""
    from .._validation import DataFormatError
    from ..search import HNSWIndex, ShardedIndex

    folder = Path(path).with_name(SHARDS)
    if not path.exists() and folder.is_dir():
        return ShardedIndex.load_shards(folder)
    if not path.exists():
        raise DataFormatError(f"collection version is incomplete: {path} is missing")
    return HNSWIndex.load(path)


def _show(progress) -> bool:
    """``progress=None`` means "when stderr is a terminal", as imsim._progress decides."""
    if progress is None:
        from .._progress import _enabled

        return _enabled()
    return bool(progress)


# --------------------------------------------------------------- encoding on an engine

@functools.lru_cache(maxsize=2)
def _cached_encoder(model_dir: str, input_shape, stamp):
    """A worker loads each collection model once (``stamp`` sees a rewritten one)."""
    return load_model(Path(model_dir), input_shape)


def _encode_paths(paths: list, model_dir: str, size: int, color: bool):
    from ..engine import folder_stamp
    from ._scan import _read

    pixels = []
    for p in paths:
        *_, pix, _, error = _read(Path(p), size, color, {})
        if error is not None:
            raise ValueError(f"{p}: {error}")
        pixels.append(pix)
    shape = (size, size, 3 if color else 1)
    net = _cached_encoder(str(model_dir), shape, folder_stamp(model_dir))
    return encode(net, np.stack(pixels), progress=False)


def encode_files(engine, model_dir, paths: list, *, size: int, color: bool) -> np.ndarray:
    """Decode and encode image files on ``engine``'s workers (the build's hook).

    Each task gets a list of paths (readable by the workers at the same place), decodes
    them exactly as a query is decoded and encodes them with the collection model in
    ``model_dir``. Returns float32 (len(paths), dim), in the order of ``paths``.
    """
    from ..engine import n_tasks
    from ..engine.blocks import row_ranges

    chunks = row_ranges(len(paths), max(n_tasks(engine), len(paths) // 512))
    tasks = [[str(p) for p in paths[a:b]] for a, b in chunks]
    return np.concatenate(engine.map(_encode_paths, tasks, str(model_dir), size, color))
