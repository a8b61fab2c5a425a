"""Hostile images for the web tests, built in memory (no fixture files)."""
from __future__ import annotations

import struct
import zlib

_BANDS = {0: 1, 2: 3, 6: 4}  # PNG colour types: gray, RGB, RGBA


def bomb_png(width: int, height: int, color_type: int = 6) -> bytes:
    """A valid PNG of ``width`` x ``height`` blank pixels: a few hundred KB that decode to
    ``width * height * 4`` bytes (RGBA by default)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + width * _BANDS[color_type])
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
