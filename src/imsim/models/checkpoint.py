"""Checkpoints: a folder with the weights (safetensors) and a JSON file describing them.

``<model_dir>/model.safetensors``  the state dict, tensors only (safe to load)
``<model_dir>/config.json``        {"format", "architecture", "config" (to rebuild the
                                   model), "input_shape" [H, W, C], "imsim_version",
                                   "history", "latent_scale", "extra"}

A checkpoint carries its configuration, so loading rebuilds the exact architecture and
a file of another kind, or a model for other images, is rejected with a clear error.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import atomic_path, write_text_atomic
from .._validation import DataFormatError
from ..formats.latent import LatentScale

FORMAT = "imsim-checkpoint"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def _architectures() -> dict:
    from .autoencoder import ConvAutoencoder
    from .classifier import Classifier

    return {cls.architecture: cls for cls in (ConvAutoencoder, Classifier)}


@dataclass
class Checkpoint:
    """A model loaded by :func:`load_checkpoint`, with what its folder says about it.

    Attributes
    ----------
    model : ConvAutoencoder or Classifier
        In eval mode, on the CPU.
    path : Path
        The checkpoint folder.
    architecture : str
        ``"ConvAutoencoder"`` or ``"Classifier"``.
    config : dict
        The model's configuration (what rebuilt it).
    input_shape : tuple of int
        (H, W, C) of the images it takes.
    history : History or None
        The training history, when it was saved.
    latent_scale : LatentScale or None
        The scale of the 0..25500 latent files, when it was saved (autoencoders).
    extra : dict
        What the writer kept beside it (e.g. ``train_config``).
    imsim_version : str or None
        The imsim version that wrote it.
    """

    model: Any
    path: Path
    architecture: str
    config: dict
    input_shape: tuple
    history: Any = None
    latent_scale: LatentScale | None = None
    extra: dict = field(default_factory=dict)
    imsim_version: str | None = None


def save_checkpoint(model_dir, model, *, history=None, latent_scale=None, extra=None) -> Path:
    """Write ``model`` to the folder ``model_dir`` (created if needed).

    Parameters
    ----------
    model_dir : str or path-like
    model : ConvAutoencoder or Classifier
    history : History or dict, optional
        The training history, stored for plots and reports.
    latent_scale : LatentScale or dict, optional
        The scale of the 0..25500 latent files (see :mod:`imsim.formats.latent`).
    extra : dict, optional
        Anything JSON-serialisable the caller wants kept (e.g. the training config).

    Returns
    -------
    Path of the folder.
    """
    from safetensors.torch import save_file

    from .. import __version__

    model_dir = Path(model_dir)
    if model_dir.exists() and not model_dir.is_dir():
        raise NotADirectoryError(f"checkpoint path is a file, expected a folder: {model_dir}")
    arch = getattr(model, "architecture", None)
    if arch not in _architectures():
        raise TypeError(f"cannot checkpoint a {type(model).__name__}; expected one of "
                        f"{sorted(_architectures())}")
    meta = {
        "format": FORMAT,
        "architecture": arch,
        "config": model.config_dict(),
        "input_shape": list(model.input_shape),
        "imsim_version": __version__,
        "history": history.to_dict() if hasattr(history, "to_dict") else history,
        "latent_scale": latent_scale.to_json() if hasattr(latent_scale, "to_json") else latent_scale,
        "extra": extra or {},
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    model_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(model_dir / WEIGHTS) as tmp:
        save_file(state, str(tmp))
    write_text_atomic(model_dir / CONFIG, json.dumps(meta, indent=2) + "\n")
    return model_dir


def read_checkpoint_meta(model_dir) -> dict:
    """The checkpoint's JSON description, validated; raises on anything else."""
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise FileNotFoundError(f"model folder not found: {model_dir}")
    if not model_dir.is_dir():
        raise NotADirectoryError(f"a model is a folder holding {CONFIG} and {WEIGHTS}, "
                                 f"got a file: {model_dir}")
    path = model_dir / CONFIG
    if not path.exists():
        raise FileNotFoundError(f"{model_dir} is not an imsim model folder: {CONFIG} is missing")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataFormatError(f"{path}: not an imsim checkpoint (expected \"format\": "
                              f"\"{FORMAT}\")")
    return meta


def load_checkpoint(model_dir, *, expect_input_shape=None,
                    architecture: str | None = None) -> Checkpoint:
    """Rebuild the model saved in ``model_dir``, in eval mode on the CPU.

    Parameters
    ----------
    model_dir : str or path-like
    expect_input_shape : (H, W) or (H, W, C), optional
        The shape of the images it will see; a model trained on other shapes is
        rejected ("model expects 28x28x1 images, got 32x32x3").
    architecture : {"ConvAutoencoder", "Classifier"}, optional
        Reject a checkpoint of another kind.

    Returns
    -------
    Checkpoint
        ``.model`` is the ConvAutoencoder or Classifier; ``.history``,
        ``.latent_scale`` (LatentScale or None), ``.config`` and ``.extra`` come
        from the folder's JSON. A malformed stored scale is rejected here.
    """
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .training import History

    model_dir = Path(model_dir)
    meta = read_checkpoint_meta(model_dir)
    arch = meta.get("architecture")
    classes = _architectures()
    if arch not in classes:
        raise DataFormatError(f"{model_dir}: unknown architecture {arch!r}, expected one of "
                              f"{sorted(classes)}")
    if architecture is not None and arch != architecture:
        raise ValueError(f"{model_dir} holds a {arch}, expected a {architecture}")
    shape = tuple(meta.get("input_shape") or ())
    if expect_input_shape is not None:
        want = tuple(int(v) for v in expect_input_shape)
        want = want if len(want) == 3 else (*want, 1)
        if want != shape:
            raise ValueError(f"model in {model_dir} expects {_fmt(shape)} images, "
                             f"got {_fmt(want)}")
    model = classes[arch].from_config_dict(meta["config"])
    weights = model_dir / WEIGHTS
    if not weights.exists():
        raise FileNotFoundError(f"{model_dir}: {WEIGHTS} is missing")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise DataFormatError(f"{weights}: unreadable weights ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise DataFormatError(f"{weights}: weights do not fit the {arch} described in "
                              f"{CONFIG} ({first[1].strip() if len(first) > 1 else first[0]})"
                              ) from None
    # the memory layout training used (see to_tensor), so latents match bit for bit
    model.to(memory_format=torch.channels_last).eval()
    scale = meta.get("latent_scale")
    try:
        scale = None if scale is None else LatentScale.from_json(scale)
    except DataFormatError as exc:
        raise DataFormatError(f"{model_dir / CONFIG}: {exc}") from None
    return Checkpoint(model=model, path=model_dir, architecture=arch, config=meta["config"],
                      input_shape=shape,
                      history=History.from_dict(meta["history"]) if meta.get("history") else None,
                      latent_scale=scale, extra=dict(meta.get("extra") or {}),
                      imsim_version=meta.get("imsim_version"))


def update_checkpoint_meta(model_dir, **fields) -> None:
    """Set top-level fields of an existing checkpoint's JSON (e.g. ``latent_scale``)."""
    meta = read_checkpoint_meta(model_dir)
    for key, value in fields.items():
        meta[key] = value.to_json() if hasattr(value, "to_json") else value
    write_text_atomic(Path(model_dir) / CONFIG, json.dumps(meta, indent=2) + "\n")


def _fmt(shape) -> str:
    return "x".join(str(v) for v in shape)
