"""Tasks that carry paths and row ranges: a worker reads its own block of an idx file.

A :class:`Block` names rows ``[lo, hi)`` of an idx images file (gzip'd or not) and is
small to send; only the worker that runs the task reads those rows (a seek in a
plain file; a gzip'd file is decompressed up to ``hi``). Data already in memory
travels as the rows themselves, so every job takes either kind of source.
"""
from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validation import DataFormatError, check_file
from ..datasets.idx import IMAGES_MAGIC

__all__ = ["Block", "image_shape", "read_rows", "row_ranges", "split"]


def _open(path: Path):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def image_shape(path) -> tuple[int, int, int]:
    """``(n, rows, columns)`` from the header of an idx images file (reads 16 bytes)."""
    path = check_file(path, "idx file")
    try:
        with _open(path) as f:
            head = f.read(16)
    except (OSError, EOFError) as exc:
        raise DataFormatError(f"{path}: corrupt gzip data ({exc})") from None
    magic = struct.unpack(">i", head[:4])[0] if len(head) >= 4 else None
    if magic is not None and magic != IMAGES_MAGIC:
        raise DataFormatError(f"{path}: wrong magic number {magic}, expected {IMAGES_MAGIC} (images)")
    if len(head) < 16:
        raise DataFormatError(f"{path}: file has {len(head)} bytes, shorter than the 16-byte idx header")
    _, n, rows, cols = struct.unpack(">4i", head)
    if n < 0 or rows <= 0 or cols <= 0:
        raise DataFormatError(f"{path}: invalid header sizes count={n} rows={rows} columns={cols}")
    return n, rows, cols


def read_rows(path, lo: int, hi: int) -> np.ndarray:
    """Images ``lo..hi-1`` of an idx images file, uint8 of shape (hi - lo, rows, columns)."""
    path = Path(path)
    n, rows, cols = image_shape(path)
    if not 0 <= lo <= hi <= n:
        raise ValueError(f"rows {lo}..{hi} outside the {n} images of {path}")
    size = rows * cols
    with _open(path) as f:
        f.seek(16 + lo * size)
        data = f.read((hi - lo) * size)
    if len(data) < (hi - lo) * size:
        raise DataFormatError(f"{path}: truncated: header declares {n} images, the data "
                              f"ends before image {lo + len(data) // size}")
    return np.frombuffer(data, dtype=np.uint8).reshape(hi - lo, rows, cols)


def row_ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous ranges covering ``range(n)``, sizes differing by at most one."""
    parts = max(1, min(parts, n))
    bounds = np.linspace(0, n, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


@dataclass(frozen=True)
class Block:
    """Rows ``[lo, hi)`` of a source: an idx file (``path``) or the rows themselves."""

    lo: int
    hi: int
    path: str | None = None
    rows: np.ndarray | None = None

    def load(self) -> np.ndarray:
        """The rows, as stored (uint8 images (m, H, W) from a file)."""
        return read_rows(self.path, self.lo, self.hi) if self.rows is None else self.rows


def split(source, parts: int) -> tuple[list[Block], int]:
    """Blocks of ``source`` (a path to an idx images file, or an array) and its row count."""
    if isinstance(source, (str, Path)):
        n = image_shape(source)[0]
        return [Block(lo, hi, path=str(source)) for lo, hi in row_ranges(n, parts)], n
    source = np.asarray(source)
    return [Block(lo, hi, rows=source[lo:hi]) for lo, hi in row_ranges(len(source), parts)], len(source)
