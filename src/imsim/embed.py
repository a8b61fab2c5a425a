"""Images -> latent vectors, and latent vectors <-> the 0..25500 latent files.

The latent file format (the original assignment's) stores each value as an integer
in 0..25500. The mapping is linear, with one :class:`LatentScale` (a minimum and a
maximum) that is

* **global over all dimensions**, so L1/L2 distances between integer vectors keep
  the proportions of the distances between the float latents; and
* **fitted once, on the data set**, then reused for every query set (and stored in
  the model's checkpoint and beside every latent file as ``<file>.json``), so data set
  and queries live in the same integer space. The original programs scaled each file
  by its own min/max, which put queries and data in different spaces.

Values outside the fitted range (a query more extreme than any data-set image) are
clipped to 0 or 25500.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ._io import write_text_atomic
from ._progress import progress as _progress_bar
from ._validation import DataFormatError, check_file
from .datasets import read_latent, write_latent
from .datasets.idx import LATENT_MAX
from .models import inference_encoder, model_pixels, reconstruct, to_tensor

__all__ = [
    "LATENT_MAX", "LatentScale", "encode", "reconstruct", "fit_scale", "to_uint16",
    "from_uint16", "write_latent_file", "read_latent_file", "scale_path",
    "fit_and_save", "reduce_files",
]


@torch.inference_mode()
def encode(model, images, *, batch_size: int = 1024, progress: bool = True) -> np.ndarray:
    """Latent vectors of ``images`` under ``model``'s encoder.

    Parameters
    ----------
    model : ConvAutoencoder or InferenceEncoder
        (or any module with ``encode``, ``input_shape`` and ``latent_dim``). A
        ConvAutoencoder runs through :func:`imsim.models.inference_encoder`
        (BatchNorm folded in; the latents equal ``model.encode`` up to float
        rounding, ~1e-6), built anew on each call: to encode one image at a time,
        build it once and pass it here instead.
    images : ImageSet or ndarray of shape (N, H, W) or (N, H, W, C), dtype uint8
        Scaled to [0, 1] by :func:`imsim.models.to_tensor`, exactly as in training.
    batch_size : int
    progress : bool
        Show a progress bar (on a terminal).

    Returns
    -------
    ndarray of shape (N, latent_dim), dtype float32
    """
    pixels = model_pixels(images, model.input_shape)
    device = next(model.parameters()).device
    encoder = inference_encoder(model) if hasattr(model, "encoder") else model.eval().encode
    out = np.empty((len(pixels), model.latent_dim), dtype=np.float32)
    starts = range(0, len(pixels), batch_size)
    for start in _progress_bar(starts, desc="encoding", unit="batch", disable=not progress or None):
        batch = to_tensor(pixels[start:start + batch_size], device)
        out[start:start + len(batch)] = encoder(batch).float().cpu().numpy()
    return out


@dataclass(frozen=True)
class LatentScale:
    """The linear map between float latents and the integers 0..25500.

    ``value = round((latent - min) / (max - min) * 25500)``, the same ``min`` and
    ``max`` for every dimension.
    """

    min: float
    max: float

    def __post_init__(self):
        if not (np.isfinite(self.min) and np.isfinite(self.max)) or self.max < self.min:
            raise ValueError(f"a latent scale needs finite min <= max, got {self.min}, {self.max}")

    def to_json(self) -> dict:
        return {"min": float(self.min), "max": float(self.max), "levels": LATENT_MAX}

    @classmethod
    def from_json(cls, d) -> "LatentScale":
        if isinstance(d, LatentScale):
            return d
        try:
            levels = d.get("levels", LATENT_MAX)
            scale = cls(float(d["min"]), float(d["max"]))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise DataFormatError(f"not a latent scale (expected {{\"min\", \"max\"}}): {d!r}"
                                  ) from exc
        if levels != LATENT_MAX:
            raise DataFormatError(f"latent scale for 0..{levels}, expected 0..{LATENT_MAX}")
        return scale


def fit_scale(latents) -> LatentScale:
    """The global min and max of ``latents`` (ndarray (N, D) float): fit on the data set."""
    z = np.asarray(latents, dtype=np.float32)
    if z.ndim != 2 or z.size == 0:
        raise ValueError(f"latents must be a non-empty (N, D) matrix, got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("latents contain NaN or infinite values")
    return LatentScale(float(z.min()), float(z.max()))


def to_uint16(latents, scale: LatentScale) -> np.ndarray:
    """Float latents -> integers 0..25500 under ``scale``.

    Parameters
    ----------
    latents : ndarray of shape (N, D), float
    scale : LatentScale

    Returns
    -------
    ndarray of shape (N, D), dtype uint16, values in 0..25500. Values below
    ``scale.min`` become 0 and values above ``scale.max`` become 25500 (clipped);
    a scale with min == max maps everything to 0.
    """
    z = np.asarray(latents, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"latents must have shape (N, D), got {z.shape}")
    width = scale.max - scale.min
    if width == 0:
        return np.zeros(z.shape, dtype=np.uint16)
    v = np.rint((z - scale.min) * (LATENT_MAX / width))
    return np.clip(v, 0, LATENT_MAX).astype(np.uint16)


def from_uint16(values, scale: LatentScale) -> np.ndarray:
    """Integers 0..25500 -> float latents (within ``(max - min) / 51000`` of the originals).

    Returns
    -------
    ndarray of shape (N, D), dtype float32
    """
    v = np.asarray(values)
    if v.ndim != 2:
        raise ValueError(f"latent values must have shape (N, D), got {v.shape}")
    z = scale.min + v.astype(np.float64) * ((scale.max - scale.min) / LATENT_MAX)
    return z.astype(np.float32)


def scale_path(path) -> Path:
    """Where the scale of a latent file is kept: ``<path>.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def write_latent_file(path, latents, scale: LatentScale) -> Path:
    """Write float ``latents`` (N, D) as a 0..25500 latent file plus ``<path>.json``.

    The integers go through :func:`to_uint16` (clipping to the scale's range) and
    :func:`imsim.datasets.write_latent`; the JSON holds the scale, so
    :func:`read_latent_file` gives back floats.
    """
    path = Path(path)
    write_latent(path, to_uint16(latents, scale))
    write_text_atomic(scale_path(path), json.dumps(scale.to_json(), indent=2) + "\n")
    return path


def read_latent_file(path) -> tuple[np.ndarray, LatentScale]:
    """Read a latent file and the scale beside it.

    Returns
    -------
    latents : ndarray of shape (N, D), dtype float32
    scale : LatentScale
    """
    values = read_latent(path)
    spath = scale_path(path)
    check_file(spath, f"latent scale for {path} (written beside it by imsim)")
    try:
        scale = LatentScale.from_json(json.loads(spath.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{spath}: not valid JSON ({exc})") from None
    return from_uint16(values, scale), scale


def fit_and_save(images, model_dir, model_config=None, train_config=None, *,
                 progress: bool = True, callback=None):
    """Train an autoencoder on ``images``, fit the latent scale on them, save both.

    Parameters
    ----------
    images : ImageSet or ndarray of shape (N, H, W) or (N, H, W, C), dtype uint8
    model_dir : path-like
        Checkpoint folder to write (see :func:`imsim.models.save_checkpoint`).
    model_config, train_config, progress, callback
        As :func:`imsim.models.fit_autoencoder`.

    Returns
    -------
    model : ConvAutoencoder
    history : History
    scale : LatentScale
        Fitted on the latents of all of ``images`` (training and validation split).
    """
    model, history, scale, _ = _fit_and_save(images, model_dir, model_config, train_config,
                                             progress, callback)
    return model, history, scale


def _fit_and_save(images, model_dir, model_config, train_config, progress, callback):
    from .models import TrainConfig, fit_autoencoder, save_checkpoint

    train_config = train_config or TrainConfig()
    model, history = fit_autoencoder(images, model_config, train_config, progress=progress,
                                     callback=callback)
    latents = encode(model, images, progress=progress)
    scale = fit_scale(latents)
    save_checkpoint(model_dir, model, history=history, latent_scale=scale,
                    extra={"train_config": train_config.to_dict()})
    return model, history, scale, latents


def _encode_source(model, model_dir, source, images, engine, progress) -> np.ndarray:
    """``encode(model, images)``, or on a distributed engine's workers, each reading its
    own rows of ``source`` when it is an idx file (:func:`imsim.engine.jobs.encode_images`)."""
    from .engine import using

    with using(engine) as eng:
        if not eng.distributed:
            return encode(model, images, progress=progress)
        from .engine.blocks import image_shape
        from .engine.jobs import encode_images

        try:
            image_shape(source)
        except (TypeError, ValueError, OSError):
            source = images.images  # not an idx file: the pixels travel with the tasks
        return encode_images(model_dir, source, engine=eng, input_shape=model.input_shape)


def reduce_files(dataset, queryset, out_dataset, out_query, *, model_dir=None,
                 save_model_dir=None, model_config=None, train_config=None,
                 progress: bool = True, callback=None, engine=None) -> dict:
    """The ``reduce`` job: encode a data set and a query set into two latent files.

    Parameters
    ----------
    dataset, queryset : ImageSet, or anything :func:`imsim.datasets.open_images` opens
        (an idx images file, gzip'd or not; a catalog name; an image folder).
    out_dataset, out_query : path-like
        Latent files to write (each with its ``.json`` scale beside it).
    model_dir : path-like, optional
        A trained autoencoder. Without one, a model is trained on ``dataset`` with
        ``model_config``/``train_config`` and saved to ``save_model_dir`` (default:
        a ``model`` folder beside ``out_dataset``).
    engine : None, "local", "dask" or :class:`imsim.engine.Engine`
        Where the images are encoded (:mod:`imsim.engine`: each worker reads its own
        rows of an idx file); training always runs here.

    Returns
    -------
    dict with ``model_dir``, ``trained`` (bool), ``history`` (or None), ``scale``,
    ``n_dataset``, ``n_query``, ``latent_dim``, ``clipped_query`` (share of query
    values outside the scale, clipped) and ``encode_seconds`` (encoding wall time,
    seconds; the query set only when the data set was encoded during training).
    """
    from .datasets import open_images
    from .models import load_checkpoint, update_checkpoint_meta

    data = open_images(dataset)
    query = open_images(queryset)
    if data.shape != query.shape:
        raise ValueError(f"data set images are {'x'.join(map(str, data.shape))} but query "
                         f"images are {'x'.join(map(str, query.shape))}")
    history, scale, z_data = None, None, None
    if model_dir is None:
        model_dir = Path(save_model_dir) if save_model_dir else Path(out_dataset).parent / "model"
        model, history, scale, z_data = _fit_and_save(data, model_dir, model_config,
                                                      train_config, progress, callback)
    else:
        model = load_checkpoint(model_dir, expect_input_shape=data.images.shape[1:],
                                architecture="ConvAutoencoder")
        if model.latent_scale is not None:
            scale = LatentScale.from_json(model.latent_scale)
    start = time.perf_counter()
    if z_data is None:
        z_data = _encode_source(model, model_dir, dataset, data, engine, progress)
    z_query = _encode_source(model, model_dir, queryset, query, engine, progress)
    seconds = time.perf_counter() - start
    if scale is None:  # a checkpoint without a scale: fit it on this data set, keep it
        scale = fit_scale(z_data)
        update_checkpoint_meta(model_dir, latent_scale=scale)
    write_latent_file(out_dataset, z_data, scale)
    write_latent_file(out_query, z_query, scale)
    outside = (z_query < scale.min) | (z_query > scale.max)
    return {"model_dir": str(model_dir), "trained": history is not None, "history": history,
            "scale": scale, "n_dataset": len(data), "n_query": len(query),
            "latent_dim": int(z_data.shape[1]), "clipped_query": float(outside.mean()),
            "encode_seconds": seconds}
