"""The one ``Index`` protocol that every search method follows (ann-benchmarks style).

* Build parameters go to the constructor, which only stores them.
* ``fit(X)`` builds the index and returns it.
* ``search(Q, k, **query_params)`` returns ``(D, I)``: float32 distances and int64
  ids of shape (n_queries, k), ascending per row, ids being row positions in ``X``.
  Where fewer than ``k`` neighbours were found the row ends with id -1 and
  distance +inf (``k`` larger than the index is allowed, as in FAISS).
  Query-time knobs (HNSW ``ef``, LSH ``max_candidates``) are keyword arguments of
  ``search``, so one build can be swept.
* ``save(path)`` writes one ``.npz`` file (parameters as JSON plus arrays, no
  pickles); ``Index.load(path)`` or ``SomeIndex.load(path)`` reads it back.
* ``name`` says what the index is, with its parameters; ``ntotal`` is its size.

Subclasses implement ``_fit``, ``_search``, ``_get_params`` (constructor keyword
arguments) and ``_state`` / ``_set_state`` (fitted arrays).
"""
from __future__ import annotations

import abc
import json
from pathlib import Path

import numpy as np

from .._io import atomic_path
from .._validation import DataFormatError, check_array, check_is_fitted, check_positive_int
from ..distances.kernels import _check_metric

_FORMAT = "imsim-index"
_VERSION = 1
_META = "__meta__"


class Index(abc.ABC):
    """Base class of every nearest-neighbour index; see the module docstring."""

    _registry: dict[str, type[Index]] = {}
    #: metrics the subclass supports, in order of preference
    metrics: tuple[str, ...] = ("l1", "l2", "cosine")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Index._registry[cls.__name__] = cls

    # ------------------------------------------------------------ protocol

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """Short description with the parameters, e.g. ``"LSH(k=4, L=20, w=5200)"``."""

    @property
    def ntotal(self) -> int:
        """Number of indexed vectors (0 before ``fit``)."""
        return getattr(self, "n_", None) or 0

    def fit(self, X, **fit_params) -> Index:
        """Build the index on the rows of ``X`` and return ``self``.

        Parameters
        ----------
        X : ndarray of shape (n, d)
            uint8 pixels are kept as they are (exact integer L1); other numbers
            become float32.
        **fit_params : extra data some methods need (``ReducedIndex``: ``Z``)
        """
        X = check_array(X, name="X")
        self.metric = self._validated_metric()
        self.n_, self.d_ = X.shape
        self.dtype_ = X.dtype.name
        self._fit(X, **fit_params)
        return self

    def search(self, Q, k: int, **query_params) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest indexed vectors of each row of ``Q``.

        Parameters
        ----------
        Q : ndarray of shape (n_queries, d), same number of dimensions as the index
        k : int >= 1
        **query_params : query-time knobs of the method (see the subclass)

        Returns
        -------
        D : ndarray of shape (n_queries, k), float32, ascending per row; +inf pads
        I : ndarray of shape (n_queries, k), int64 row ids in ``X``; -1 pads
        """
        check_is_fitted(self, "n_")
        Q = self._check_queries(Q)
        k = check_positive_int(k, "k")
        if len(Q) == 0:
            return np.empty((0, k), dtype=np.float32), np.empty((0, k), dtype=np.int64)
        D, I = self._search(Q, k, **query_params)
        return _pad(np.asarray(D, dtype=np.float32), np.asarray(I, dtype=np.int64), k)

    def save(self, path) -> Path:
        """Write the fitted index to ``path`` (an ``.npz`` file, written atomically)."""
        check_is_fitted(self, "n_")
        meta = {"format": _FORMAT, "version": _VERSION, "class": type(self).__name__,
                "params": self._get_params(), "n": self.n_, "d": self.d_, "dtype": self.dtype_}
        arrays = self._state()
        arrays[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        path = Path(path)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:  # a file object: numpy adds no ".npz" suffix
                np.savez(f, **arrays)
        return path

    @classmethod
    def load(cls, path) -> Index:
        """Read an index written by :meth:`save`; ``Index.load`` accepts any kind."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"index file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {key: f[key] for key in f.files}
        except (ValueError, OSError) as exc:
            raise DataFormatError(f"{path}: not an imsim index file ({exc})") from None
        if _META not in arrays:
            raise DataFormatError(f"{path}: not an imsim index file (no metadata)")
        meta = json.loads(arrays.pop(_META).tobytes().decode())
        if meta.get("format") != _FORMAT or meta.get("version") != _VERSION:
            raise DataFormatError(f"{path}: unsupported index format {meta.get('format')} "
                                  f"version {meta.get('version')}, expected {_FORMAT} {_VERSION}")
        target = Index._registry.get(meta["class"])
        if target is None or not issubclass(target, cls):
            raise DataFormatError(f"{path} holds a {meta['class']}, not a {cls.__name__}")
        index = target(**meta["params"])
        index.metric = index._validated_metric()
        index.n_, index.d_, index.dtype_ = meta["n"], meta["d"], meta["dtype"]
        index._set_state(arrays)
        return index

    def __repr__(self) -> str:
        return self.name

    # ---------------------------------------------------- for subclasses

    @abc.abstractmethod
    def _fit(self, X: np.ndarray, **fit_params) -> None:
        """Build from validated data (uint8 or float32, C-contiguous)."""

    @abc.abstractmethod
    def _search(self, Q: np.ndarray, k: int, **query_params):
        """(D, I) for validated, non-empty queries; may have fewer than k columns."""

    @abc.abstractmethod
    def _get_params(self) -> dict:
        """Constructor keyword arguments (JSON values) that rebuild this index."""

    @abc.abstractmethod
    def _state(self) -> dict[str, np.ndarray]:
        """Fitted arrays to save."""

    @abc.abstractmethod
    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`_state` returned."""

    def _validated_metric(self) -> str:
        metric = _check_metric(self.metric)
        if metric not in self.metrics:
            raise ValueError(f"{type(self).__name__} supports metric "
                             f"{' or '.join(repr(m) for m in self.metrics)}, got {self.metric!r}")
        return metric

    def _check_queries(self, Q, name: str = "query") -> np.ndarray:
        """Queries as the index's dtype; integer-valued input is accepted for uint8."""
        Q = check_array(Q, name=name, allow_empty=True)
        if Q.shape[-1] != self.d_:
            raise ValueError(f"{name} has {Q.shape[-1]} dimensions, index has {self.d_}")
        if self.dtype_ == "uint8" and Q.dtype != np.uint8:
            if Q.size and (Q.min() < 0 or Q.max() > 255 or not np.all(Q == np.round(Q))):
                raise TypeError(f"the index holds uint8 pixels but the {name} has "
                                f"{Q.dtype} values outside the integers 0..255")
            Q = Q.astype(np.uint8)
        elif self.dtype_ != "uint8":
            Q = np.ascontiguousarray(Q, dtype=np.float32)
        return Q


def _pad(D: np.ndarray, I: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Widen to ``k`` columns with (+inf, -1), and mark every -1 id with +inf."""
    if D.shape[1] < k:
        extra = k - D.shape[1]
        D = np.concatenate([D, np.full((len(D), extra), np.inf, dtype=np.float32)], axis=1)
        I = np.concatenate([I, np.full((len(I), extra), -1, dtype=np.int64)], axis=1)
    D = np.where(I < 0, np.float32(np.inf), D)
    return np.ascontiguousarray(D[:, :k]), np.ascontiguousarray(I[:, :k])


def sort_rows(D: np.ndarray, I: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order each row by (distance, id), missing (-1) entries last."""
    key_id = np.where(I < 0, np.iinfo(np.int64).max, I)
    order = np.lexsort((key_id, D), axis=1)
    return np.take_along_axis(D, order, axis=1), np.take_along_axis(I, order, axis=1)
