"""ImageSet: the one in-memory form of a data set."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Images with optional labels, stable ids and source paths, kept aligned.

    Parameters
    ----------
    images : ndarray of shape (N, H, W) or (N, H, W, C), dtype uint8
        Pixel intensities 0..255.
    labels : ndarray of shape (N,), dtype int64, optional
    ids : ndarray of shape (N,), dtype int64, optional
        Stable integer ids; default ``0..N-1``. Subsets keep the ids of the parent,
        so an id always names the same image.
    paths : list of str, optional
        Source file of each image (image folders only).
    name : str
        Where the set came from, for messages and reports.
    """

    images: np.ndarray
    labels: np.ndarray | None = None
    ids: np.ndarray | None = None
    paths: list[str] | None = None
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        images = np.asarray(self.images)
        if images.dtype != np.uint8:
            raise TypeError(f"images must be uint8 pixels, got dtype {images.dtype}")
        if images.ndim not in (3, 4):
            raise ValueError(
                f"images must have shape (N, H, W) or (N, H, W, C), got {images.shape}"
            )
        n = images.shape[0]
        object.__setattr__(self, "images", images)
        if self.labels is not None:
            labels = np.asarray(self.labels).astype(np.int64, copy=False)
            if labels.shape != (n,):
                raise ValueError(f"labels have shape {labels.shape}, expected ({n},) for {n} images")
            object.__setattr__(self, "labels", labels)
        ids = np.arange(n, dtype=np.int64) if self.ids is None else np.asarray(self.ids, dtype=np.int64)
        if ids.shape != (n,):
            raise ValueError(f"ids have shape {ids.shape}, expected ({n},) for {n} images")
        object.__setattr__(self, "ids", ids)
        if self.paths is not None:
            paths = [str(p) for p in self.paths]
            if len(paths) != n:
                raise ValueError(f"{len(paths)} paths for {n} images")
            object.__setattr__(self, "paths", paths)

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one image: (H, W) or (H, W, C)."""
        return tuple(self.images.shape[1:])

    @property
    def n_features(self) -> int:
        """Pixels per image (H*W*C): the dimension of the pixel space."""
        return int(np.prod(self.shape))

    def flat(self) -> np.ndarray:
        """Images as an (N, H*W*C) uint8 matrix (a view when possible)."""
        return self.images.reshape(len(self), -1)

    def __getitem__(self, index) -> "ImageSet":
        """Subset by slice, integer array or boolean mask; every field stays aligned."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1 if index != -1 else None)
        idx = index if isinstance(index, slice) else np.asarray(index)
        paths = None
        if self.paths is not None:
            paths = list(np.asarray(self.paths, dtype=object)[idx])
        return ImageSet(
            images=self.images[idx],
            labels=None if self.labels is None else self.labels[idx],
            ids=self.ids[idx],
            paths=paths,
            name=self.name,
            meta=dict(self.meta),
        )

    def head(self, n: int | None) -> "ImageSet":
        """The first ``n`` images (all of them when ``n`` is None)."""
        return self if n is None or n >= len(self) else self[:n]

    def sample(self, n: int, seed: int = 0) -> "ImageSet":
        """``n`` images drawn without replacement, in their original order."""
        if n >= len(self):
            return self
        rng = np.random.default_rng(seed)
        return self[np.sort(rng.choice(len(self), size=n, replace=False))]

    def label_counts(self) -> dict[int, int]:
        """{label: count}, sorted by label; empty when there are no labels."""
        if self.labels is None:
            return {}
        values, counts = np.unique(self.labels, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts)}

    def __repr__(self) -> str:
        lab = "labels" if self.labels is not None else "no labels"
        return f"ImageSet({self.name!r}, n={len(self)}, shape={self.shape}, {lab})"
