"""A hostile photo folder: every kind of entry a careless user or an attacker can leave.

``make_hostile_folder(root)`` fills ``root`` and returns a :class:`Hostile` that says
what each entry is and which reason imsim must give when it skips it. The pixel
limit is small (``MAX_PIXELS``; set ``IMSIM_MAX_IMAGE_PIXELS`` to it, as the
``hostile_env`` fixture does) so the "bombs" cost a few MB, not GBs, while they sit
at 0.9x and 1.5x the limit exactly as real ones sit at Pillow's.

Used by the index, query and web tests (fixtures ``hostile_folder`` and
``hostile_env`` in tests/conftest.py).
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

MAX_PIXELS = 250_000  # the pixel cap the tests run under (0.9x: 474x474, 1.5x: 612x612)

ESCAPE_NAME = "\x1b]0;pwned\x07\x1b[31mred.png"
HTML_NAME = '<img src=x onerror="alert(1)">.png'
NON_UTF8_NAME = b"caf\xe9.jpg"


@dataclass
class Hostile:
    """What :func:`make_hostile_folder` made.

    Attributes
    ----------
    root : Path
    good : list of str
        Relative paths (str) of the readable images, which must be indexed.
    skipped : dict of str to str
        Displayed relative path -> a substring of the reason imsim must give.
    paths : dict of str to Path
        Each hostile entry by a short key ("fifo", "zero", "bomb_15", ...).
    """

    root: Path
    good: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def bomb_png(side: int) -> bytes:
    """A gray ``side`` x ``side`` PNG of one colour: tiny on disk, ``side**2`` pixels decoded."""
    buf = io.BytesIO()
    Image.new("L", (side, side), 200).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def make_hostile_folder(root: Path, *, n_good: int = 8, seed: int = 0) -> Hostile:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h = Hostile(root=root)

    def good(rel: str, data: bytes) -> Path:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        h.good.append(rel)
        return p

    for i in range(n_good):
        base = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((8, 8, 1))).astype(np.uint8)
        good(f"ok/{i}.png", _png(base))
    h.paths["html"] = good(HTML_NAME, _png(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)))
    h.paths["escape"] = good(ESCAPE_NAME, _png(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)))
    h.paths["backslash"] = good("back\\slash\nnewline.png", _png(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)))
    side_09, side_15 = int((0.9 * MAX_PIXELS) ** 0.5), int((1.5 * MAX_PIXELS) ** 0.5) + 1
    h.paths["bomb_09"] = good("bomb_0.9x.png", bomb_png(side_09))

    def bad(key: str, rel: str, reason: str) -> Path:
        h.skipped[rel] = reason
        h.paths[key] = root / rel
        return root / rel

    bad("bomb_15", "bomb_1.5x.png", "the limit is").write_bytes(bomb_png(side_15))
    os.mkfifo(bad("fifo", "fifo.jpg", "not a regular file (a FIFO)"))
    os.symlink("/dev/zero", bad("zero", "zero.jpg", "not a regular file (a character device)"))
    os.symlink("loop.jpg", bad("loop", "loop.jpg", "symbolic link loop"))
    os.symlink(".", bad("loopdir", "loopdir", "symbolic link to a folder"))
    os.symlink("nowhere.jpg", bad("dangling", "dangling.jpg", "broken symbolic link"))
    full = _png(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    bad("truncated_png", "truncated.png", "image file is truncated").write_bytes(full[: len(full) // 2])
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    bad("truncated_jpg", "truncated.jpg", "image file is truncated").write_bytes(buf.getvalue()[:300])
    bad("garbage", "garbage.jpg", "not an image file").write_bytes(b"GIF89a not really")
    bad("svg", "drawing.svg", "not a supported image type (.svg)").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"/>')
    bad("dir_jpg", "folder.jpg/inside.txt", "not a supported image type (.txt)")
    (root / "folder.jpg").mkdir()
    (root / "folder.jpg" / "inside.txt").write_text("a folder named like a photo")
    # a file name that is not UTF-8: the bytes API writes it, imsim shows it escaped
    name = os.path.join(os.fsencode(root), NON_UTF8_NAME)
    with open(name, "wb") as f:
        f.write(_png(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)))
    h.skipped["caf\\xe9.jpg"] = "not valid UTF-8"
    h.paths["non_utf8"] = Path(os.fsdecode(name))
    return h
