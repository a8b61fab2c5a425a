"""The idx container of MNIST and of the project's 2-byte latent files, gzip'd or not.

Every header integer is big-endian 32-bit: a magic, a count, then the sizes. The
readers here read the bytes (gunzipped, never more than the header can declare),
parse a header, check a payload size and name a wrong magic; :func:`write_idx`
writes atomically. What the payload means is :mod:`imsim.datasets.idx`'s (images,
labels) and :mod:`imsim.formats.latent`'s (latents), which both build on this module.
"""
from __future__ import annotations

import gzip
import os
import stat
import struct
import zlib
from pathlib import Path

from ._io import atomic_path
from ._validation import DataFormatError, check_file, env_int

__all__ = ["IMAGES_MAGIC", "LABELS_MAGIC", "LATENT_MAGIC", "LATENT_MAGIC_IDX16", "LEGACY_LATENT_MAGICS",
           "LATENT_MAGICS", "DEFAULT_MAX_IDX_BYTES", "max_idx_bytes", "read_raw", "read_header",
           "check_payload", "magic_error", "write_idx"]

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
LATENT_MAGIC = 2051
LATENT_MAGIC_IDX16 = 0x0B03  # idx type code 0x0B (16-bit), 3 dimensions
LEGACY_LATENT_MAGICS = (1, 69, 999)
# the container knows every magic it reads; the latent format itself is
# imsim.formats.latent's (values 0..25500, scale)
LATENT_MAGICS = (LATENT_MAGIC, LATENT_MAGIC_IDX16, *LEGACY_LATENT_MAGICS)

DEFAULT_MAX_IDX_BYTES = 4 * 2**30


def max_idx_bytes() -> int:
    """Largest idx payload read, in bytes: ``IMSIM_MAX_IDX_BYTES`` or 4 GiB."""
    return env_int("IMSIM_MAX_IDX_BYTES", DEFAULT_MAX_IDX_BYTES)


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


def read_raw(path) -> bytes:
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


def read_header(data: bytes, n_ints: int, path, expected_magic: int | None = None) -> tuple[int, ...]:
    if len(data) == 0:
        raise DataFormatError(f"{path}: file is empty, expected an idx header")
    if expected_magic is not None and len(data) >= 4:
        # a wrong magic is the more useful message, even for a file shorter than our header
        magic = struct.unpack(">i", data[:4])[0]
        if magic != expected_magic:
            hint = {LABELS_MAGIC: " (this is a labels file)",
                    IMAGES_MAGIC: " (this is an images file)"}.get(magic, "")
            raise magic_error(path, magic, f"{expected_magic}{hint}")
    if len(data) < 4 * n_ints:
        raise DataFormatError(
            f"{path}: file has {len(data)} bytes, shorter than the {4 * n_ints}-byte idx header"
        )
    return struct.unpack(f">{n_ints}i", data[: 4 * n_ints])


def check_payload(path, payload: int, expected: int, declared: str) -> None:
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


def magic_error(path, magic: int, expected: str) -> DataFormatError:
    return DataFormatError(f"{path}: wrong magic number {magic}, expected {expected}")


def write_idx(path, header: bytes, payload: bytes) -> Path:
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
