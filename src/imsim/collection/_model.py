"""The collection's links to the model and search layers: train, encode, index.

Everything heavy (torch, faiss) is imported inside the functions, so opening a
collection and answering cached queries loads neither.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _store

DEFAULT_EPOCHS = 5
# A lighter encoder than the MNIST default: photos at 64x64 RGB have 16x the pixels
# of a digit, and indexing 5,000 of them must train in minutes on two cores.
_FILTERS = [16, 32, 32]
_MIN_VALIDATION = 20  # below this many images every image trains (no held-out split)
# Batches of 128 (the MNIST default) would give a small folder one or two optimiser
# steps per epoch; about 16 batches per epoch, between 8 and 128 images each, keep
# small folders trainable in a few epochs and large ones at the tuned size.
_BATCHES_PER_EPOCH, _MIN_BATCH, _MAX_BATCH = 16, 8, 128
_MIN_ONECYCLE_STEPS = 12


def resolve_model_dir(model) -> Path:
    """The checkpoint folder named by ``model``: a checkpoint, or a collection's model."""
    path = Path(model).expanduser()
    if _store.is_collection(path):
        info = _store.read_pointer(path)
        return path / _store.VERSIONS / info["current"] / "model"
    return path


def load_model(model_dir: Path, input_shape):
    """Load the autoencoder in ``model_dir``, checking it takes ``input_shape`` images."""
    from ..models import ConvAutoencoder, load_checkpoint

    return load_checkpoint(model_dir, expect_input_shape=input_shape,
                           architecture=ConvAutoencoder.architecture).model


def train(pixels: np.ndarray, settings, training: dict, progress):
    """Train an autoencoder on the collection's images; returns (model, History)."""
    from ..models import AutoencoderConfig, TrainConfig, fit_autoencoder

    if len(pixels) < 2:
        raise ValueError(f"training a model needs at least 2 readable images, found {len(pixels)}; "
                         f"add photos or pass a model (--model)")
    config = AutoencoderConfig(input_shape=settings.input_shape, latent_dim=settings.latent_dim,
                               filters=list(_FILTERS))
    batch = int(np.clip(len(pixels) // _BATCHES_PER_EPOCH, _MIN_BATCH, _MAX_BATCH))
    val_fraction = 0.1 if len(pixels) >= _MIN_VALIDATION else 0.0
    epochs = int(training["epochs"])
    steps = epochs * -(-round(len(pixels) * (1 - val_fraction)) // batch)
    # torch's OneCycleLR divides by zero when its warm-up (a quarter) is under 2 steps
    schedule = "onecycle" if steps >= _MIN_ONECYCLE_STEPS else "constant"
    train_config = TrainConfig(epochs=epochs, seed=int(training["seed"]), batch_size=batch,
                               val_fraction=val_fraction, schedule=schedule)
    return fit_autoencoder(pixels, config, train_config, progress=_show(progress))


def inference_encoder(model):
    """The model's encoder folded for inference (see :func:`imsim.models.inference_encoder`)."""
    from ..models import inference_encoder as _fold

    return _fold(model)


def save_model(model_dir: Path, model, history) -> None:
    from ..models import save_checkpoint

    save_checkpoint(model_dir, model, history=history, extra={"trained_by": "imsim.collection"})


def encode(model, pixels: np.ndarray, *, progress) -> np.ndarray:
    """Latents float32 (N, latent_dim) of uint8 images (N, H, W[, 3])."""
    from ..embed import encode as _encode

    return np.ascontiguousarray(_encode(model, pixels, progress=_show(progress)), dtype=np.float32)


def make_index(metric: str, latents: np.ndarray):
    """The collection's ANN index (HNSW) over ``latents``, fitted."""
    from ..search import HNSWIndex

    return HNSWIndex(metric=metric).fit(latents)


def load_index(path: Path):
    from .._validation import DataFormatError
    from ..search import HNSWIndex

    if not path.exists():
        raise DataFormatError(f"collection version is incomplete: {path} is missing")
    return HNSWIndex.load(path)


def _show(progress) -> bool:
    """``progress=None`` means "when stderr is a terminal", as imsim._progress decides."""
    if progress is None:
        from .._progress import _enabled

        return _enabled()
    return bool(progress)
