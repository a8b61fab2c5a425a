"""Search in a reduced (latent) space, optionally re-ranked in the original space.

The latent vectors (an autoencoder's, or any projection's) make a fast first
stage: exact search among, say, 10 numbers per image instead of 784. With
``rerank=R`` the R latent nearest are then compared by their exact distance in
the original space, which repairs most of what the projection lost.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array
from ..distances.kernels import _as_pair, _check_metric, _finish, _topk, _topk_candidates
from .base import Index


class ReducedIndex(Index):
    """Exact latent-space search with an optional exact re-rank of the top R.

    Parameters
    ----------
    encode : callable, optional
        Maps original vectors (n, d) to latent vectors (n, d_latent). Without it,
        ``fit`` and ``search`` need the latent vectors as ``Z=``. It is not saved:
        set ``index.encode`` again after :meth:`Index.load`.
    rerank : int, default 0
        Re-rank this many latent candidates by the original-space distance
        (0: return the latent ranking). ``search(..., rerank=R)`` overrides it.
    metric : {"l1", "l2", "cosine"}, default "l1"
        Distance in the original space (for the re-rank).
    latent_metric : {"l1", "l2", "cosine"}, default "l1"

    Notes
    -----
    ``fit(X, Z=None)`` and ``search(Q, k, Z=None, rerank=None)``. The distances
    returned are latent distances without re-rank and original-space distances
    with it; either way each row is ascending. Latent vectors stored as the
    assignment's 0..25500 integers can be given as they are: one global scale
    does not change the ranking.

    Attributes
    ----------
    X_ : ndarray (n, d), original vectors
    Z_ : ndarray (n, d_latent), float32 latent vectors
    """

    def __init__(self, encode=None, *, rerank: int = 0, metric: str = "l1",
                 latent_metric: str = "l1"):
        self.encode = encode
        self.rerank = rerank
        self.metric = metric
        self.latent_metric = latent_metric

    @property
    def name(self) -> str:
        return f"Reduced({self.latent_metric}, rerank={self.rerank})"

    def _latent(self, A: np.ndarray, Z, what: str) -> np.ndarray:
        if Z is None:
            if self.encode is None:
                raise ValueError(f"ReducedIndex needs the latent vectors of the {what}: "
                                 "pass Z=... or give the index an encode function")
            Z = self.encode(A)
        Z = check_array(Z, name=f"latent vectors of the {what}", allow_empty=True,
                        dtype=np.float32)
        if len(Z) != len(A):
            raise ValueError(f"the {what} has {len(A)} vectors but {len(Z)} latent vectors")
        return Z

    def _fit(self, X: np.ndarray, Z=None) -> None:
        self.latent_metric = _check_metric(self.latent_metric)
        self.Z_ = self._latent(X, Z, "data")
        self.X_ = X

    def _search(self, Q: np.ndarray, k: int, Z=None, rerank: int | None = None):
        Zq = self._latent(Q, Z, "query")
        if Zq.shape[1] != self.Z_.shape[1]:
            raise ValueError(f"query latent vectors have {Zq.shape[1]} dimensions, "
                             f"index latent vectors have {self.Z_.shape[1]}")
        R = self.rerank if rerank is None else rerank
        if isinstance(R, bool) or not isinstance(R, (int, np.integer)) or R < 0:
            raise ValueError(f"rerank must be a non-negative integer, got {R!r}")
        n = len(self.Z_)
        D, I = _topk(Zq, self.Z_, min(max(k, R), n), self.latent_metric)
        if R == 0:
            return _finish(D, self.latent_metric), I
        indptr = np.arange(len(I) + 1, dtype=np.int64) * I.shape[1]
        Qc, Xc = _as_pair(Q, self.X_, self.metric)
        D, I, _ = _topk_candidates(Qc, Xc, indptr, I.ravel(), k, self.metric, -1)
        return _finish(D, self.metric), I

    def _get_params(self) -> dict:
        return {"rerank": int(self.rerank), "metric": self.metric,
                "latent_metric": self.latent_metric}

    def _state(self) -> dict:
        return {"X": self.X_, "Z": self.Z_}

    def _set_state(self, arrays: dict) -> None:
        self.X_ = arrays["X"]
        self.Z_ = arrays["Z"]
