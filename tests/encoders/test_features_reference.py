"""The ``features`` encoder's vectors, written for speed, against the plain NumPy version
they replaced (kept here): bit-identical on colour and gray images of several sizes, on
flat and saturated ones, with and without the grid of orientation cells."""
from __future__ import annotations

import numpy as np
import pytest

from imsim.encoders.handcrafted import _EPS, _hellinger, _hist, pool, unit
from imsim.encoders.handcrafted import feature_vectors


def _cells(mag, theta, grid, bins=8):
    n, h, w = mag.shape
    cell = (np.arange(h) * grid // h)[:, None] * grid + (np.arange(w) * grid // w)[None, :]
    b = np.clip((theta * (bins / np.pi)).astype(np.int64), 0, bins - 1)
    idx = cell[None] * bins + b + (np.arange(n) * (grid * grid * bins))[:, None, None]
    return np.bincount(idx.ravel(), weights=mag.ravel(), minlength=n * grid * grid * bins).reshape(n, -1)


def reference(pixels: np.ndarray, grid: int = 4) -> np.ndarray:
    """feature_vectors as it was written first (one NumPy expression a block)."""
    x = np.asarray(pixels, dtype=np.float32) / 255.0
    x = x[..., None] if x.ndim == 3 else x
    n, h, w, c = x.shape
    lum = x.mean(axis=3)
    mu = lum.mean(axis=(1, 2), keepdims=True)
    sd = lum.std(axis=(1, 2), keepdims=True) + 0.02
    xn = (x - mu[..., None]) / sd[..., None]
    blocks = []
    t = pool(xn, 8)
    flipped = t[:, :, ::-1]
    blocks.append((unit(((t + flipped) / 2).reshape(n, -1)), 1.0))
    blocks.append((unit(np.abs(t - flipped).reshape(n, -1) / 2), 0.5))
    if c == 3:
        s = x.sum(axis=3) + _EPS
        r, g = (x[..., 0] / s).reshape(n, -1), (x[..., 1] / s).reshape(n, -1)
        bright = (s.reshape(n, -1) > 0.06)
        rg = (np.clip(r * 8, 0, 7).astype(np.int64) * 8 + np.clip(g * 8, 0, 7).astype(np.int64))
        blocks.append((_hellinger(_hist(rg.astype(np.float32), 64, 0, 64, bright.astype(np.float32))), 1.0))
    blocks.append((_hellinger(_hist(((lum - mu) / sd).reshape(n, -1), 16, -2.5, 2.5)), 0.5))
    ln = (lum - mu) / sd
    gy, gx = np.gradient(ln, axis=(1, 2))
    mag = np.hypot(gx, gy)
    theta = np.mod(np.arctan2(gy, gx), np.pi)
    folded = np.minimum(theta, np.pi - theta)
    for band in np.array_split(np.arange(h), 3):
        blocks.append((_hellinger(_hist(folded[:, band].reshape(n, -1), 6, 0, np.pi / 2 + 1e-6,
                                        mag[:, band].reshape(n, -1))), 0.5))
    edges = pool(mag[..., None], 8)[..., 0]
    blocks.append((unit(((edges + edges[:, :, ::-1]) / 2).reshape(n, -1)), 0.5))
    if grid:
        blocks.append((_hellinger(_cells(mag, theta, grid)), 1.0))
    return np.concatenate([b * wgt for b, wgt in blocks], axis=1).astype(np.float32)


def _photos(rng, n, h, w, c):
    """Smooth colour fields with edges and noise (photo-like), uint8."""
    low = rng.integers(0, 256, (n, 4, 4, c)).astype(np.float32)
    yy, xx = np.linspace(0, 3, h)[:, None], np.linspace(0, 3, w)[None, :]
    i0, j0 = yy.astype(int).clip(0, 2), xx.astype(int).clip(0, 2)
    fy, fx = (yy - i0)[..., None], (xx - j0)[..., None]
    px = (low[:, i0, j0] * (1 - fy) * (1 - fx) + low[:, i0 + 1, j0] * fy * (1 - fx)
          + low[:, i0, j0 + 1] * (1 - fy) * fx + low[:, i0 + 1, j0 + 1] * fy * fx)
    px[:, h // 3: h // 2, w // 4: w // 2] = rng.integers(0, 256, c)
    px += rng.normal(0, 6, px.shape)
    out = np.clip(px, 0, 255).astype(np.uint8)
    return out[..., 0] if c == 1 else out


@pytest.mark.parametrize("shape", [(40, 64, 64, 3), (30, 64, 64, 1), (12, 37, 41, 3), (20, 28, 28, 1)])
@pytest.mark.parametrize("grid", [4, 0])
def test_the_vectors_are_those_of_the_plain_version(shape, grid):
    pixels = _photos(np.random.default_rng(sum(shape)), *shape)
    got, want = feature_vectors(pixels, grid), reference(pixels, grid)
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got, want)


@pytest.mark.parametrize("value", [0, 3, 255])
def test_flat_dark_and_saturated_images_too(value):
    pixels = np.full((6, 16, 16, 3), value, dtype=np.uint8)
    pixels[3:, :8] = 255 - value  # half of them two-toned
    assert np.array_equal(feature_vectors(pixels), reference(pixels))
    noise = (np.random.default_rng(value).random((8, 32, 32, 3)) < 0.5).astype(np.uint8) * 255
    assert np.array_equal(feature_vectors(noise), reference(noise))
