"""Finding a collection's duplicates: identical files, same pixels, verified near pairs.

The tiers and the thresholds are described in :mod:`imsim.collection._duplicates`;
the geometric check in :mod:`imsim.collection._verify`.
"""
from __future__ import annotations

import numpy as np

from .._progress import progress as _progress
from ..datasets.image import decode_image
from . import _duplicates as D
from . import _verify
from ._query import check_threshold


def _identical(records) -> list[D.Pair]:
    by_sha: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_sha.setdefault(r.sha256, []).append(i)
    return [D.Pair(g[0], j, "identical", 1.0, 0.0) for g in by_sha.values() if len(g) > 1
            for j in g[1:]]


def _candidates(ids: np.ndarray, dist: np.ndarray, threshold: float, depth: int):
    """Unique ``(a, b, distance)`` with b among a's ``depth`` nearest within ``threshold``."""
    ids, dist = np.asarray(ids)[:, :depth], np.asarray(dist)[:, :depth]
    rows = np.broadcast_to(np.arange(len(ids))[:, None], ids.shape)
    ok = (ids >= 0) & (dist <= threshold)
    a, b, d = rows[ok], ids[ok], dist[ok]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    seen: dict[tuple[int, int], float] = {}
    for x, y, z in zip(lo.tolist(), hi.tolist(), d.tolist()):
        if x != y and (x, y) not in seen:
            seen[(x, y)] = z
    return sorted(seen.items())


def _visible(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(premultiplied RGB as uint16, alpha) of (H, W, 3) or (H, W, 4) uint8 pixels: what
    shows on any backdrop (an opaque image's alpha is 255; the colour under a fully
    transparent pixel does not count)."""
    if pixels.shape[-1] == 3:
        return pixels.astype(np.uint16) * 255, np.full(pixels.shape[:2], 255, np.uint8)
    alpha = pixels[..., 3]
    return pixels[..., :3].astype(np.uint16) * alpha[..., None], alpha


def _same_pixels(coll, records, i: int, j: int) -> bool:
    """Whether two photos decode to the same pixels, transparency included: two white
    drawings on transparent canvases are not the same picture though both look white
    on white."""
    ri, rj = records[i], records[j]
    if (ri.width, ri.height) != (rj.width, rj.height):
        return False
    try:
        a = decode_image(coll.photos_root / ri.path, name=ri.path, keep_alpha=True).pixels
        b = decode_image(coll.photos_root / rj.path, name=rj.path, keep_alpha=True).pixels
    except (OSError, ValueError):
        return False
    if a.shape[:2] != b.shape[:2]:
        return False
    (ca, aa), (cb, ab) = _visible(a), _visible(b)
    return bool(np.array_equal(aa, ab) and np.array_equal(ca, cb))


def _verified(cache, near, workers, progress, failed: dict, desc: str = "verifying") -> list[D.Pair]:
    """The pairs of ``near`` (``((a, b), distance)``) that verify, as near or mirrored
    pairs; photos that could not be read are added to ``failed``."""
    if not near:
        return []
    bar = (lambda it: _progress(it, total=len(near), desc=desc, unit="pair", show=progress))
    matches, why = _verify.verify_pairs(cache, [ab for ab, _ in near], workers=workers, progress=bar)
    for i, reason in why.items():
        failed.setdefault(i, reason)
    return [D.Pair(a, b, "mirrored" if m.flipped else "near", m.similarity, d, m.inliers, m.flipped)
            for ((a, b), d), m in zip(near, matches) if m.same_picture]


def find_duplicates(coll, threshold: float | None = None, *, verify: bool = True,
                    relative: bool = False, candidates: int = D.N_CANDIDATES,
                    progress: bool | None = None, workers: int | None = None) -> D.Duplicates:
    """The duplicates of ``coll`` (see :meth:`imsim.Collection.duplicates`)."""
    metric = coll.settings.metric
    records = coll.records()
    n = len(records)
    ids, dist = coll.neighbors()
    encoder = coll.encoder_name
    check_threshold(threshold)
    if threshold is not None:
        basis = "given"
    elif relative:
        threshold, basis = D.relative_threshold(encoder, metric, np.asarray(dist))
    else:
        threshold = D.absolute_threshold(encoder, metric)
        basis = f"the {encoder.split(':', 1)[0]} encoder's calibrated threshold"
    threshold = float(threshold)
    pairs = _identical(records)
    same_sha = {(p.a, p.b) for p in pairs}
    sha = [r.sha256 for r in records]
    def fresh(found):  # candidate pairs not yet looked at, neither identical
        return [(ab, d) for ab, d in found
                if sha[ab[0]] != sha[ab[1]] and ab not in same_sha and ab not in seen]

    seen: set[tuple[int, int]] = set()
    todo = fresh(_candidates(ids, dist, threshold, candidates))
    seen.update(ab for ab, _ in todo)
    near = []
    for (a, b), d in todo:
        if d <= D.in_metric(D.SAME_PIXELS_DISTANCE, metric) and _same_pixels(coll, records, a, b):
            pairs.append(D.Pair(a, b, "same pixels", 1.0, d))
        else:
            near.append(((a, b), d))
    failed: dict[int, str] = {}
    if verify and near:
        cache = _verify.FeatureCache(_verify.photo_source(coll))
        accepted = _verified(cache, near, workers, progress, failed)
        # a photo none of whose candidates verified: its next few neighbours too
        matched = {i for p in pairs + accepted for i in (p.a, p.b)}
        more = [(ab, d) for ab, d in fresh(_candidates(ids, dist, threshold,
                                                        candidates + D.N_MORE))
                if ab[0] not in matched or ab[1] not in matched]
        seen.update(ab for ab, _ in more)
        todo += more
        pairs += accepted + _verified(cache, more, workers, progress, failed,
                                      desc="verifying further neighbours")
    elif near:
        pairs += [D.Pair(a, b, "near", D.vector_similarity(d, metric), d) for (a, b), d in near]
    groups = D.group_pairs(n, pairs)
    where = {i: g for g, members in enumerate(groups) for i in members}
    by_group: list[list[D.Pair]] = [[] for _ in groups]
    for p in sorted(pairs, key=lambda p: (p.a, p.b)):
        by_group[where[p.a]].append(p)
    tiers = [D.TIERS[max(D.TIERS.index(p.tier) for p in ps)] for ps in by_group]
    sims = [min(p.similarity for p in ps) for ps in by_group]
    return D.Duplicates(threshold=threshold, metric=metric, groups=groups,
                        relpaths=[[records[i].path for i in g] for g in groups], tiers=tiers,
                        similarity=sims, pairs=[p for ps in by_group for p in ps], basis=basis,
                        verified=verify, checked=len(todo),
                        skipped=sorted((records[i].path, why) for i, why in failed.items()))
