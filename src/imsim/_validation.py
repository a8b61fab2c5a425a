"""Input checks shared by every public function, and the errors they raise.

Public functions validate here, at the boundary, with messages that say what was
expected and what was found; private helpers trust their inputs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


class ImsimError(Exception):
    """Base class for errors that imsim reports to users as one clear line."""


class DataFormatError(ImsimError, ValueError):
    """A file exists but does not hold what it should (bad magic, wrong size, ...)."""


class UnreadableImageError(ImsimError, ValueError):
    """An image file or upload is missing, undecodable, truncated or not a regular file.

    ``source`` names the file (or ``<N bytes>`` for an upload) and ``reason`` says
    why, so callers never parse the message; ``str(exc)`` is
    ``cannot read image SOURCE: REASON``.
    """

    def __init__(self, source, reason: str):
        super().__init__(str(source), str(reason))
        self.source = str(source)
        self.reason = str(reason)

    def __str__(self) -> str:
        return f"cannot read image {self.source}: {self.reason}"


class ImageTooLargeError(UnreadableImageError):
    """An image above imsim's byte or pixel cap (a possible decompression bomb)."""


class NotFittedError(ImsimError, ValueError, AttributeError):
    """An estimator or index was used before ``fit``."""


def check_is_fitted(obj, attribute: str) -> None:
    """Raise :class:`NotFittedError` unless ``obj`` has the fitted ``attribute``."""
    if getattr(obj, attribute, None) is None:
        raise NotFittedError(
            f"This {type(obj).__name__} is not fitted yet; call fit() before using it."
        )


def check_file(path, what: str = "file") -> Path:
    """Return ``path`` as a Path, or raise FileNotFoundError naming ``what``."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{what} not found: {p}")
    if p.is_dir():
        raise IsADirectoryError(f"{what} is a directory, expected a file: {p}")
    return p


def check_array(X, *, name: str = "X", ndim: int | None = 2, allow_empty: bool = False,
                dtype=None) -> np.ndarray:
    """Return ``X`` as a C-contiguous ndarray after checking its rank and size.

    ``dtype=None`` keeps uint8 and float32 as they are and converts anything else to
    float32; pass a dtype to force one.
    """
    if X is None:
        raise ValueError(f"{name} is None, expected an array")
    X = np.asarray(X)
    if dtype is not None:
        X = X.astype(dtype, copy=False)
    elif X.dtype not in (np.uint8, np.float32):
        if X.dtype.kind not in "uifb":
            raise TypeError(f"{name} has dtype {X.dtype}, expected numbers")
        X = X.astype(np.float32)
    if ndim is not None and X.ndim != ndim:
        raise ValueError(f"{name} has {X.ndim} dimensions (shape {X.shape}), expected {ndim}")
    if not allow_empty and X.size == 0:
        raise ValueError(f"{name} is empty (shape {X.shape})")
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return np.ascontiguousarray(X)


def check_same_dims(Q: np.ndarray, X: np.ndarray, qname: str = "query", xname: str = "index") -> None:
    """Raise unless the last dimensions agree: "query has 783 dimensions, index has 784"."""
    if Q.shape[-1] != X.shape[-1]:
        raise ValueError(
            f"{qname} has {Q.shape[-1]} dimensions, {xname} has {X.shape[-1]}"
        )


def check_k(k, n: int, *, name: str = "k", what: str = "the data") -> int:
    """Return ``k`` as an int in [1, n], else raise with both numbers."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {k!r}")
    k = int(k)
    if k < 1:
        raise ValueError(f"{name} must be at least 1, got {k}")
    if k > n:
        raise ValueError(f"{name}={k} but {what} holds {n} items")
    return k


def check_positive_int(value, name: str) -> int:
    """Return ``value`` as an int >= 1, else raise naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
