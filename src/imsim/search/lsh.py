"""Locality-sensitive hashing for L1: the course assignment's random-grid family.

Each hash function draws a random shift s in [0, w)^d and maps a vector to the
cell of a grid of width w (Datar, Immorlica, Indyk & Mirrokni 2004):

    a_j  = floor((x_j - s_j) / w)                        j = 0 .. d-1
    h(x) = (sum_j a_j * m**(d-1-j)) mod M                m = 2**32 - 5,  M = 2**(32 // k)
    g(x) = h_1(x) | h_2(x) << b | ... | h_k(x) << (k-1) b    b = 32 // k bits each

Vectors with equal g share a bucket of one table; L tables, each with its own
random shifts, give a query its candidates, which are then checked exactly.
The assignment's k and L are the parameters ``n_hashes`` and ``n_tables`` here
(``-k`` and ``-L`` on the command line), so that ``k`` means one thing: the
neighbours asked of ``search``.
Because M is a power of two, the sum is computed in wrapping 64-bit integers
and its low bits are exact.

For uint8 pixels ``a_j`` takes few values over 0..255 (one step when w > 255), so
each hash is evaluated from its steps: the pixels whose value crosses a cell
border, compared against the threshold where it does. That is the same function
as the dense formula (the tests check it), hundreds of times cheaper.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_int, check_positive_int, env_int
from ..distances._shared import as_pair, finish, topk, topk_candidates
from .base import Index

_M_BASE = 2**32 - 5   # m: a large prime, as in the assignment
_CHUNK = 1 << 22      # elements of a temporary array while hashing
_RAW_CANDIDATES = 1 << 24  # candidate ids materialised at once while searching


class LSHIndex(Index, kind="lsh"):
    """Approximate L1 nearest neighbours with L tables of k concatenated grid hashes.

    Parameters
    ----------
    n_hashes : int, default 4
        Hash functions per table (the assignment's ``-k``), 1 <= n_hashes <= 32.
    n_tables : int, default 5
        Hash tables (the assignment's ``-L``).
    w : float, optional
        Grid width in distance units. By default ``w_factor`` times the mean
        nearest-neighbour distance of ``sample_size`` random indexed vectors.
    metric : {"l1"}
    w_factor : float, default 4.0
        With w well above 255 a hash depends only on the pixels whose shift falls
        below 256 (about 256 d / w of them); on MNIST about 4 mean
        nearest-neighbour distances worked best (see benchmarks/search.py).
    sample_size : int, default 500
    seed : int, default 0
        Every table draws its shifts from its own stream spawned from this seed.

    Attributes
    ----------
    w_ : float, the grid width used

    Notes
    -----
    Query-time knob: ``search(Q, k, max_candidates=None)`` checks at most that
    many distinct candidates per query, taken table by table (members of a bucket
    in a random order fixed by the seed). ``search(..., return_stats=True)``
    says how many queries found no candidate (their rows are all -1 / +inf) and
    how many candidates were checked per query. ``Index.create("lsh", k=4, L=5)``
    and index files written before the rename accept the assignment's names.
    """

    metrics = ("l1",)
    aliases = {"k": "n_hashes", "L": "n_tables"}

    def __init__(self, n_hashes: int = 4, n_tables: int = 5, w: float | None = None, *,
                 metric: str = "l1", w_factor: float = 4.0, sample_size: int = 500,
                 seed: int = 0):
        self.n_hashes = n_hashes
        self.n_tables = n_tables
        self.w = w
        self.metric = metric
        self.w_factor = w_factor
        self.sample_size = sample_size
        self.seed = seed

    @property
    def name(self) -> str:
        w = getattr(self, "w_", self.w)
        return f"LSH(k={self.n_hashes}, L={self.n_tables}, w={'auto' if w is None else f'{w:g}'})"

    # ------------------------------------------------------------------ build

    def _check_params(self) -> None:
        check_int(self.n_hashes, "n_hashes", low=1, high=32)  # 32 // n_hashes bits per hash
        n_tables = check_positive_int(self.n_tables, "n_tables")
        max_tables = env_int("IMSIM_MAX_LSH_TABLES", 256)
        if n_tables > max_tables:
            # each table holds one int64 hash per vector plus its sort: L * N * 16 bytes
            raise ValueError(f"L={n_tables} hash tables is above the limit of {max_tables} (memory "
                             f"grows as L x N x 16 bytes); raise it with IMSIM_MAX_LSH_TABLES")
        if self.w is not None and not (isinstance(self.w, (int, float, np.number))
                                       and self.w > 0 and np.isfinite(self.w)):
            raise ValueError(f"w must be positive and finite, got {self.w!r}")
        if not (isinstance(self.w_factor, (int, float, np.number)) and self.w_factor > 0):
            raise ValueError(f"w_factor must be a positive number, got {self.w_factor!r}")
        check_positive_int(self.sample_size, "sample_size")
        check_int(self.seed, "seed", low=0)

    def _fit(self, X: np.ndarray) -> None:
        k, L = int(self.n_hashes), int(self.n_tables)
        self.X_ = X
        self.w_ = float(self.w) if self.w is not None else self._estimate_w(X)
        streams = np.random.SeedSequence(self.seed).spawn(L)
        self.shifts_ = np.stack([np.random.default_rng(s).uniform(0.0, self.w_, (k, X.shape[1]))
                                 for s in streams])
        self._prepare()
        self.sorted_g_ = np.empty((L, len(X)), dtype=np.int64)
        self.order_ = np.empty((L, len(X)), dtype=np.int64)
        G = self._hash(X)
        for t, stream in enumerate(streams):
            # a random order inside each bucket: a candidate cap then keeps a random
            # subset instead of favouring small ids
            perm = np.random.default_rng(stream.spawn(1)[0]).permutation(len(X))
            order = perm[np.argsort(G[perm, t], kind="stable")]
            self.order_[t] = order
            self.sorted_g_[t] = G[order, t]

    def _estimate_w(self, X: np.ndarray) -> float:
        """``w_factor`` x the mean L1 distance from sampled vectors to their nearest other."""
        rng = np.random.default_rng(self.seed)
        sample = rng.choice(len(X), size=min(len(X), self.sample_size), replace=False)
        if len(X) < 2:
            return 1.0
        D, I = topk(*as_pair(X[sample], X, "l1"), 2, "l1")
        nn = np.where(I[:, 0] == sample, D[:, 1], D[:, 0])
        mean = float(nn.mean())
        return self.w_factor * mean if mean > 0 else 1.0

    def _prepare(self) -> None:
        """Per-dimension weights m**(d-1-j) mod M, and for uint8 the step tables."""
        # the fitted tables, not the constructor parameters, which may change after fit
        self._L, self._k = self.shifts_.shape[:2]
        bits = 32 // self._k
        self._mask = (1 << bits) - 1
        self._bits = bits
        d = self.shifts_.shape[2]
        self._r = np.array([pow(_M_BASE, d - 1 - j, 1 << bits) for j in range(d)], dtype=np.int64)
        if self.dtype_ != "uint8":
            return
        self._steps = []
        values = np.arange(256, dtype=np.float64)
        for t in range(self._L):
            a = np.floor((values - self.shifts_[t][..., None]) / self.w_).astype(np.int64)
            base = (a[:, :, 0] * self._r).sum(axis=1)           # hash of the all-zero image
            i, j, v = np.nonzero(np.diff(a, axis=2))             # a steps between v and v+1
            delta = (a[i, j, v + 1] - a[i, j, v]) * self._r[j]
            weights = np.zeros((len(i), self._k), dtype=np.int64)
            weights[np.arange(len(i)), i] = delta
            self._steps.append((base, j, (v + 1).astype(np.uint8), weights))

    def _hash(self, X: np.ndarray) -> np.ndarray:
        """g of every row in every table: int64 (len(X), L), values < 2**32."""
        out = np.empty((len(X), self._L), dtype=np.int64)
        k = self._k
        shifts = [1 << (self._bits * i) for i in range(k)]
        for t in range(self._L):
            if self.dtype_ == "uint8":
                base, cols, thresholds, weights = self._steps[t]
                rows = max(1, _CHUNK // max(1, len(cols)))
                h = np.empty((len(X), k), dtype=np.int64)
                for s in range(0, len(X), rows):
                    crossed = (X[s:s + rows, cols] >= thresholds).astype(np.int64)
                    h[s:s + rows] = base + crossed @ weights
            else:
                h = self._hash_dense(X, t)
            out[:, t] = ((h & self._mask) * np.array(shifts, dtype=np.int64)).sum(axis=1)
        return out

    def _hash_dense(self, X: np.ndarray, t: int) -> np.ndarray:
        """The k hash sums of table t straight from the formula (any dtype)."""
        k, d = self._k, X.shape[1]
        h = np.empty((len(X), k), dtype=np.int64)
        rows = max(1, _CHUNK // (k * d))
        for s in range(0, len(X), rows):
            x = X[s:s + rows, None, :].astype(np.float64)
            a = np.floor((x - self.shifts_[t][None]) / self.w_).astype(np.int64)
            h[s:s + rows] = (a * self._r).sum(axis=2)  # wraps mod 2**64; low bits exact
        return h

    # ----------------------------------------------------------------- search

    def _search(self, Q: np.ndarray, k: int, max_candidates: int | None = None):
        cap = -1 if max_candidates is None else check_positive_int(max_candidates, "max_candidates")
        n = self.n_
        G = self._hash(Q)
        lo = np.empty_like(G)
        hi = np.empty_like(G)
        for t in range(self._L):
            lo[:, t] = np.searchsorted(self.sorted_g_[t], G[:, t], side="left")
            hi[:, t] = np.searchsorted(self.sorted_g_[t], G[:, t], side="right")
        # the first `cap` members of a bucket are distinct, so a longer bucket can
        # never add to what is checked: cut it here to bound memory
        lens = hi - lo if cap < 0 else np.minimum(hi - lo, cap)
        starts = lo + np.arange(self._L) * n   # positions in order_.ravel()
        order = self.order_.ravel()
        D = np.empty((len(Q), k))
        I = np.empty((len(Q), k), dtype=np.int64)
        checked = np.empty(len(Q), dtype=np.int64)
        Qc, Xc = as_pair(Q, self.X_, "l1")
        per_query = lens.sum(axis=1)
        for a, b in _chunks(per_query, _RAW_CANDIDATES):
            seg_len = lens[a:b].ravel()
            indptr = np.concatenate([[0], np.cumsum(lens[a:b].sum(axis=1))])
            seg_start = np.concatenate([[0], np.cumsum(seg_len)[:-1]])
            pos = np.repeat(starts[a:b].ravel() - seg_start, seg_len) + np.arange(seg_len.sum())
            D[a:b], I[a:b], checked[a:b] = topk_candidates(
                Qc[a:b], Xc, indptr, order[pos], k, "l1", cap)
        return finish(D, "l1"), I, checked

    # ------------------------------------------------------------- save/load

    def _state(self) -> dict:
        return {"X": self.X_, "w": np.array(self.w_), "shifts": self.shifts_,
                "sorted_g": self.sorted_g_, "order": self.order_}

    def _set_state(self, arrays: dict) -> None:
        self.X_ = arrays["X"]
        self.w_ = float(arrays["w"])
        self.shifts_ = arrays["shifts"]
        self.sorted_g_ = arrays["sorted_g"]
        self.order_ = arrays["order"]
        self._prepare()


def _chunks(sizes: np.ndarray, limit: int):
    """Consecutive (start, stop) ranges whose sizes sum to at most ``limit`` (or one item)."""
    start, total = 0, 0
    for i, s in enumerate(sizes.tolist()):
        if total + s > limit and i > start:
            yield start, i
            start, total = i, 0
        total += s
    yield start, len(sizes)
