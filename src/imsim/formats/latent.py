"""The assignment's 2-byte latent files and the scale that maps float latents onto them.

File (every header integer is big-endian 32-bit): magic 2051 (as the assignment
writes it), count N, rows 1, columns D, then N*D big-endian unsigned 16-bit integers
in 0..25500. The proper idx magic for 16-bit data (0x0B03 = 2819) is read too, and
the magics some original student programs wrote (1, 69, 999) are read with a
warning. The container (gzip, header, size checks) is :mod:`imsim._idx`'s.

The mapping between float latents and the integers is linear, with one
:class:`LatentScale` (a minimum and a maximum) that is

* **global over all dimensions**, so L1/L2 distances between integer vectors keep
  the proportions of the distances between the float latents; and
* **fitted once, on the data set**, then reused for every query set (and stored in
  the model's checkpoint and beside every latent file as ``<file>.json``), so data
  set and queries live in the same integer space. The original programs scaled each
  file by its own min/max, which put queries and data in different spaces.

Values outside the fitted range (a query more extreme than any data-set image) are
clipped to 0 or 25500; :func:`write_latent_files` reports the clipped share.

This module needs NumPy only: ``imsim.read_latent_file`` loads no torch.
"""
from __future__ import annotations

import json
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import write_text_atomic
from .._validation import DataFormatError, check_file
from .._idx import (LATENT_MAGIC, LATENT_MAGIC_IDX16, LEGACY_LATENT_MAGICS, check_payload, magic_error,
                    read_header, read_raw, write_idx)

LATENT_MAX = 25500

__all__ = [
    "LATENT_MAGIC", "LATENT_MAX", "LatentScale", "LatentFiles", "read_latent", "write_latent",
    "fit_scale", "to_uint16", "from_uint16", "scale_path", "write_latent_file",
    "read_latent_file", "write_latent_files",
]


# ------------------------------------------------------------------ the integer file

def read_latent(path) -> np.ndarray:
    """Read a latent file of 2-byte integers (gzip'd or not).

    Returns
    -------
    ndarray of shape (N, D), dtype uint16, values in 0..LATENT_MAX
        Convert to floats with :func:`from_uint16` and the scale stored beside the
        file (or read both at once with :func:`read_latent_file`).
    """
    return parse_latent(read_raw(path), path)


def parse_latent(data: bytes, path) -> np.ndarray:
    """The values of a latent file's bytes ``data`` (``path`` names it in errors)."""
    magic, n, rows, cols = read_header(data, 4, path)
    if magic in LEGACY_LATENT_MAGICS:
        warnings.warn(f"{path}: magic number {magic} (written by an original student "
                      f"program), reading it as a latent file", stacklevel=3)
    elif magic not in (LATENT_MAGIC, LATENT_MAGIC_IDX16):
        raise magic_error(path, magic, f"{LATENT_MAGIC} for a latent file")
    if n < 0 or rows <= 0 or cols <= 0:
        raise DataFormatError(f"{path}: invalid header sizes count={n} rows={rows} columns={cols}")
    payload = len(data) - 16
    if payload == n * rows * cols and rows > 1:
        raise DataFormatError(
            f"{path}: this is a 1-byte images file ({n} x {rows} x {cols}), not a latent file"
        )
    dims = rows * cols
    if n > 0 and payload % (2 * n) == 0 and payload != 2 * n * dims:
        raise DataFormatError(
            f"{path}: header says {dims} values per vector (rows={rows}, columns={cols}) but "
            f"the file size gives {payload // (2 * n)} for {n} vectors"
        )
    check_payload(path, payload, 2 * n * dims, f"{n} x {dims} x 2")
    values = np.frombuffer(data, dtype=">u2", offset=16).astype(np.uint16).reshape(n, dims)
    if values.size and values.max() > LATENT_MAX:
        raise DataFormatError(
            f"{path}: value {int(values.max())} out of range, latent values are 0..{LATENT_MAX}"
        )
    return values


def write_latent(path, values) -> Path:
    """Write integer latents of shape (N, D), values in 0..LATENT_MAX, as a latent file.

    The header is (LATENT_MAGIC, N, 1, D) and each value is a big-endian uint16;
    the write is atomic (gzip'd when ``path`` ends in .gz).
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"latents must have shape (N, D), got {values.shape}")
    if values.dtype.kind not in "ui":
        raise TypeError(f"latent values must be integers, got {values.dtype}; "
                        "convert with imsim.formats.latent.to_uint16")
    if values.size and (values.min() < 0 or values.max() > LATENT_MAX):
        raise ValueError(f"latent values must be in 0..{LATENT_MAX}, got "
                         f"{int(values.min())}..{int(values.max())}")
    n, d = values.shape
    header = struct.pack(">4i", LATENT_MAGIC, n, 1, d)
    return write_idx(path, header, values.astype(">u2").tobytes())


# ------------------------------------------------------------------ the scale

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

    def clipped(self, latents) -> float:
        """Share of the values of ``latents`` outside [min, max] (clipped when written)."""
        z = np.asarray(latents)
        return float(((z < self.min) | (z > self.max)).mean()) if z.size else 0.0


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


# ------------------------------------------------------------------ file + scale

def scale_path(path) -> Path:
    """Where the scale of a latent file is kept: ``<path>.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def write_latent_file(path, latents, scale: LatentScale) -> Path:
    """Write float ``latents`` (N, D) as a 0..25500 latent file plus ``<path>.json``.

    The integers go through :func:`to_uint16` (clipping to the scale's range) and
    :func:`write_latent`; the JSON holds the scale, so :func:`read_latent_file`
    gives back floats.
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


@dataclass(frozen=True)
class LatentFiles:
    """What :func:`write_latent_files` wrote.

    Attributes
    ----------
    dataset, query : Path
        The two latent files (each with its ``.json`` scale beside it).
    scale : LatentScale
        The one scale of both, fitted on the data set unless one was given.
    n_dataset, n_query, latent_dim : int
    clipped_dataset, clipped_query : float
        Share of the values outside the scale, clipped to 0 or 25500 (0 for the data
        set when the scale was fitted on it).
    """

    dataset: Path
    query: Path
    scale: LatentScale
    n_dataset: int
    n_query: int
    latent_dim: int
    clipped_dataset: float
    clipped_query: float


def write_latent_files(out_dataset, z_dataset, out_query, z_query, scale=None) -> LatentFiles:
    """Write a data set's and a query set's float latents as two files on one scale.

    The one way imsim saves latents ("encode -> fit the scale -> save"): the scale is
    fitted on the data set (:func:`fit_scale`) unless ``scale`` is given (e.g. the one
    a model checkpoint carries), and the same scale serves the queries.

    Parameters
    ----------
    out_dataset, out_query : path-like
    z_dataset : ndarray of shape (N, D), float
    z_query : ndarray of shape (M, D), float
    scale : LatentScale or dict, optional

    Returns
    -------
    LatentFiles
    """
    z_dataset, z_query = np.asarray(z_dataset), np.asarray(z_query)
    if z_query.ndim != 2 or z_dataset.ndim != 2 or z_query.shape[1] != z_dataset.shape[1]:
        raise ValueError(f"data set latents {z_dataset.shape} and query latents "
                         f"{z_query.shape} must be (N, D) and (M, D) with one D")
    scale = fit_scale(z_dataset) if scale is None else LatentScale.from_json(scale)
    return LatentFiles(
        dataset=write_latent_file(out_dataset, z_dataset, scale),
        query=write_latent_file(out_query, z_query, scale), scale=scale,
        n_dataset=len(z_dataset), n_query=len(z_query), latent_dim=int(z_dataset.shape[1]),
        clipped_dataset=scale.clipped(z_dataset), clipped_query=scale.clipped(z_query))
