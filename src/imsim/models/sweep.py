"""Hyper-parameter experiments: a base configuration, one parameter varied at a time.

This is the original study's design. :func:`run_sweep` trains one autoencoder per
value and returns a :class:`SweepResult` (records + a few original/reconstructed
images); :func:`write_sweep` saves the table as CSV and JSON. Plots are drawn by
:func:`imsim.report.training_plots.plot_sweep`.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .._io import atomic_path, write_text_atomic
from .autoencoder import AutoencoderConfig, fit_autoencoder, model_pixels, reconstruct
from .training import TrainConfig, _split

# parameter -> the config that holds it
SWEEP_PARAMS = {
    "n_layers": "model", "kernel_size": "model", "filters": "model", "latent_dim": "model",
    "hidden_dim": "model", "batch_norm": "model",
    "epochs": "train", "batch_size": "train", "lr": "train", "optimizer": "train",
    "schedule": "train",
}
COLUMNS = ["param", "value", "n_params", "final_train_loss", "final_val_loss", "best_val_loss",
           "best_epoch", "epochs_run", "seconds"]


@dataclass
class SweepResult:
    """What a sweep measured.

    ``records``: one dict per value with the keys of :data:`COLUMNS` plus
    ``history`` (the :class:`History` as a dict) and the two configs.
    ``originals``: uint8 images (k, H, W[, C]) from the validation split;
    ``reconstructions``: one uint8 array of the same shape per record, in order.
    """

    param: str
    records: list[dict] = field(default_factory=list)
    originals: np.ndarray | None = None
    reconstructions: list[np.ndarray] = field(default_factory=list)


def _with_value(model_config: AutoencoderConfig, train_config: TrainConfig, param: str, value):
    """The base configs with ``param`` set to ``value``."""
    if param not in SWEEP_PARAMS:
        raise ValueError(f"cannot sweep {param!r}; choose one of {sorted(SWEEP_PARAMS)}")
    if SWEEP_PARAMS[param] == "train":
        return model_config, replace(train_config, **{param: value})
    changes = {param: value}
    if param == "n_layers":
        # keep the base filters, cut or repeat the last one to the new depth
        base = list(model_config.filters)
        changes["filters"] = (base + [base[-1]] * value)[:value]
    elif param == "filters" and not isinstance(value, int):
        changes["n_layers"] = len(value)
    return replace(model_config, **changes), train_config


def run_sweep(images, param: str, values, *, model_config: AutoencoderConfig | None = None,
              train_config: TrainConfig | None = None, n_samples: int = 8,
              progress: bool = True, callback=None) -> SweepResult:
    """Train one autoencoder per value of ``param``, the rest as the base configs.

    Parameters
    ----------
    images : ImageSet or ndarray of shape (N, H, W) or (N, H, W, C), dtype uint8
    param : str
        One of :data:`SWEEP_PARAMS`. Varying ``n_layers`` keeps the base filters
        (cut, or the last one repeated); ``filters`` may be lists (the depth follows).
    values : sequence
    model_config, train_config : optional
        The base configuration (defaults: the library defaults). Every run uses
        the same seed, so runs differ only by the varied value.
    n_samples : int
        Validation images to reconstruct with every model, for the comparison grid.
    callback : callable(value, epoch_record), optional
        Called after every epoch of every run.

    Returns
    -------
    SweepResult
    """
    values = list(values)
    if not values:
        raise ValueError("a sweep needs at least one value")
    model_config = model_config or AutoencoderConfig()
    train_config = train_config or TrainConfig()
    pixels = model_pixels(images)
    configs = [_with_value(model_config, train_config, param, v) for v in values]  # fail early
    _, val_idx = _split(len(pixels), train_config.val_fraction, train_config.seed)
    pick = val_idx if len(val_idx) else np.arange(len(pixels))
    result = SweepResult(param=param, originals=pixels[pick[:n_samples]].copy())
    for value, (mc, tc) in zip(values, configs):
        on_epoch = None if callback is None else (lambda rec, v=value: callback(v, rec))
        model, history = fit_autoencoder(pixels, mc, tc, progress=progress, callback=on_epoch)
        last = history.epochs[-1]
        result.records.append({
            "param": param,
            "value": value,
            "n_params": sum(p.numel() for p in model.parameters()),
            "final_train_loss": last["train_loss"],
            "final_val_loss": last["val_loss"],
            "best_val_loss": history.best_val_loss,
            "best_epoch": history.best_epoch,
            "epochs_run": len(history.epochs),
            "seconds": history.seconds,
            "history": history.to_dict(),
            "model_config": model.config.to_dict(),
            "train_config": tc.to_dict(),
        })
        result.reconstructions.append(reconstruct(model, result.originals))
    return result


def write_sweep(result: SweepResult, out_dir) -> tuple[Path, Path]:
    """Write ``sweep.csv`` (the table) and ``sweep.json`` (records with histories).

    Returns
    -------
    (csv_path, json_path)
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out_dir / "sweep.csv", out_dir / "sweep.json"
    with atomic_path(csv_path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            for rec in result.records:
                row = [rec[c] for c in COLUMNS]
                row[1] = _value_text(row[1])
                writer.writerow(row)
    write_text_atomic(json_path, json.dumps({"param": result.param, "records": result.records},
                                            indent=2) + "\n")
    return csv_path, json_path


def _value_text(value) -> str:
    return "-".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
