"""MNIST idx files, gzip'd or not: images and labels, and any idx file by its kind.

Formats (every header integer is big-endian 32-bit):

* images  : magic 2051, count N, rows H, columns W, then N*H*W unsigned bytes.
* labels  : magic 2049, count N, then N unsigned bytes.

The project's 2-byte latent files are idx files too (magic 2051, rows 1); their
format and scale live in :mod:`imsim.formats.latent`. Both build on the container
(gzip, bounded read, header, size checks, atomic write) of :mod:`imsim._idx`. An images file and a latent file with magic 2051 are told apart by
their size: the payload holds N*H*W bytes for images and 2*N*1*D bytes for latents.
Every reader checks the declared sizes against the file size and says which is wrong.
Writers are atomic (temporary file + rename).
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .._idx import (IMAGES_MAGIC, LABELS_MAGIC, LATENT_MAGIC, LATENT_MAGICS, check_payload, magic_error,
                    read_header, read_raw, write_idx)
from .._validation import DataFormatError
from ..formats.latent import parse_latent

__all__ = [
    "IMAGES_MAGIC", "LABELS_MAGIC", "LATENT_MAGIC",
    "read_images", "read_labels", "read_idx", "write_images", "write_labels", "read_imageset",
]


def read_images(path) -> np.ndarray:
    """Read an idx images file.

    Returns
    -------
    ndarray of shape (N, H, W), dtype uint8
    """
    return _parse_images(read_raw(path), path)


def _parse_images(data: bytes, path) -> np.ndarray:
    magic, n, rows, cols = read_header(data, 4, path, expected_magic=IMAGES_MAGIC)
    if n < 0 or rows <= 0 or cols <= 0:
        raise DataFormatError(f"{path}: invalid header sizes count={n} rows={rows} columns={cols}")
    payload = len(data) - 16
    if rows == 1 and payload == 2 * n * cols and n > 0:
        raise DataFormatError(
            f"{path}: this is a 2-byte latent file ({n} x {cols}), not an images file"
        )
    check_payload(path, payload, n * rows * cols, f"{n} x {rows} x {cols}")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, cols)


def read_labels(path) -> np.ndarray:
    """Read an idx labels file.

    Returns
    -------
    ndarray of shape (N,), dtype int64
    """
    return _parse_labels(read_raw(path), path)


def _parse_labels(data: bytes, path) -> np.ndarray:
    magic, n = read_header(data, 2, path, expected_magic=LABELS_MAGIC)
    if n < 0:
        raise DataFormatError(f"{path}: invalid label count {n}")
    check_payload(path, len(data) - 8, n, f"{n} labels")
    return np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64)


def read_idx(path) -> tuple[str, np.ndarray]:
    """Read any idx file this project knows and say which kind it is.

    Returns
    -------
    kind : {"images", "labels", "latent"}
    data : ndarray (as :func:`read_images`, :func:`read_labels` or
        :func:`imsim.formats.latent.read_latent`)
    """
    data = read_raw(path)
    magic = read_header(data, 1, path)[0]
    if magic == LABELS_MAGIC:
        return "labels", _parse_labels(data, path)
    if magic == IMAGES_MAGIC and len(data) >= 16:
        n, rows, cols = struct.unpack(">3i", data[4:16])
        if not (rows == 1 and len(data) - 16 == 2 * n * cols and n > 0):
            return "images", _parse_images(data, path)
    if magic in LATENT_MAGICS:
        return "latent", parse_latent(data, path)
    raise magic_error(path, magic, f"{IMAGES_MAGIC} (images), {LABELS_MAGIC} (labels) "
                       f"or {LATENT_MAGIC} (latent)")


def write_images(path, images) -> Path:
    """Write uint8 images of shape (N, H, W) as an idx file (gzip'd if ``path`` ends in .gz)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8, got {images.dtype}")
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W), got {images.shape}")
    n, h, w = images.shape
    header = struct.pack(">4i", IMAGES_MAGIC, n, h, w)
    return write_idx(path, header, np.ascontiguousarray(images).tobytes())


def write_labels(path, labels) -> Path:
    """Write integer labels 0..255 of shape (N,) as an idx file."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must have shape (N,), got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError("labels must be in 0..255 for the idx format")
    header = struct.pack(">2i", LABELS_MAGIC, labels.shape[0])
    return write_idx(path, header, labels.astype(np.uint8).tobytes())


def read_imageset(images_path, labels_path=None, *, name: str | None = None):
    """Read an idx images file (and optionally its labels) into an :class:`ImageSet`."""
    from .imageset import ImageSet

    images = read_images(images_path)
    labels = None
    if labels_path is not None:
        labels = read_labels(labels_path)
        if len(labels) != len(images):
            raise DataFormatError(
                f"{labels_path} holds {len(labels)} labels but {images_path} holds "
                f"{len(images)} images"
            )
    return ImageSet(images, labels=labels, name=name or Path(images_path).name)
