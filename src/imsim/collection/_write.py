"""Writing one version of a collection: scan, (train,) encode, index, cache, commit.

:func:`write_version` is what :meth:`Collection.build`, :meth:`~Collection.update` and
:meth:`~Collection.index` run; the staging folder and the atomic swap are
:mod:`imsim.collection._store`'s.
"""
from __future__ import annotations

import shutil
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from .. import __version__
from .._text import safe_name
from . import _model, _store, _thumbs
from ._guard import check_write_args as _check_write_args
from ._scan import scan
from ._settings import CollectionSettings, IndexReport

_CACHE_BATCH = 4096  # queries per index search while filling the neighbour cache


def write_version(cls, root: Path, photos: Path, settings: CollectionSettings, *, previous,
                  model, training: dict, workers, progress, engine=None):
    """Scan, (train,) encode, index, cache, and commit one new version; return it opened
    (``cls(root, version)``, ``cls`` being :class:`Collection`) with ``last_index`` set."""
    start = time.perf_counter()
    photos = photos.resolve()
    trains = previous is None and model is None
    _check_write_args(photos, workers, training, trains=trains)
    with _store.write_lock(root):
        _store.prune_versions(root)
        # the scan's one decode of each new photo also makes its thumbnails, written
        # into the version being staged as they come
        staging = _store.new_staging_dir(root)
        spool = _thumbs.Spool(staging)
        try:
            # the workers of a distributed engine decode the files they encode: the scan
            # then reads headers only, unless the encoder is fitted here on the decoded photos
            res = scan(photos, size=settings.size, color=settings.color,
                       labels_from_subdirs=settings.labels_from_subdirs,
                       previous=previous.records() if previous is not None else None,
                       previous_skipped=_store.read_skipped(previous._con) if previous is not None else None,
                       workers=workers, progress=progress, exclude=[root],
                       decode=trains or not _model.distributed(engine), thumbnails=spool)
            _store.fault_point("after-scan")
            for s in res.skipped:
                warnings.warn(f"skipping {safe_name(s.path)}: {safe_name(s.reason)}", stacklevel=3)
            if not res.records:
                raise ValueError(f"no readable images in {photos}"
                                 + (f" ({len(res.skipped)} skipped, first: {res.skipped[0].path}: "
                                    f"{res.skipped[0].reason})" if res.skipped else ""))
            if previous is not None and _unchanged(previous, photos, res):
                spool.close()
                shutil.rmtree(staging, ignore_errors=True)
                version = previous.version
            else:
                version = _commit(root, staging, spool, photos, settings, res, previous=previous,
                                  model=model, training=training, progress=progress, engine=engine)
        except BaseException:
            spool.close()
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _store.prune_versions(root)
    coll = cls(root, version)
    coll.last_index = IndexReport(
        new=res.counts["new"], changed=res.counts["changed"], unchanged=res.counts["unchanged"],
        deleted=res.counts["deleted"], encoded=res.counts["encoded"],
        skipped=[(s.path, s.reason) for s in res.skipped],
        trained=previous is None and model is None,
        seconds=time.perf_counter() - start, version=version)
    return coll


def _commit(root: Path, staging: Path, spool, photos: Path, settings: CollectionSettings, res, *,
            previous, model, training: dict, progress, engine=None) -> str:
    """Write the scanned state into ``staging`` (which holds the scan's thumbnails,
    ``spool``) as a new version and make it current; returns its name."""
    model_dir = staging / "model"
    if previous is not None:
        net = previous.model
        _store.link_or_copy_tree(previous._dir / "model", model_dir)
        provenance = previous.manifest["model"]
        encoder = previous.manifest.get("encoder") or {"name": previous.encoder_name}
    elif model is not None:
        src = _model.resolve_model_dir(model)
        net = _model.load_model(src, settings.input_shape)
        _store.link_or_copy_tree(src, model_dir)
        provenance = {"source": "given", "from": str(Path(model).resolve())}
        encoder = {"name": net.name, "requested": "given", "why": f"--model {model}"}
    else:
        net, encoder = _model.train(res.pixels, settings, training, progress)
        _model.save_model(model_dir, net)
        provenance = {"source": "trained", "n_images": len(res.records), **training}
    _store.fault_point("after-model")
    latents = _assemble_latents(res, net, previous, settings, progress,
                                _encode_on_engine(engine, model_dir, photos, res, settings,
                                                  previous))
    # encoded: the rest of the build does not hold them (1.2 GB at 100,000 photos)
    res.pixels = np.empty((0,) + res.pixels.shape[1:], dtype=np.uint8)
    _store.fault_point("after-encode")
    encoder["dim"] = int(latents.shape[1])
    settings = replace(settings, latent_dim=int(latents.shape[1]))
    index = _model.make_index(settings.metric, latents, engine)
    _model.save_index(index, staging)
    ids, dist = _neighbour_cache(index, latents, settings.n_cached)
    _store.save_array(staging / "latents.npy", latents)
    _store.save_array(staging / "neighbors_ids.npy", ids)
    _store.save_array(staging / "neighbors_dist.npy", dist)
    _store.fault_point("after-arrays")
    _store.write_metadata(staging / "images.sqlite", res.records, res.skipped)
    _thumbs.write(staging, photos, res.records, previous, progress=progress, spool=spool)
    _store.write_json(staging / "manifest.json", {
        "imsim_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "photos_root": str(photos), "settings": asdict(settings),
        "n_images": len(res.records), "n_skipped": len(res.skipped),
        "model": provenance, "training": training, "encoder": encoder,
    })
    return _store.commit_version(root, staging)


def _unchanged(previous, photos: Path, res) -> bool:
    """True when a scan found exactly the previous version's files and skipped files."""
    return (res.counts["encoded"] == 0 and str(photos) == str(previous.photos_root)
            and res.records == previous.records()
            and res.skipped == _store.read_skipped(previous._con))


def _encode_on_engine(engine, model_dir: Path, photos: Path, res, settings, previous=None
                      ) -> np.ndarray | None:
    """The vectors of the files to encode, made by the model in ``model_dir`` on a
    distributed engine's workers; None locally (:func:`_assemble_latents` encodes).

    Photos the scan decoded (to fit the encoder) are sent to the workers in blocks
    (:func:`_model.encode_pixels`); otherwise each worker decodes its files itself
    (:func:`_model.encode_files`), and a file that fails there is skipped as the scan
    would have skipped it (``res`` is updated)."""
    if not _model.distributed(engine) or not (res.reuse < 0).any():
        return None
    from ..engine import using

    new = np.flatnonzero(res.reuse < 0)
    with using(engine) as eng:
        if len(res.pixels):
            return _model.encode_pixels(eng, model_dir, res.pixels, size=settings.size,
                                        color=settings.color)
        paths = [photos / res.records[i].path for i in new]
        latents, dims, failed = _model.encode_files(eng, model_dir, paths, size=settings.size,
                                                    color=settings.color)
    _drop_failed(res, new, dims, failed, {r.path for r in previous.records()} if previous else set())
    return latents if len(latents) else None  # none decoded: nothing new to encode


def _drop_failed(res, new: np.ndarray, dims: list, failed: list, old_paths: set) -> None:
    """Fold the workers' decoding into the scan result ``res``: the upright size of each
    new record (``dims``, in order of the records that decoded), and the records that
    could not be decoded (``failed``: position in ``new``, reason) moved to the skipped,
    counted as the scan counts a file it cannot decode (a changed one is also deleted)."""
    bad = dict(failed)
    ok = [i for j, i in enumerate(new) if j not in bad]
    for i, (width, height) in zip(ok, dims):
        res.records[i] = replace(res.records[i], width=width, height=height)
    if not bad:
        return
    gone = {int(new[j]) for j in bad}
    for j, reason in sorted(bad.items()):
        rec = res.records[new[j]]
        res.skipped.append(_store.SkippedFile(rec.path, rec.size, rec.mtime_ns, reason))
        if rec.path in old_paths:
            res.counts["changed"] -= 1
            res.counts["deleted"] += 1
        else:
            res.counts["new"] -= 1
        warnings.warn(f"skipping {safe_name(rec.path)}: {safe_name(reason)}", stacklevel=4)
    keep = [i for i in range(len(res.records)) if i not in gone]
    res.records = [res.records[i] for i in keep]
    res.reuse = res.reuse[keep]
    res.skipped.sort(key=lambda s: s.path)
    res.counts["encoded"] -= len(gone)
    res.counts["skipped"] += len(gone)
    if not res.records:
        raise ValueError(f"no readable images ({len(res.skipped)} skipped, first: "
                         f"{res.skipped[0].path}: {res.skipped[0].reason})")


def _assemble_latents(res, net, previous, settings: CollectionSettings, progress,
                      fresh: np.ndarray | None = None) -> np.ndarray:
    """Latents in record order: reused rows from ``previous``, the rest encoded now
    (or ``fresh``, encoded elsewhere)."""
    dim = previous.latents.shape[1] if previous is not None else None
    if fresh is None:
        fresh = (_model.encode(net, res.pixels, progress=progress) if len(res.pixels)
                 else np.zeros((0, dim or settings.latent_dim), dtype=np.float32))
    if dim is not None and fresh.shape[1] != dim:
        raise ValueError(f"the model makes {fresh.shape[1]}-dimensional latents, the collection "
                         f"holds {dim}-dimensional ones")
    out = np.empty((len(res.records), fresh.shape[1]), dtype=np.float32)
    reused = res.reuse >= 0
    if reused.any():
        out[reused] = np.asarray(previous.latents)[res.reuse[reused]]
    out[~reused] = fresh
    return out


def _neighbour_cache(index, latents: np.ndarray, n_cached: int) -> tuple[np.ndarray, np.ndarray]:
    """Each image's ``n_cached`` nearest other images, found with ``index`` in batches.

    Memory stays O(batch x n_cached): the N x N distance matrix is never formed.
    Returns ids int64 (N, n_cached) padded with -1 and distances float32 padded with inf.
    """
    n = len(latents)
    ids = np.full((n, n_cached), -1, dtype=np.int64)
    dist = np.full((n, n_cached), np.inf, dtype=np.float32)
    k = min(n_cached + 1, n)
    width = min(n_cached, k)
    for start in range(0, n, _CACHE_BATCH):
        stop = min(start + _CACHE_BATCH, n)
        D, I = index.search(np.ascontiguousarray(latents[start:stop]), k)
        not_self = I != np.arange(start, stop)[:, None]
        # a stable sort moves the query itself (at most one column) to the end
        order = np.argsort(~not_self, axis=1, kind="stable")[:, :width]
        rows = np.arange(stop - start)[:, None]
        picked = not_self[rows, order]
        ids[start:stop, :width] = np.where(picked, I[rows, order], -1)
        dist[start:stop, :width] = np.where(picked, D[rows, order], np.inf)
    return ids, dist
