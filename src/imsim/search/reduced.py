"""Search in a reduced (latent) space, optionally re-ranked in the original space.

The latent vectors (an autoencoder's, or any projection's) make a fast first
stage: exact search among, say, 10 numbers per image instead of 784. With
``rerank=R`` the R latent nearest are then compared by their exact distance in
the original space, which repairs most of what the projection lost.

The index maps vectors to latents with its ``encode`` function. Latents computed
beforehand (the assignment's latent files) come in through :class:`LatentTable`,
an encoder that looks them up, so ``fit`` and ``search`` take the same arguments
as every other index.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_int, check_metric
from ..distances._shared import as_pair, finish, topk, topk_candidates
from .base import Index


class LatentTable:
    """An encoder made of latents computed beforehand: ``LatentTable((X, Z), (Q, Zq))``.

    Calling it on vectors returns their latents: on a block of rows of one of the
    given arrays (``X``, ``X[a:b]``) by position, on any other array by looking
    each vector up by its bytes (the first of equal vectors wins).

    Parameters
    ----------
    *pairs : (vectors, latents)
        ``vectors`` of shape (n, d) and their ``latents`` of shape (n, d_latent);
        the arrays are kept, not copied.

    Raises
    ------
    ValueError
        When called on a vector that none of the pairs holds.
    """

    def __init__(self, *pairs):
        if not pairs:
            raise ValueError("LatentTable needs at least one (vectors, latents) pair")
        self.pairs = []
        for i, (V, Z) in enumerate(pairs):
            V = check_array(V, name=f"vectors of pair {i}")
            Z = check_array(Z, name=f"latents of pair {i}", dtype=np.float32)
            if len(V) != len(Z):
                raise ValueError(f"pair {i} has {len(V)} vectors but {len(Z)} latent vectors")
            if self.pairs and Z.shape[1] != self.pairs[0][1].shape[1]:
                raise ValueError(f"pair {i} has latents of {Z.shape[1]} dimensions, pair 0 "
                                 f"of {self.pairs[0][1].shape[1]}")
            self.pairs.append((V, Z))
        self._by_bytes = None

    def __call__(self, A) -> np.ndarray:
        A = np.asarray(A)
        for V, Z in self.pairs:
            rows = _rows_within(A, V)
            if rows is not None:
                return Z[rows]
        if self._by_bytes is None:  # built on the first vector not found by position
            self._by_bytes = {}
            for p, (V, _) in enumerate(self.pairs):
                for r in range(len(V)):
                    self._by_bytes.setdefault((V.dtype.str, V[r].tobytes()), (p, r))
        out = np.empty((len(A), self.pairs[0][1].shape[1]), dtype=np.float32)
        for i, row in enumerate(A):
            hit = self._by_bytes.get((row.dtype.str, np.ascontiguousarray(row).tobytes()))
            if hit is None:
                raise ValueError(f"vector {i} is not among the vectors whose latents the "
                                 "LatentTable was given")
            out[i] = self.pairs[hit[0]][1][hit[1]]
        return out


def _rows_within(A: np.ndarray, V: np.ndarray) -> slice | None:
    """The rows of ``V`` that ``A`` is (``V`` itself or a block ``V[a:b]``), else None."""
    if A.dtype != V.dtype or A.ndim != 2 or A.shape[1:] != V.shape[1:] \
            or A.strides != V.strides or not np.may_share_memory(A, V):
        return None
    offset = A.__array_interface__["data"][0] - V.__array_interface__["data"][0]
    start, rest = divmod(offset, V.strides[0]) if V.strides[0] else (0, offset)
    if rest or start < 0 or start + len(A) > len(V):
        return None
    return slice(start, start + len(A))


class ReducedIndex(Index, kind="reduced"):
    """Exact latent-space search with an optional exact re-rank of the top R.

    Parameters
    ----------
    encode : callable
        Maps original vectors (n, d) to latent vectors (n, d_latent): a model's
        encoder, a projection, or a :class:`LatentTable` of latents computed
        beforehand. It is not saved: set ``index.encode`` again after
        :meth:`Index.load`.
    rerank : int, default 0
        Re-rank this many latent candidates by the original-space distance
        (0: return the latent ranking). ``search(..., rerank=R)`` overrides it.
    metric : {"l1", "l2", "cosine"}, default "l1"
        Distance in the original space (for the re-rank).
    latent_metric : {"l1", "l2", "cosine"}, default "l1"

    Notes
    -----
    The distances returned are latent distances without re-rank and
    original-space distances with it; either way each row is ascending. Latent
    vectors stored as the assignment's 0..25500 integers can be given as they
    are: one global scale does not change the ranking.

    Attributes
    ----------
    X_ : ndarray (n, d), original vectors
    Z_ : ndarray (n, d_latent), float32 latent vectors
    latent_metric_ : str, the canonical latent metric
    """

    _unsaved = ("encode",)

    def __init__(self, encode=None, *, rerank: int = 0, metric: str = "l1",
                 latent_metric: str = "l1"):
        self.encode = encode
        self.rerank = rerank
        self.metric = metric
        self.latent_metric = latent_metric

    @property
    def name(self) -> str:
        return f"Reduced({getattr(self, 'latent_metric_', self.latent_metric)}, " \
               f"rerank={self.rerank})"

    def _latent(self, A: np.ndarray, what: str) -> np.ndarray:
        if self.encode is None:
            raise ValueError("ReducedIndex needs an encoder: ReducedIndex(encode=...), a "
                             "function of the vectors or a LatentTable of their latents")
        Z = check_array(self.encode(A), name=f"latent vectors of the {what}", allow_empty=True,
                        dtype=np.float32)
        if len(Z) != len(A):
            raise ValueError(f"the {what} has {len(A)} vectors but {len(Z)} latent vectors")
        return Z

    def _check_params(self) -> None:
        check_int(self.rerank, "rerank", low=0)
        check_metric(self.latent_metric)
        if self.encode is not None and not callable(self.encode):
            raise TypeError(f"encode must be callable, got {type(self.encode).__name__}")

    def _fit(self, X: np.ndarray) -> None:
        self.latent_metric_ = check_metric(self.latent_metric)
        self.Z_ = self._latent(X, "data")
        self.X_ = X

    def _search(self, Q: np.ndarray, k: int, rerank: int | None = None):
        R = check_int(self.rerank if rerank is None else rerank, "rerank", low=0)
        Zq = self._latent(Q, "query")
        if Zq.shape[1] != self.Z_.shape[1]:
            raise ValueError(f"query latent vectors have {Zq.shape[1]} dimensions, "
                             f"index latent vectors have {self.Z_.shape[1]}")
        n = len(self.Z_)
        D, I = topk(Zq, self.Z_, min(max(k, R), n), self.latent_metric_)
        checked = np.full(len(Q), n, dtype=np.int64)
        if R == 0:
            return finish(D, self.latent_metric_), I, checked
        indptr = np.arange(len(I) + 1, dtype=np.int64) * I.shape[1]
        Qc, Xc = as_pair(Q, self.X_, self.metric_)
        D, I, _ = topk_candidates(Qc, Xc, indptr, I.ravel(), k, self.metric_, -1)
        return finish(D, self.metric_), I, checked

    def _state(self) -> dict:
        return {"X": self.X_, "Z": self.Z_}

    def _set_state(self, arrays: dict) -> None:
        self.X_ = arrays["X"]
        self.Z_ = arrays["Z"]
        self.latent_metric_ = check_metric(self.latent_metric)
