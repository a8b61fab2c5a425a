"""Input checks shared by every public function, and the errors they raise.

Public functions validate here, at the boundary, with messages that say what was
expected and what was found; private helpers trust their inputs.
"""
from __future__ import annotations

import os
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
    """An image above imsim's byte or pixel cap (a possible decompression bomb).

    ``pixels`` and ``limit`` are the image's pixel count and the cap it passed when a
    pixel cap refused it (so a server can word its own hint); both None for the byte
    cap, ``limit`` None when Pillow's own bomb limit refused it.
    """

    def __init__(self, source, reason: str, *, pixels: int | None = None, limit: int | None = None):
        super().__init__(source, reason)
        self.pixels = pixels
        self.limit = limit


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


# ------------------------------------------------------------------ vocabulary

#: distances between vectors, canonical names
METRICS = ("l1", "l2", "cosine")
#: other names accepted for them (scipy's and scikit-learn's spellings)
METRIC_ALIASES = {"manhattan": "l1", "cityblock": "l1", "euclidean": "l2"}
#: ground distances between pixel positions (EMD), canonical names
GROUNDS = ("euclidean", "manhattan")
GROUND_ALIASES = {"l2": "euclidean", "l1": "manhattan"}


def check_choice(value, choices, aliases=None, *, name: str) -> str:
    """``value`` as the canonical name among ``choices`` (case-insensitive, ``aliases``
    mapped), else ValueError: "unknown metric 'hamming', expected one of l1, l2, cosine"."""
    v = str(value).lower()
    v = (aliases or {}).get(v, v)
    if v not in choices:
        raise ValueError(f"unknown {name} {value!r}, expected one of {', '.join(choices)}")
    return v


def check_metric(metric, allowed=METRICS) -> str:
    """The metric's canonical name ("l1", "l2" or "cosine"); aliases accepted.

    ``allowed`` narrows (and orders, for the message) the metrics a caller supports.
    """
    return check_choice(metric, allowed, METRIC_ALIASES, name="metric")


def check_ground(ground) -> str:
    """The EMD ground distance's canonical name ("euclidean" or "manhattan")."""
    return check_choice(ground, GROUNDS, GROUND_ALIASES, name="ground distance")


# -------------------------------------------------------------------- integers

def check_int(value, name: str, *, low: int | None = 1, high: int | None = None,
              what: str | None = None) -> int:
    """``value`` as an int in [low, high]: the one integer check.

    As in scikit-learn: a value of the wrong type (a float, a string, a bool) raises
    TypeError, an integer out of range raises ValueError. ``what`` names what ``high``
    counts ("k=20 but the data holds 12 items").
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if low is not None and value < low:
        if low == 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
        raise ValueError(f"{name} must be at least {low}, got {value}")
    if high is not None and value > high:
        if what is not None:
            raise ValueError(f"{name}={value} but {what} holds {high} items")
        raise ValueError(f"{name} must be at most {high}, got {value}")
    return value


def check_k(k, n: int, *, name: str = "k", what: str = "the data") -> int:
    """Return ``k`` as an int in [1, n], else raise with both numbers."""
    return check_int(k, name, low=1, high=n, what=what)


def check_positive_int(value, name: str) -> int:
    """Return ``value`` as an int >= 1: TypeError for a non-integer, ValueError below 1."""
    return check_int(value, name, low=1)


def env_int(name: str, default: int | None, *, minimum: int = 1) -> int | None:
    """The integer in the environment variable ``name``; ``default`` when it is unset or
    blank. Every limit imsim reads from the environment is read here.

    Raises ValueError naming the variable when it is set to anything but an integer of
    at least ``minimum``: "NAME must be a positive integer, got 'lots'" (``minimum=1``),
    "NAME must be an integer >= 4, got '2'" otherwise.
    """
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {expected}, got {raw!r}")
    return value


def check_labels(labels, n: int, n_clusters=None, name: str = "labels") -> tuple[np.ndarray, int]:
    """``labels`` as int64 of shape (n,) in 0..K-1, and K (``n_clusters`` or max + 1)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"{name} has shape {labels.shape}, expected ({n},) like the data")
    if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers 0..K-1, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    if n and labels.min() < 0:
        raise ValueError(f"{name} must be integers 0..K-1, found {labels.min()}")
    top = int(labels.max()) + 1 if n else 0
    if n_clusters is None:
        return labels, top
    n_clusters = check_positive_int(n_clusters, "n_clusters")
    if top > n_clusters:
        raise ValueError(f"{name} holds cluster {top - 1} but n_clusters={n_clusters}")
    return labels, int(n_clusters)
