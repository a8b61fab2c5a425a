"""MNIST idx files, gzip'd or not: the container, images and labels.

Formats (every header integer is big-endian 32-bit):

* images  : magic 2051, count N, rows H, columns W, then N*H*W unsigned bytes.
* labels  : magic 2049, count N, then N unsigned bytes.

The project's 2-byte latent files are idx files too (magic 2051, rows 1); their
format and scale live in :mod:`imsim.formats.latent`, which builds on the container
helpers here. An images file and a latent file with magic 2051 are told apart by
their size: the payload holds N*H*W bytes for images and 2*N*1*D bytes for latents.
Every reader checks the declared sizes against the file size and says which is wrong.
Writers are atomic (temporary file + rename).
"""
from __future__ import annotations

import gzip
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np

from .._io import atomic_path
from .._validation import DataFormatError, check_file

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
LATENT_MAGIC = 2051
LATENT_MAGIC_IDX16 = 0x0B03  # idx type code 0x0B (16-bit), 3 dimensions
LEGACY_LATENT_MAGICS = (1, 69, 999)
# the container knows every magic it reads; the latent format itself is
# imsim.formats.latent's (values 0..25500, scale)
LATENT_MAGICS = (LATENT_MAGIC, LATENT_MAGIC_IDX16, *LEGACY_LATENT_MAGICS)

__all__ = [
    "IMAGES_MAGIC", "LABELS_MAGIC", "LATENT_MAGIC",
    "read_images", "read_labels", "read_idx", "write_images", "write_labels", "read_imageset",
]


DEFAULT_MAX_IDX_BYTES = 4 * 2**30


def max_idx_bytes() -> int:
    """Largest idx payload read, in bytes: ``IMSIM_MAX_IDX_BYTES`` or 4 GiB."""
    raw = os.environ.get("IMSIM_MAX_IDX_BYTES", "")
    try:
        return int(raw) if raw.strip() else DEFAULT_MAX_IDX_BYTES
    except ValueError:
        raise ValueError(f"IMSIM_MAX_IDX_BYTES must be an integer, got {raw!r}") from None


def _declared_bytes(head: bytes) -> int:
    """The most bytes the header ``head`` can declare (images, labels or 2-byte latents);
    just the header when its magic is none of those (the parsers then say so)."""
    if len(head) < 8:
        return len(head)
    magic, n = struct.unpack(">2i", head[:8])
    if magic == LABELS_MAGIC:
        return 8 + max(n, 0)
    known = (IMAGES_MAGIC, LATENT_MAGIC, LATENT_MAGIC_IDX16, *LEGACY_LATENT_MAGICS)
    if len(head) < 16 or magic not in known:
        return len(head)
    n, rows, cols = struct.unpack(">3i", head[4:16])
    return 16 + 2 * max(n, 0) * max(rows, 0) * max(cols, 0)


def _read_raw(path) -> bytes:
    """File contents, gunzipped when the file starts with the gzip magic, read with a bound.

    The header is read (and decompressed) first; then at most twice the size it
    declares (plus 1 KiB) is read, so a small ``.gz`` that expands to gigabytes, a
    header that declares more than :func:`max_idx_bytes`, or ``/dev/zero`` given as
    a file never fill memory.
    """
    p = check_file(path, "idx file")
    mode = os.stat(p).st_mode
    if not stat.S_ISREG(mode):
        raise DataFormatError(f"{p}: not a regular file")
    with open(p, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if gzipped else raw
        try:
            head = stream.read(16)
            declared = _declared_bytes(head)
            cap = max_idx_bytes()
            if declared > cap:
                raise DataFormatError(
                    f"{p}: header declares {declared:,} bytes, more than the {cap:,}-byte limit "
                    f"(raise it with IMSIM_MAX_IDX_BYTES if the file is real)")
            if declared <= len(head):  # no header this module knows: the parsers say why
                return head
            bound = 2 * declared + 1024
            rest = stream.read(bound - len(head) + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataFormatError(f"{p}: corrupt gzip data ({exc})") from None
    data = head + rest
    if len(data) > bound:
        raise DataFormatError(f"{p}: holds far more data than its header declares "
                              f"({declared - len(head):,} bytes after the header); "
                              f"the header is wrong or the file is not an idx file")
    return data


def _header(data: bytes, n_ints: int, path, expected_magic: int | None = None) -> tuple[int, ...]:
    if len(data) == 0:
        raise DataFormatError(f"{path}: file is empty, expected an idx header")
    if expected_magic is not None and len(data) >= 4:
        # a wrong magic is the more useful message, even for a file shorter than our header
        magic = struct.unpack(">i", data[:4])[0]
        if magic != expected_magic:
            hint = {LABELS_MAGIC: " (this is a labels file)",
                    IMAGES_MAGIC: " (this is an images file)"}.get(magic, "")
            raise _magic_error(path, magic, f"{expected_magic}{hint}")
    if len(data) < 4 * n_ints:
        raise DataFormatError(
            f"{path}: file has {len(data)} bytes, shorter than the {4 * n_ints}-byte idx header"
        )
    return struct.unpack(f">{n_ints}i", data[: 4 * n_ints])


def _check_payload(path, payload: int, expected: int, declared: str) -> None:
    if payload < expected:
        raise DataFormatError(
            f"{path}: truncated: header declares {declared} = {expected} bytes of data, "
            f"file holds {payload}"
        )
    if payload > expected:
        raise DataFormatError(
            f"{path}: padded: header declares {declared} = {expected} bytes of data, "
            f"file holds {payload} ({payload - expected} extra)"
        )


def _magic_error(path, magic: int, expected: str) -> DataFormatError:
    return DataFormatError(f"{path}: wrong magic number {magic}, expected {expected}")


def read_images(path) -> np.ndarray:
    """Read an idx images file.

    Returns
    -------
    ndarray of shape (N, H, W), dtype uint8
    """
    return _parse_images(_read_raw(path), path)


def _parse_images(data: bytes, path) -> np.ndarray:
    magic, n, rows, cols = _header(data, 4, path, expected_magic=IMAGES_MAGIC)
    if n < 0 or rows <= 0 or cols <= 0:
        raise DataFormatError(f"{path}: invalid header sizes count={n} rows={rows} columns={cols}")
    payload = len(data) - 16
    if rows == 1 and payload == 2 * n * cols and n > 0:
        raise DataFormatError(
            f"{path}: this is a 2-byte latent file ({n} x {cols}), not an images file"
        )
    _check_payload(path, payload, n * rows * cols, f"{n} x {rows} x {cols}")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, cols)


def read_labels(path) -> np.ndarray:
    """Read an idx labels file.

    Returns
    -------
    ndarray of shape (N,), dtype int64
    """
    return _parse_labels(_read_raw(path), path)


def _parse_labels(data: bytes, path) -> np.ndarray:
    magic, n = _header(data, 2, path, expected_magic=LABELS_MAGIC)
    if n < 0:
        raise DataFormatError(f"{path}: invalid label count {n}")
    _check_payload(path, len(data) - 8, n, f"{n} labels")
    return np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64)


def read_idx(path) -> tuple[str, np.ndarray]:
    """Read any idx file this project knows and say which kind it is.

    Returns
    -------
    kind : {"images", "labels", "latent"}
    data : ndarray (as :func:`read_images`, :func:`read_labels` or
        :func:`imsim.formats.latent.read_latent`)
    """
    from ..formats.latent import parse_latent

    data = _read_raw(path)
    magic = _header(data, 1, path)[0]
    if magic == LABELS_MAGIC:
        return "labels", _parse_labels(data, path)
    if magic == IMAGES_MAGIC and len(data) >= 16:
        n, rows, cols = struct.unpack(">3i", data[4:16])
        if not (rows == 1 and len(data) - 16 == 2 * n * cols and n > 0):
            return "images", _parse_images(data, path)
    if magic in LATENT_MAGICS:
        return "latent", parse_latent(data, path)
    raise _magic_error(path, magic, f"{IMAGES_MAGIC} (images), {LABELS_MAGIC} (labels) "
                       f"or {LATENT_MAGIC} (latent)")


def _write(path, header: bytes, payload: bytes) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".gz":
            with gzip.open(tmp, "wb", compresslevel=6) as f:
                f.write(header)
                f.write(payload)
        else:
            with open(tmp, "wb") as f:
                f.write(header)
                f.write(payload)
    return path


def write_images(path, images) -> Path:
    """Write uint8 images of shape (N, H, W) as an idx file (gzip'd if ``path`` ends in .gz)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8, got {images.dtype}")
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W), got {images.shape}")
    n, h, w = images.shape
    header = struct.pack(">4i", IMAGES_MAGIC, n, h, w)
    return _write(path, header, np.ascontiguousarray(images).tobytes())


def write_labels(path, labels) -> Path:
    """Write integer labels 0..255 of shape (N,) as an idx file."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must have shape (N,), got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError("labels must be in 0..255 for the idx format")
    header = struct.pack(">2i", LABELS_MAGIC, labels.shape[0])
    return _write(path, header, labels.astype(np.uint8).tobytes())


# The container as the other idx format of this project (the 2-byte latent files of
# imsim.formats.latent) uses it: read (gunzipped, size-checked) bytes, parse a header,
# check a payload size, name a wrong magic, write atomically.
read_raw, read_header, check_payload, magic_error, write_idx = (
    _read_raw, _header, _check_payload, _magic_error, _write)


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
