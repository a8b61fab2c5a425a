"""imsim's embarrassingly parallel jobs as engine tasks.

With the ``local`` engine each job runs today's code in this process; with a
distributed engine it is split into tasks (about ``_TASKS_PER_WORKER`` per worker, so
a slow or lost worker delays little) and the results are merged exactly:

* :func:`exact_knn` -- exact top-k (ground truth): data blocks against all queries,
  merged by (distance, id), equal to :class:`~imsim.search.ExactIndex` bit for bit;
* :func:`cluster_sums` -- the silhouette's per-cluster distance sums in row blocks
  (called by :func:`imsim.cluster.silhouettes` with ``engine=``);
* :func:`emd_chunks` -- exact EMD k-NN split by queries, pruning kept (called by
  :func:`imsim.distances.emd.emd_knn` with ``engine=``);
* :func:`encode_images` / :func:`encode_files` -- decode + encode on the workers
  (``imsim reduce``, ``imsim index``).

Every task carries paths and row ranges where the input is a file; training never
runs here (train on a sample, locally).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .._validation import check_positive_int
from . import using
from .blocks import Block, row_ranges, split

__all__ = ["exact_knn", "cluster_sums", "emd_chunks", "encode_images", "encode_files",
           "merge_topk"]

_TASKS_PER_WORKER = 3


def _n_tasks(engine) -> int:
    return max(1, engine.n_workers * _TASKS_PER_WORKER)


# --------------------------------------------------------------- exact top-k

def merge_topk(parts, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact merge of per-block answers ``[(D, I), ...]`` (global ids, -1 pads):
    the k best of each row by (distance, id), as one search over all rows gives."""
    from ..search.base import sort_rows

    D = np.concatenate([p[0] for p in parts], axis=1)
    I = np.concatenate([p[1] for p in parts], axis=1)
    D, I = sort_rows(D, I)
    return np.ascontiguousarray(D[:, :k]), np.ascontiguousarray(I[:, :k])


def _vectors(source) -> np.ndarray:
    if isinstance(source, (str, Path)):
        from ..datasets import read_images

        source = read_images(source)
    source = np.asarray(source)
    return source.reshape(len(source), -1)


def _knn_block(block: Block, Q: np.ndarray, k: int, metric: str):
    from ..search import ExactIndex

    rows = block.load()
    D, I = ExactIndex(metric).fit(rows.reshape(len(rows), -1)).search(Q, k)
    return D, np.where(I >= 0, I + block.lo, -1)


def exact_knn(queries, data, k: int = 10, metric: str = "l1", *, engine=None):
    """Exact k nearest data rows of every query (ties to the smaller id).

    Parameters
    ----------
    queries : ndarray of shape (nq, d) or (nq, H, W), or path of an idx images file
    data : ndarray of shape (n, d) or (n, H, W), or path of an idx images file; with
        a distributed engine each worker reads only its own block of the file.
    k : int >= 1 (more than n pads with id -1 and distance +inf)
    metric : {"l1", "l2", "cosine"}
    engine : None, "local", "dask" or an Engine

    Returns
    -------
    D : ndarray of shape (nq, k), float32; I : ndarray of shape (nq, k), int64
    """
    from ..search import ExactIndex

    Q = _vectors(queries)
    with using(engine) as eng:
        if not eng.distributed:
            return ExactIndex(metric).fit(_vectors(data)).search(Q, k)
        k = check_positive_int(k, "k")
        blocks, _ = split(data, _n_tasks(eng))
        # the dimension and dtype checks of a search, up front, on the first data row
        first = Block(0, 1, path=blocks[0].path, rows=None if blocks[0].rows is None else blocks[0].rows[:1])
        Q = ExactIndex(metric).fit(first.load().reshape(1, -1))._check_queries(Q)
        parts = eng.map(_knn_block, blocks, eng.put(Q), k, metric)
    return merge_topk(parts, k)


# --------------------------------------------------------------- silhouette

def _sums_task(ranges, X, labels, k: int, metric: str):
    from ..cluster.silhouette import _add_block

    sums = None
    for s, e in ranges:
        sums = _add_block(sums, X, labels, k, s, e, metric)
    return sums


def cluster_sums(engine, X: np.ndarray, labels: np.ndarray, k: int, metric: str,
                 rows: int) -> np.ndarray:
    """The silhouette's sums ``S[i, c]`` (N, k) on ``engine``: the row blocks of ``rows``
    rows are dealt to tasks of about equal work (the upper triangle makes early blocks
    dearer); each task returns its (N, k) partial sums, added in task order."""
    n = len(X)
    starts = list(range(0, n, rows))
    work = np.array([(min(n, s + rows) - s) * (n - s) for s in starts], dtype=np.float64)
    cut = np.searchsorted(np.cumsum(work), np.linspace(0, work.sum(), _n_tasks(engine) + 1)[1:-1])
    groups = [g for g in np.split(np.arange(len(starts)), cut) if len(g)]
    tasks = [[(starts[i], min(n, starts[i] + rows)) for i in g] for g in groups]
    parts = engine.map(_sums_task, tasks, engine.put(X), engine.put(labels), k, metric)
    total = parts[0]
    for p in parts[1:]:
        total += p
    return total


# --------------------------------------------------------------- EMD k-NN

def _emd_task(task, searcher, k: int):
    from threadpoolctl import threadpool_limits

    from ..distances.emd import _run_chunk

    Q, cands = task
    with threadpool_limits(1):  # the products are small: one BLAS thread per worker
        return _run_chunk(searcher, Q, cands, k)


def emd_chunks(engine, searcher, Wq: np.ndarray, cands, k: int) -> list:
    """Per-query results ``(d, ids, n_exact)`` of the EMD k-NN, queries split into
    chunks; the data signatures (``searcher``) are sent once to each worker."""
    chunks = row_ranges(len(Wq), max(_n_tasks(engine), len(Wq) // 16))
    tasks = [(Wq[a:b], None if cands is None else cands[a:b]) for a, b in chunks]
    return [r for part in engine.map(_emd_task, tasks, engine.put(searcher), k) for r in part]


# --------------------------------------------------------------- encoding

def _stamp(model_dir) -> tuple:
    return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in Path(model_dir).iterdir()))


@functools.lru_cache(maxsize=2)
def _cached_model(model_dir: str, input_shape, stamp, collection: bool):
    """A worker loads each model once (the stamp sees a rewritten checkpoint), with the
    loader of the collection build or of ``imsim reduce``."""
    if collection:
        from ..collection import _model as cmodel

        return cmodel.load_model(Path(model_dir), input_shape)
    from ..models import load_checkpoint

    return load_checkpoint(model_dir, expect_input_shape=input_shape, architecture="ConvAutoencoder")


def _model(model_dir, input_shape, collection: bool = False):
    return _cached_model(str(model_dir), None if input_shape is None else tuple(input_shape),
                         _stamp(model_dir), collection)


def _encode_block(block: Block, model_dir: str, input_shape):
    from ..embed import encode

    return encode(_model(model_dir, input_shape), block.load(), progress=False)


def encode_images(model_dir, images, *, engine=None, input_shape=None) -> np.ndarray:
    """Latents float32 (N, latent_dim) of an idx images file (or a uint8 array) under the
    checkpoint in ``model_dir``; each worker loads the model once and encodes its rows."""
    with using(engine) as eng:
        if not eng.distributed:
            from ..datasets import read_images
            from ..embed import encode

            pixels = read_images(images) if isinstance(images, (str, Path)) else images
            return encode(_model(model_dir, input_shape), pixels, progress=False)
        blocks, _ = split(images, _n_tasks(eng))
        return np.concatenate(eng.map(_encode_block, blocks, str(model_dir), input_shape))


def _encode_paths(paths: list, model_dir: str, size: int, color: bool):
    from ..collection import _model as cmodel
    from ..collection._scan import _read

    pixels = []
    for p in paths:
        *_, pix, _, error = _read(Path(p), size, color, {})
        if error is not None:
            raise ValueError(f"{p}: {error}")
        pixels.append(pix)
    shape = (size, size, 3 if color else 1)
    return cmodel.encode(_model(model_dir, shape, collection=True), np.stack(pixels), progress=False)


def encode_files(engine, model_dir, paths: list, *, size: int, color: bool) -> np.ndarray:
    """Decode and encode image files on the workers (the collection's build hook).

    Each task gets a list of paths (readable by the workers at the same place), decodes
    them exactly as a query is decoded and encodes them with the checkpoint in
    ``model_dir``. Returns float32 (len(paths), latent_dim), in the order of ``paths``.
    """
    chunks = row_ranges(len(paths), max(_n_tasks(engine), len(paths) // 512))
    tasks = [[str(p) for p in paths[a:b]] for a, b in chunks]
    return np.concatenate(engine.map(_encode_paths, tasks, str(model_dir), size, color))
