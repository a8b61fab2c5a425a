"""The one ``Index`` protocol that every search method follows (ann-benchmarks style).

* Build parameters go to the constructor, which only stores them; ``fit`` never
  changes them (what it derives ends in ``_``: ``metric_``, LSH's ``w_``).
* ``fit(X)`` builds the index and returns it. It takes nothing else: whatever a
  method needs besides the vectors (``ReducedIndex``'s encoder) is a constructor
  parameter.
* ``search(Q, k, **query_params)`` returns ``(D, I)``: float32 distances and int64
  ids of shape (n_queries, k), ascending per row, ids being row positions in ``X``.
  Where fewer than ``k`` neighbours were found the row ends with id -1 and
  distance +inf (``k`` larger than the index is allowed, as in FAISS).
  Query-time knobs (HNSW ``ef``, LSH ``max_candidates``) are keyword arguments of
  ``search``, so one build can be swept. ``return_stats=True`` adds a
  :class:`SearchStats` for that call (nothing is stored on the index, so one
  index serves concurrent searches).
* Each class declares what it takes: ``build_params`` (its constructor's
  parameters) and ``query_params`` (its search knobs); an unknown name is refused
  with the names it takes.
* ``Index.create("hnsw", **params)`` makes an unfitted index by its ``kind``;
  ``Index.kinds()`` lists them.
* ``save(path)`` writes one ``.npz`` file (parameters as JSON plus arrays, no
  pickles); ``Index.load(path)`` or ``SomeIndex.load(path)`` reads it back.
* ``name`` says what the index is, with its parameters; ``ntotal`` is its size.

Subclasses pass ``kind="..."`` in their class statement and implement ``_fit``,
``_search`` (whose keyword parameters are the query parameters) and ``_state`` /
``_set_state`` (fitted arrays).
"""
from __future__ import annotations

import abc
import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import atomic_path
from .._validation import DataFormatError, check_array, check_is_fitted, check_metric, \
    check_positive_int

_FORMAT = "imsim-index"
_VERSION = 1
_META = "__meta__"


@dataclass(frozen=True)
class SearchStats:
    """What one ``search`` call did (``search(..., return_stats=True)``).

    Attributes
    ----------
    n_queries : int
    n_not_found : int
        Queries for which the method found no neighbour at all (their rows are all
        -1 / +inf; LSH: every bucket of the query was empty).
    mean_checked : float or None
        Distinct indexed vectors whose distance was computed, per query (exact: all
        of them; Reduced: the latent scan; LSH: candidates after the cap); None
        where the library does not report it (HNSW).
    """

    n_queries: int
    n_not_found: int
    mean_checked: float | None


class Index(abc.ABC):
    """Base class of every nearest-neighbour index; see the module docstring."""

    _registry: dict[str, type[Index]] = {}   # class name -> class (for load)
    _kinds: dict[str, type[Index]] = {}      # kind -> class (for create)
    #: the name ``Index.create`` knows the class by
    kind: str = ""
    #: metrics the subclass supports, in order of preference
    metrics: tuple[str, ...] = ("l1", "l2", "cosine")
    #: constructor parameters, from its signature (set for each subclass)
    build_params: tuple[str, ...] = ()
    #: search-time parameters, from ``_search``'s keyword parameters
    query_params: tuple[str, ...] = ()
    #: former constructor names that ``create`` and ``load`` still accept
    aliases: dict[str, str] = {}
    #: constructor parameters that ``save`` does not write (callables)
    _unsaved: tuple[str, ...] = ()

    def __init_subclass__(cls, kind: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        Index._registry[cls.__name__] = cls
        if kind is not None:
            cls.kind = kind
            Index._kinds[kind] = cls
        cls.build_params = tuple(p for p in inspect.signature(cls.__init__).parameters
                                 if p != "self")
        if "query_params" not in cls.__dict__:  # a class may declare them (ShardedIndex)
            cls.query_params = tuple(inspect.signature(cls._search).parameters)[3:]  # self, Q, k

    # ------------------------------------------------------------ protocol

    @classmethod
    def create(cls, kind: str, **params) -> Index:
        """A new, unfitted index of ``kind`` ("exact", "lsh", "hnsw", "reduced").

        ``params`` go to the constructor; a name it does not take raises TypeError
        listing those it does. ``Index.create("hnsw", M=16)`` is ``HNSWIndex(M=16)``.
        """
        target = cls.class_for(kind)
        params = target._renamed(params)
        _check_names(f"{target.__name__}()", params, target.build_params)
        return target(**params)

    @classmethod
    def class_for(cls, kind: str) -> type[Index]:
        """The class :meth:`create` makes for ``kind``; ValueError naming the kinds."""
        target = Index._kinds.get(str(kind).lower())
        if target is None or not issubclass(target, cls):
            kinds = [k for k, c in sorted(Index._kinds.items()) if issubclass(c, cls)]
            raise ValueError(f"unknown index kind {kind!r}, expected one of {', '.join(kinds)}")
        return target

    @classmethod
    def kinds(cls) -> tuple[str, ...]:
        """The kinds :meth:`create` accepts, sorted."""
        return tuple(sorted(Index._kinds))

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """Short description with the parameters, e.g. ``"LSH(k=4, L=20, w=5200)"``."""

    @property
    def ntotal(self) -> int:
        """Number of indexed vectors (0 before ``fit``)."""
        return getattr(self, "n_", None) or 0

    def get_params(self) -> dict:
        """The constructor parameters, by name (as scikit-learn's ``get_params``)."""
        return {p: getattr(self, p) for p in self.build_params}

    def check_params(self) -> Index:
        """Validate the constructor parameters without building anything; returns
        ``self``. ``fit`` calls it first; callers that build several indexes call it
        on each before the first build, so a bad value fails before any work."""
        self._validated_metric()
        self._check_params()
        return self

    def fit(self, X) -> Index:
        """Build the index on the rows of ``X`` and return ``self``.

        Parameters
        ----------
        X : ndarray of shape (n, d)
            uint8 pixels are kept as they are (exact integer L1); other numbers
            become float32.
        """
        X = check_array(X, name="X")
        self.check_params()
        self.__dict__.pop("n_", None)  # the fitted marker: set once the build succeeded
        self.metric_ = self._validated_metric()
        self.d_ = X.shape[1]
        self.dtype_ = X.dtype.name
        self._fit(X)
        self.n_ = len(X)
        return self

    def search(self, Q, k: int, *, return_stats: bool = False, **query_params):
        """The ``k`` nearest indexed vectors of each row of ``Q``.

        Parameters
        ----------
        Q : ndarray of shape (n_queries, d), same number of dimensions as the index
        k : int >= 1
        return_stats : bool, default False
            Also return a :class:`SearchStats` for this call.
        **query_params : the query-time knobs in ``query_params`` (see the subclass)

        Returns
        -------
        D : ndarray of shape (n_queries, k), float32, ascending per row; +inf pads
        I : ndarray of shape (n_queries, k), int64 row ids in ``X``; -1 pads
        stats : SearchStats, only with ``return_stats=True``
        """
        _check_names(f"{type(self).__name__}.search()", query_params, self.query_params)
        check_is_fitted(self, "n_")
        Q = self._check_queries(Q)
        k = check_positive_int(k, "k")
        if len(Q) == 0:
            D, I = np.empty((0, k), dtype=np.float32), np.empty((0, k), dtype=np.int64)
            checked = np.zeros(0, dtype=np.int64)
        else:
            D, I, *rest = self._search(Q, k, **query_params)
            checked = rest[0] if rest else None
            D, I = _pad(np.asarray(D, dtype=np.float32), np.asarray(I, dtype=np.int64), k)
        if not return_stats:
            return D, I
        mean = None if checked is None else float(np.mean(checked)) if len(checked) else 0.0
        return D, I, SearchStats(n_queries=len(Q), n_not_found=int((I[:, 0] < 0).sum()),
                                 mean_checked=mean)

    def save(self, path) -> Path:
        """Write the fitted index to ``path`` (an ``.npz`` file, written atomically)."""
        check_is_fitted(self, "n_")
        params = {p: v for p, v in self.get_params().items() if p not in self._unsaved}
        meta = {"format": _FORMAT, "version": _VERSION, "class": type(self).__name__,
                "params": params, "n": self.n_, "d": self.d_, "dtype": self.dtype_}
        arrays = self._state()
        arrays[_META] = np.frombuffer(json.dumps(meta, default=_json_scalar).encode(),
                                     dtype=np.uint8)
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
        index = target(**target._renamed(meta["params"]))
        index.metric_ = index._validated_metric()
        index.n_, index.d_, index.dtype_ = meta["n"], meta["d"], meta["dtype"]
        index._set_state(arrays)
        return index

    def __repr__(self) -> str:
        return self.name

    # ---------------------------------------------------- for subclasses

    @abc.abstractmethod
    def _fit(self, X: np.ndarray) -> None:
        """Build from validated data (uint8 or float32, C-contiguous); ``metric_``,
        ``n_``, ``d_`` and ``dtype_`` are set. Set fitted attributes only (names
        ending in ``_``), never a constructor parameter."""

    @abc.abstractmethod
    def _search(self, Q: np.ndarray, k: int):
        """(D, I, n_checked) for validated, non-empty queries; D and I may have fewer
        than k columns; n_checked is an int array (n_queries,) or None (a plain
        (D, I) means None). Keyword parameters after ``k`` are the class's query
        parameters."""

    def _check_params(self) -> None:  # noqa: B027 (a hook: a class with nothing to check keeps it)
        """Raise for a bad constructor parameter (the metric is checked already)."""

    @abc.abstractmethod
    def _state(self) -> dict[str, np.ndarray]:
        """Fitted arrays to save."""

    @abc.abstractmethod
    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`_state` returned."""

    @classmethod
    def _renamed(cls, params: dict) -> dict:
        """``params`` with former names (:attr:`aliases`) replaced by current ones."""
        out = {}
        for name, value in params.items():
            new = cls.aliases.get(name, name)
            if new in out:
                raise TypeError(f"{cls.__name__}() got {new!r} twice (once as {name!r})")
            out[new] = value
        return out

    def _validated_metric(self) -> str:
        metric = check_metric(self.metric)
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


def _json_scalar(value):
    """numpy scalars (an ``np.int64`` parameter) as the Python numbers JSON takes."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _check_names(where: str, given: dict, takes: tuple[str, ...]) -> None:
    """TypeError for a parameter name not in ``takes``, listing those it takes:
    "HNSWIndex.search() got an unknown parameter 'eff'; it takes: ef"."""
    for name in given:
        if name not in takes:
            what = f"it takes: {', '.join(takes)}" if takes else "it takes none"
            raise TypeError(f"{where} got an unknown parameter {name!r}; {what}")


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
