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


def merge_training(recorded=None, **given) -> dict:
    """Training settings: ``recorded`` (a manifest's ``"training"``; None: none) with the
    ``given`` ones that are not None on top (``epochs=None`` keeps the recorded epochs)."""
    out = dict(recorded or {})
    out.update({k: v for k, v in given.items() if v is not None})
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
            "train_seconds": round(encoder.train_seconds, 3), **encoder.record()}
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

    if not distributed(engine):
        return Index.create("hnsw", metric=metric).fit(latents)
    from ..search import ShardedIndex

    named = not isinstance(engine, Engine)
    shards = DEFAULT_WORKERS if named else engine.n_workers
    return ShardedIndex("hnsw", {"metric": metric}, n_shards=shards,
                        engine=None if named else engine).fit(latents)


def distributed(engine) -> bool:
    """Whether ``engine`` (None, a name or an open :class:`imsim.engine.Engine`) runs
    work on other processes' workers."""
    from ..engine import Engine

    if isinstance(engine, Engine):
        return engine.distributed
    return engine is not None and str(engine).lower() != "local"


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


def _encoder_on_worker(model_dir: str, size: int, color: bool):
    from ..engine import folder_stamp

    return _cached_encoder(str(model_dir), (size, size, 3 if color else 1), folder_stamp(model_dir))


def _encode_paths(paths: list, model_dir: str, size: int, color: bool):
    """A worker's task: decode (once each) and encode ``paths``; returns (latents of the
    files that decoded, in order; their upright (width, height); (position, reason) of
    the files that did not)."""
    from .._validation import UnreadableImageError
    from . import _scan

    pixels, dims, failed = [], [], []
    for i, p in enumerate(paths):
        try:
            image = _scan.decode_photo(p, size, color, p)
        except UnreadableImageError as exc:  # changed since the scan read its header
            failed.append((i, exc.reason))
            continue
        pixels.append(image.pixels)
        dims.append((image.width, image.height))
    if not pixels:
        return np.zeros((0, 0), dtype=np.float32), dims, failed
    return encode(_encoder_on_worker(model_dir, size, color), np.stack(pixels), progress=False), dims, failed


def _encode_block(pixels: np.ndarray, model_dir: str, size: int, color: bool) -> np.ndarray:
    return encode(_encoder_on_worker(model_dir, size, color), pixels, progress=False)


def _chunks(engine, n: int) -> list:
    from ..engine import n_tasks
    from ..engine.blocks import row_ranges

    return row_ranges(n, max(n_tasks(engine), n // 512))


def encode_files(engine, model_dir, paths: list, *, size: int, color: bool):
    """Decode and encode image files on ``engine``'s workers (a build's hook when the scan
    decoded nothing: each file is decoded once, there).

    Each task gets a list of paths (readable by the workers at the same place), decodes
    them exactly as a query is decoded and encodes them with the collection model in
    ``model_dir``.

    Returns
    -------
    latents : ndarray of shape (n_ok, dim), float32
        The vectors of the files that decoded, in the order of ``paths``.
    dims : list of (int, int)
        Their upright width and height.
    failed : list of (int, str)
        Position in ``paths`` and reason of each file that could not be decoded.
    """
    tasks = [[str(p) for p in paths[a:b]] for a, b in _chunks(engine, len(paths))]
    parts = engine.map(_encode_paths, tasks, str(model_dir), size, color)
    latents = [z for z, _, _ in parts if len(z)]
    failed = []
    for (a, _), (_, _, bad) in zip(_chunks(engine, len(paths)), parts):
        failed += [(a + i, reason) for i, reason in bad]
    dims = [d for _, ds, _ in parts for d in ds]
    return (np.concatenate(latents) if latents else np.zeros((0, 0), dtype=np.float32)), dims, failed


def encode_pixels(engine, model_dir, pixels: np.ndarray, *, size: int, color: bool) -> np.ndarray:
    """Encode images decoded already (a build that fitted its encoder on them) on
    ``engine``'s workers, in blocks; returns float32 (len(pixels), dim) in order."""
    tasks = [pixels[a:b] for a, b in _chunks(engine, len(pixels))]
    return np.concatenate(engine.map(_encode_block, tasks, str(model_dir), size, color))
