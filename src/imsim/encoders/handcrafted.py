"""Encoders with no training: the ``thumbnail`` floor and the robust ``features``.

Both take the collection's uint8 pixels (N, H, W, C) and return L2-normalised
float32 vectors, so distances mean the same on every folder (l2 in [0, 2]) and the
duplicate threshold calibrated by ``benchmarks/photos.py`` carries over.

* ``thumbnail``: the image shrunk to 16 x 16 (area average), its mean removed and
  its norm set to 1; optionally PCA-whitened (fitted on the folder). It is the floor
  every other encoder is measured against.
* ``features``: what survives the edits a photo folder holds (other crops and
  aspect ratios, resizing, exposure, flips, JPEG, small rotations): a flip-symmetric
  8 x 8 thumbnail of exposure-normalised pixels, a chromaticity histogram (exposure
  does not move it), a luminance histogram after normalisation, flip-folded
  gradient-orientation histograms in three horizontal bands and unfolded ones on a
  4 x 4 grid of cells (what tells digits and drawings apart); each block
  Hellinger/L2-normalised, then PCA-whitened on the folder.
"""
from __future__ import annotations

import zlib

import numpy as np

_EPS = 1e-6


def pool(x: np.ndarray, out: int) -> np.ndarray:
    """Area-average float (N, H, W, C) down to (N, out, out, C) (any H, W >= out)."""
    n, h, w, c = x.shape
    rows = np.linspace(0, h, out + 1).astype(int)[:-1]
    cols = np.linspace(0, w, out + 1).astype(int)[:-1]
    s = np.add.reduceat(np.add.reduceat(x, rows, axis=1), cols, axis=2)
    counts = np.diff(np.append(rows, h))[:, None] * np.diff(np.append(cols, w))[None, :]
    return s / counts[None, :, :, None]


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), float32."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), _EPS)


def _as_float(pixels: np.ndarray) -> np.ndarray:
    x = np.array(pixels, dtype=np.float32)  # a copy, divided in place
    x /= 255.0
    return x[..., None] if x.ndim == 3 else x


def thumbnail_vectors(pixels: np.ndarray, side: int = 16) -> np.ndarray:
    """(N, side*side*C) float32: the shrunk image minus its mean, unit norm."""
    t = pool(_as_float(pixels), side).reshape(len(pixels), -1)
    return unit(t - t.mean(axis=1, keepdims=True))


def _hist(values: np.ndarray, bins: int, lo: float, hi: float, weights=None) -> np.ndarray:
    """Per-row histograms (N, bins) of values (N, M) on [lo, hi] (clipped)."""
    n = len(values)
    idx = np.clip(((values - lo) / (hi - lo) * bins).astype(np.int64), 0, bins - 1)
    idx += np.arange(n)[:, None] * bins
    w = None if weights is None else weights.ravel()
    return np.bincount(idx.ravel(), weights=w, minlength=n * bins).reshape(n, bins)


def _hellinger(h: np.ndarray) -> np.ndarray:
    return unit(np.sqrt(h / np.maximum(h.sum(axis=1, keepdims=True), _EPS)))


def cell_orientations(mag: np.ndarray, theta: np.ndarray, grid: int, bins: int = 8) -> np.ndarray:
    """(N, grid*grid*bins) gradient-orientation histograms of a grid of cells (HOG's cells).

    ``mag`` and ``theta`` (N, H, W): gradient magnitude and orientation in [0, pi).
    """
    n, h, w = mag.shape
    cell = (np.arange(h) * grid // h)[:, None] * grid + (np.arange(w) * grid // w)[None, :]
    idx = (theta * (bins / np.pi)).astype(np.int32)
    np.clip(idx, 0, bins - 1, out=idx)
    idx += (cell * bins).astype(np.int32)[None]
    idx += (np.arange(n, dtype=np.int32) * (grid * grid * bins))[:, None, None]
    return np.bincount(idx.ravel(), weights=mag.ravel(),
                       minlength=n * grid * grid * bins).reshape(n, -1)


def feature_vectors(pixels: np.ndarray, grid: int = 4) -> np.ndarray:
    """(N, D) float32 hand-crafted features robust to crops, exposure, flips and JPEG.

    ``grid``: the side of the grid of cells of the (unfolded) orientation histograms
    (0: none, as encoders saved before they were added).

    Written for speed with the same float32 operations in the same order as the plain
    NumPy version (tests/encoders/test_features_reference.py keeps it and checks the
    vectors are bit-identical): the channel sums as two adds instead of a reduction over
    the length-3 axis (a slow inner loop), each histogram's bin index computed once for the
    whole chunk (the three bands in one ``bincount``), fewer full-size temporaries.
    """
    x = _as_float(pixels)
    n, h, w, c = x.shape
    if c == 3:
        total = x[..., 0] + x[..., 1]
        total += x[..., 2]  # x.sum(axis=3), the same additions in the same order
        lum = total / 3
    else:
        total, lum = None, x[..., 0]
    mu = lum.mean(axis=(1, 2), keepdims=True)
    sd = lum.std(axis=(1, 2), keepdims=True) + 0.02
    xn = x - mu[..., None]
    xn /= sd[..., None]
    blocks = []
    # flip-symmetric thumbnail: the mirror-even part and the size of the mirror-odd part
    t = pool(xn, 8)
    del xn
    flipped = t[:, :, ::-1]
    blocks.append((unit(((t + flipped) / 2).reshape(n, -1)), 1.0))
    blocks.append((unit(np.abs(t - flipped).reshape(n, -1) / 2), 0.5))
    if c == 3:
        s = total
        s += _EPS
        dark = s <= 0.06  # chromaticity of near-black pixels is noise: not counted
        idx = _chroma_bin(x[..., 0], s) * 8
        idx += _chroma_bin(x[..., 1], s)
        idx += (np.arange(n, dtype=np.int32) * 64)[:, None, None]
        idx[dark] = n * 64  # one more bin, dropped
        counts = np.bincount(idx.ravel(), minlength=n * 64 + 1)[:n * 64]
        blocks.append((_hellinger(counts.reshape(n, 64)), 1.0))
    ln = lum - mu
    ln /= sd
    blocks.append((_hellinger(_hist(ln.reshape(n, -1), 16, -2.5, 2.5)), 0.5))
    # gradient orientation folded under the mirror (theta ~ pi - theta), in 3 bands
    gy, gx = np.gradient(ln, axis=(1, 2))
    mag = np.hypot(gx, gy)
    theta = np.mod(np.arctan2(gy, gx), np.pi)
    folded = np.minimum(theta, np.pi - theta)  # 0 .. pi/2
    band_of_row = np.empty(h, dtype=np.int64)
    for b, rows in enumerate(np.array_split(np.arange(h), 3)):
        band_of_row[rows] = b
    bins = np.clip((folded / (np.pi / 2 + 1e-6) * 6).astype(np.int64), 0, 5)
    bins += (band_of_row * 6)[None, :, None] + (np.arange(n) * 18)[:, None, None]
    per_band = np.bincount(bins.ravel(), weights=mag.ravel(), minlength=n * 18).reshape(n, 3, 6)
    for b in range(3):
        blocks.append((_hellinger(per_band[:, b]), 0.5))
    edges = pool(mag[..., None], 8)[..., 0]
    blocks.append((unit(((edges + edges[:, :, ::-1]) / 2).reshape(n, -1)), 0.5))
    if grid:
        # where each orientation lies, not folded: what tells digits and drawings apart
        # (MNIST label precision@10 0.824 -> 0.905); the blocks above still find a flip
        blocks.append((_hellinger(cell_orientations(mag, theta, grid)), 1.0))
    return np.concatenate([b * wgt for b, wgt in blocks], axis=1).astype(np.float32)


def _chroma_bin(channel: np.ndarray, total: np.ndarray) -> np.ndarray:
    """int32 bin 0..7 of a channel's share of the pixel's sum (its chromaticity)."""
    share = channel / total
    share *= 8
    np.clip(share, 0, 7, out=share)
    return share.astype(np.int32)


class PCAWhitening:
    """PCA to ``dim`` components with whitening, fitted on a folder (numpy only).

    Components with almost no variance are dropped so whitening never divides by ~0.
    """

    def __init__(self, dim: int, power: float = 0.5):
        self.dim, self.power = int(dim), float(power)
        self.mean_ = self.components_ = self.scale_ = None

    def fit(self, x: np.ndarray) -> "PCAWhitening":
        from threadpoolctl import threadpool_limits

        x = np.asarray(x)
        step = 4096  # rows a block: float64 copies of blocks only (100,000 x 674 would be 540 MB)
        self.mean_ = sum(x[i:i + step].sum(axis=0, dtype=np.float64)
                         for i in range(0, len(x), step)) / max(len(x), 1)
        # one BLAS thread: OpenBLAS's threads spin while they wait, and on a shared
        # 2-core machine the SVD of 2,000 x 674 features took 23 s with them, 0.5 s without
        with threadpool_limits(1, user_api="blas"):
            if len(x) > x.shape[1]:
                # more images than features: the covariance's eigenvectors (the same
                # components as the SVD's, up to sign; 0.11 s instead of 0.5 s for 2,000),
                # summed over blocks of rows
                cov = np.zeros((x.shape[1], x.shape[1]))
                for i in range(0, len(x), step):
                    xc = np.asarray(x[i:i + step], dtype=np.float64) - self.mean_
                    cov += xc.T @ xc
                var, v = np.linalg.eigh(cov)
                var, vt = np.maximum(var[::-1], 0.0), v[:, ::-1].T
            else:
                _, s, vt = np.linalg.svd(np.asarray(x, dtype=np.float64) - self.mean_,
                                         full_matrices=False)
                var = s ** 2
        var = var / max(len(x) - 1, 1)
        keep = min(self.dim, int(np.sum(var > var[0] * 1e-6)) if len(var) else 0)
        keep = max(keep, 1)
        self.components_ = vt[:keep].astype(np.float32)
        self.scale_ = (1.0 / np.maximum(var[:keep], 1e-12) ** (self.power / 2)).astype(np.float32)
        self.mean_ = self.mean_.astype(np.float32)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float32) - self.mean_) @ self.components_.T) * self.scale_

    def state(self) -> dict:
        return {"mean": self.mean_, "components": self.components_, "scale": self.scale_}

    @classmethod
    def from_state(cls, state: dict) -> "PCAWhitening":
        p = cls(len(state["components"]))
        p.mean_, p.components_, p.scale_ = (np.asarray(state[k], dtype=np.float32)
                                            for k in ("mean", "components", "scale"))
        return p


from .base import Encoder  # noqa: E402  (the classes below build on the functions above)

# Below MIN_PCA_IMAGES images the variances a whitening divides by are noise: the PCA
# only rotates and truncates; below MIN_FIT_IMAGES there is no PCA at all.
MIN_PCA_IMAGES, MIN_FIT_IMAGES = 50, 3
DEFAULT_DIM = 128  # PCA dimensions when no latent_dim is given, on a large folder


def _fingerprint(pixels: np.ndarray) -> tuple:
    """Shape, dtype and CRC-32 of the pixels (about 20 ms for 5,000 images of 64 x 64 x 3)."""
    a = np.ascontiguousarray(pixels)
    return a.shape, a.dtype.str, zlib.crc32(memoryview(a).cast("B"))


class _VectorEncoder(Encoder):
    """A fixed vector function, optionally PCA-whitened on the folder, then unit length."""

    whiten_default = False

    def __init__(self, latent_dim: int | None = None, whiten: bool | None = None):
        super().__init__(latent_dim)
        self.whiten = self.whiten_default if whiten is None else bool(whiten)
        self.pca_: PCAWhitening | None = None
        self._fitted: tuple | None = None  # (fingerprint, vectors) of the images fit() saw

    def vectors(self, pixels: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, pixels, *, seed: int = 0, progress: bool = False):
        self.pca_ = None
        self._fitted = None
        if self.whiten and len(pixels) >= MIN_FIT_IMAGES:
            x = _filled(_in_threads(self.vectors, pixels, f"{self.name}: fitting", progress),
                        len(pixels))
            # a build encodes the very images it fitted on: keep their vectors for that
            # one call (half the build's feature time), checked by content, not identity
            self._fitted = (_fingerprint(pixels), x)
            # whitening needs variances estimated on enough images; a plain PCA does not
            whiten = len(pixels) >= MIN_PCA_IMAGES
            # about 3 images per whitened dimension (benchmarks/photos.py: 64 dimensions on
            # 200 photos, 128 on 5,000, as the --split dev folders measured)
            dim = self.latent_dim or min(DEFAULT_DIM, max(8, len(pixels) // 3))
            self.pca_ = PCAWhitening(dim, power=0.5 if whiten else 0.0).fit(x)
            self.note = (f"PCA{'-whitened' if whiten else ' (not whitened: under ' + str(MIN_PCA_IMAGES) + ' images)'}"
                         f" to {len(self.pca_.components_)} dimensions on {len(pixels):,} images")
        elif self.whiten:
            self.note = (f"no PCA: {len(pixels)} image{' is' if len(pixels) == 1 else 's are'} "
                         f"too few (< {MIN_FIT_IMAGES})")
        return self

    def encode(self, pixels, *, progress: bool = False):
        fitted, self._fitted = self._fitted, None
        if fitted is not None and fitted[0] == _fingerprint(pixels):
            vectors = fitted[1]
            if self.pca_ is None:
                return vectors
            # no full-size temporaries, and the blocks filled into one array as they come
            return _filled((unit(self.pca_.transform(vectors[i:i + 4096]))
                            for i in range(0, len(vectors), 4096)), len(vectors))
        out = []
        for x in _in_threads(self.vectors, pixels, f"{self.name}: encoding", progress):  # bounded memory
            out.append(unit(self.pca_.transform(x)) if self.pca_ is not None else x)
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    def options(self):
        return {"whiten": self.whiten}

    def arrays(self):
        return self.pca_.state() if self.pca_ is not None else {}

    def _restore(self, folder, arrays):
        self.pca_ = PCAWhitening.from_state(arrays) if arrays else None


def _filled(chunks, n: int) -> np.ndarray:
    """The row blocks ``chunks`` (``n`` rows in all) in one array, filled as they come
    (a list of them and ``np.concatenate`` would hold them twice)."""
    out, start = None, 0
    for block in chunks:
        if out is None:
            out = np.empty((n,) + block.shape[1:], dtype=block.dtype)
        out[start:start + len(block)] = block
        start += len(block)
    return out


def _in_threads(fn, pixels: np.ndarray, desc: str, show: bool, size: int = 64):
    """``fn`` of each ``size``-image chunk of ``pixels``, in order, computed by
    :func:`imsim._threads.kernel_threads` threads a few chunks ahead (NumPy releases
    the GIL on these arrays: 2,000 photos 0.96 s -> 0.57 s on 2 cores; each image's
    vector depends on that image only, so the chunks give the same vectors). 64 images
    a chunk: the features' float temporaries of two threads take 65 MB instead of 190 MB
    with 256 (of 64 x 64 x 3 photos), for the same CPU time."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from .._threads import kernel_threads

    workers = min(kernel_threads(), max(1, -(-len(pixels) // size)))
    if workers == 1:
        for i in _chunks(len(pixels), desc, show, size):
            yield fn(pixels[i:i + size])
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        for i in _chunks(len(pixels), desc, show, size):
            pending.append(pool.submit(fn, pixels[i:i + size]))
            if len(pending) > 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _chunks(n: int, desc: str, show: bool, size: int = 1024):
    """Starts of ``size``-image chunks of ``n`` images, counted on stderr when ``show``
    (a bar on a terminal, a plain line every 10 s in a pipe: thousands of photos take
    minutes)."""
    from .._progress import progress

    with progress(total=n, desc=desc, unit="img", show=None if show else False) as bar:
        for start in range(0, n, size):
            yield start
            bar.update(min(size, n - start))


class ThumbnailEncoder(_VectorEncoder):
    """The floor: 16 x 16 pixels, mean removed, unit norm (``whiten``: PCA-whitened)."""

    name = "thumbnail"

    def vectors(self, pixels):
        return thumbnail_vectors(pixels, 16)


class FeaturesEncoder(_VectorEncoder):
    """Hand-crafted features robust to a folder's edits (see :func:`feature_vectors`)."""

    name = "features"
    whiten_default = True
    GRID = 4  # cells per side of the orientation histograms (chosen on the --split dev folders)

    def __init__(self, latent_dim: int | None = None, whiten: bool | None = None, grid: int = GRID):
        super().__init__(latent_dim, whiten)
        self.grid = int(grid)

    def vectors(self, pixels):
        return unit(feature_vectors(pixels, self.grid))

    def options(self):
        return {**super().options(), "grid": self.grid}
