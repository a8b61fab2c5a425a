"""Images -> latent vectors (torch), and the jobs that write them as latent files.

The latent file format and its scale (:class:`LatentScale`, :func:`fit_scale`,
:func:`write_latent_files`, ...) live in :mod:`imsim.formats.latent`, which needs no
torch; their names are re-exported here for old imports. This module adds what needs
a model: :func:`encode`, :func:`fit_and_save` (train, fit the scale, save the model)
and :func:`reduce_files` (the ``imsim reduce`` job).
"""
from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np
import torch

from ._progress import progress as _progress_bar
from .formats.latent import (LATENT_MAX, LatentFiles, LatentScale, fit_scale, from_uint16,
                             read_latent_file, scale_path, to_uint16, write_latent_file,
                             write_latent_files)
from .models import inference_encoder, model_pixels, reconstruct, to_tensor

__all__ = [
    "LATENT_MAX", "LatentScale", "LatentFiles", "encode", "reconstruct", "fit_scale",
    "to_uint16", "from_uint16", "write_latent_file", "write_latent_files", "read_latent_file",
    "scale_path", "fit_and_save", "save_autoencoder", "reduce_files",
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
    for start in _progress_bar(starts, desc="encoding", unit="batch", show=None if progress else False):
        batch = to_tensor(pixels[start:start + batch_size], device)
        out[start:start + len(batch)] = encoder(batch).float().cpu().numpy()
    return out


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
    from .models import TrainConfig, fit_autoencoder

    train_config = train_config or TrainConfig()
    model, history = fit_autoencoder(images, model_config, train_config, progress=progress,
                                     callback=callback)
    scale, latents = save_autoencoder(model_dir, model, images, history=history,
                                      train_config=train_config, progress=progress)
    return model, history, scale, latents


def save_autoencoder(model_dir, model, images, *, history=None, train_config=None,
                     progress: bool = True):
    """Save a trained autoencoder with the latent scale fitted on ``images``' latents.

    Returns
    -------
    scale : LatentScale
    latents : ndarray of shape (N, latent_dim), float32, the latents of ``images``
    """
    from .models import save_checkpoint

    latents = encode(model, images, progress=progress)
    scale = fit_scale(latents)
    extra = {"train_config": train_config.to_dict()} if train_config is not None else None
    save_checkpoint(model_dir, model, history=history, latent_scale=scale, extra=extra)
    return scale, latents


def _encode_source(model, model_dir, source, images, engine, progress) -> np.ndarray:
    """``encode(model, images)``, or on a distributed engine's workers, each reading its
    own rows of ``source`` when it is an idx file (:func:`encode_images`)."""
    from .engine import using

    with using(engine) as eng:
        if not eng.distributed:
            return encode(model, images, progress=progress)
        from .engine.blocks import image_shape

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
        A trained autoencoder; it is only read. Its stored latent scale is used; a
        checkpoint without one gets a scale fitted on ``dataset`` for these files
        (the model folder is left as it was). Without ``model_dir``, a model is
        trained on ``dataset`` with ``model_config``/``train_config`` and saved to
        ``save_model_dir`` (default: a ``model`` folder beside ``out_dataset``).
    engine : None, "local", "dask" or :class:`imsim.engine.Engine`
        Where the images are encoded (:mod:`imsim.engine`: each worker reads its own
        rows of an idx file); training always runs here.

    Returns
    -------
    dict with ``model_dir``, ``trained`` (bool), ``history`` (or None), ``scale``,
    ``scale_source`` ("model": the one stored in ``model_dir``; "dataset": fitted on
    the data set now), ``n_dataset``, ``n_query``,
    ``latent_dim``, ``clipped_dataset`` / ``clipped_query`` (share of values outside
    the scale, clipped) and ``encode_seconds`` (encoding wall time, seconds; the query
    set only when the data set was encoded during training).
    """
    from .datasets import open_images
    from .models import load_checkpoint

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
        checkpoint = load_checkpoint(model_dir, expect_input_shape=data.images.shape[1:],
                                     architecture="ConvAutoencoder")
        model, scale = checkpoint.model, checkpoint.latent_scale
    start = time.perf_counter()
    if z_data is None:
        z_data = _encode_source(model, model_dir, dataset, data, engine, progress)
    z_query = _encode_source(model, model_dir, queryset, query, engine, progress)
    seconds = time.perf_counter() - start
    files = write_latent_files(out_dataset, z_data, out_query, z_query, scale)
    return {"model_dir": str(model_dir), "trained": history is not None, "history": history,
            "scale": files.scale,
            "scale_source": "model" if history is None and scale is not None else "dataset",
            "n_dataset": files.n_dataset, "n_query": files.n_query,
            "latent_dim": files.latent_dim, "clipped_dataset": files.clipped_dataset,
            "clipped_query": files.clipped_query, "encode_seconds": seconds}


# --------------------------------------------------------------- encoding on an engine

@functools.lru_cache(maxsize=2)
def _cached_model(model_dir: str, input_shape, stamp):
    """A worker loads each checkpoint once (``stamp`` sees a rewritten one)."""
    from .models import load_checkpoint

    return load_checkpoint(model_dir, expect_input_shape=input_shape,
                           architecture="ConvAutoencoder").model


def _worker_model(model_dir, input_shape):
    from .engine import folder_stamp

    return _cached_model(str(model_dir), None if input_shape is None else tuple(input_shape),
                         folder_stamp(model_dir))


def _encode_block(block, model_dir: str, input_shape):
    return encode(_worker_model(model_dir, input_shape), block.load(), progress=False)


def encode_images(model_dir, images, *, engine=None, input_shape=None) -> np.ndarray:
    """Latents of an idx images file (or a uint8 array) under the autoencoder checkpoint
    in ``model_dir``, on ``engine``: each worker loads the model once and encodes its own
    rows (it reads only its block of the file).

    Returns
    -------
    ndarray of shape (N, latent_dim), float32, equal (within float tolerance) to
    :func:`encode` of the same images here.
    """
    from .engine import n_tasks, using
    from .engine.blocks import split

    with using(engine) as eng:
        if not eng.distributed:
            from .datasets import read_images

            pixels = read_images(images) if isinstance(images, (str, Path)) else images
            return encode(_worker_model(model_dir, input_shape), pixels, progress=False)
        blocks, _ = split(images, n_tasks(eng))
        return np.concatenate(eng.map(_encode_block, blocks, str(model_dir), input_shape))
