"""Generated test data, made on the fly (no fixture files), shared by the test modules.

* **images**: :func:`spot_images` (one Gaussian spot each, idx-ready uint8) and
  :func:`gaussian_clusters` (points around random centres, with their labels);
* **photo folders**: :func:`blocky_photos` (16 x 16 PNGs of 4 x 4 random blocks) and
  :func:`smooth_photos` (40 x 30 PNGs, 4 x 4 random pixels upscaled bicubically);
* **versions of pictures**: :func:`scene` (a textured picture with corners, as local
  features need) and :func:`version` (the edits a photo folder holds: crop, resize,
  exposure, JPEG, flip, rotation);
* **hostile files**: :func:`bomb_png` (a tiny PNG that decodes to many pixels) and
  :func:`make_hostile_folder`, every kind of entry a careless user or an attacker can
  leave in a photo folder, with the reason imsim must give when it skips it. Its pixel
  limit is small (``MAX_PIXELS``; set ``IMSIM_MAX_IMAGE_PIXELS`` to it, as the
  ``hostile_env`` fixture does) so the "bombs" cost a few MB, not GBs, while they sit
  at 0.9x and 1.5x the limit exactly as real ones sit at Pillow's (fixtures
  ``hostile_folder`` and ``hostile_env`` in tests/conftest.py).
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


# ------------------------------------------------------------------ images

def spot_images(n: int, seed: int, size: int = 8) -> np.ndarray:
    """``n`` uint8 images of shape (size, size), each one Gaussian spot (variance 2 px^2)
    at a random centre 1 px or more from the border."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    c = rng.uniform(1, size - 1, (n, 2, 1, 1))
    return (255 * np.exp(-((yy - c[:, 0]) ** 2 + (xx - c[:, 1]) ** 2) / 4)).astype(np.uint8)


def gaussian_clusters(rng, n_per: int = 40, k: int = 4, d: int = 6, spread: float = 3.0,
                      sep: float = 40.0, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """``k`` clusters of ``n_per`` points in ``d`` dimensions: centres uniform in
    [0, sep * k)^d, points normal around them with ``spread`` (rounded and clipped to
    0..255 for uint8). Returns X of shape (k * n_per, d) and its labels (k * n_per,)."""
    centres = rng.uniform(0, sep * k, size=(k, d))
    X = np.concatenate([c + rng.normal(scale=spread, size=(n_per, d)) for c in centres])
    y = np.repeat(np.arange(k), n_per)
    if dtype == np.uint8:
        X = np.clip(np.rint(X), 0, 255)
    return X.astype(dtype), y


# ------------------------------------------------------------------ photo folders

def blocky_photos(root: Path, n: int = 10, seed: int = 0, name: str = "p{seed}_{i}.png") -> Path:
    """``n`` 16 x 16 RGB PNGs of 4 x 4 random colour blocks in ``root`` (created), named
    ``name.format(seed=seed, i=i)``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        base = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((4, 4, 1))).astype(np.uint8)
        Image.fromarray(base).save(root / name.format(seed=seed, i=i))
    return root


def smooth_photos(root: Path, n: int = 4, seed: int = 0, name: str = "p{i:02d}.png") -> Path:
    """``n`` 40 x 30 RGB PNGs, each 4 x 4 random pixels upscaled bicubically, in
    ``root`` (created), named ``name.format(i=i)``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for i in range(n):
        low = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
        Image.fromarray(low).resize((40, 30), Image.Resampling.BICUBIC).save(root / name.format(i=i))
    return root


# ------------------------------------------------------------------ versions of pictures

def scene(seed: int, width: int = 320, height: int = 240) -> Image.Image:
    """A picture with texture and corners: a smooth colour background under random
    rectangles, ellipses and lines, made from ``seed`` (channels below 200, so a light
    version is not mostly burnt)."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    low = rng.integers(20, 200, (3, 4, 3)).astype(np.uint8)  # room to brighten unclipped
    img = Image.fromarray(low).resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        x1, y1 = x0 + rng.integers(8, width // 3), y0 + rng.integers(8, height // 3)
        colour = tuple(int(c) for c in rng.integers(0, 200, 3))
        kind = rng.integers(3)
        if kind == 0:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        elif kind == 1:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(2, 6)))
    return img


VERSIONS = ("crop", "resize", "dark", "light", "jpeg", "flip", "rotate")


def version(img: Image.Image, kind: str) -> Image.Image:
    """``img`` edited as a person's photo folder edits pictures (one of :data:`VERSIONS`)."""
    from PIL import ImageEnhance

    w, h = img.size
    if kind == "crop":  # 60 % of the width, the full height: another aspect ratio
        return img.crop((w // 5, 0, w // 5 + 3 * w // 5, h))
    if kind == "resize":
        return img.resize((w * 2 // 5, h * 2 // 5), Image.Resampling.BILINEAR)
    if kind == "dark":
        return ImageEnhance.Brightness(img).enhance(0.4)
    if kind == "light":
        return ImageEnhance.Brightness(img).enhance(1.3)
    if kind == "jpeg":
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=30)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    if kind == "flip":
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if kind == "rotate":
        return img.rotate(5, resample=Image.Resampling.BICUBIC).crop((16, 12, w - 16, h - 12))
    raise ValueError(kind)


# ------------------------------------------------------------------ hostile files

_BANDS = {0: 1, 2: 3, 6: 4}  # PNG colour types: gray, RGB, RGBA


def bomb_png(width: int, height: int | None = None, *, color_type: int = 0, value: int = 200) -> bytes:
    """A valid PNG of ``width`` x ``height`` (square by default) pixels all ``value``: a few
    hundred KB at most that decode to ``width * height`` pixels of 1 (gray), 3 (RGB,
    ``color_type=2``) or 4 (RGBA, ``color_type=6``) bytes. Written byte by byte, so a
    12 MP bomb takes milliseconds and no raster is ever held."""
    height = width if height is None else height

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes([value]) * (width * _BANDS[color_type])  # filter 0, then the pixels
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


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
