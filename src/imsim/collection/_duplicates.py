"""Duplicates over a whole collection (what ``imsim duplicates`` prints), in four tiers.

* ``identical``: the same bytes (the SHA-256 every record stores), whatever the
  vectors say; always found.
* ``same pixels``: the same decoded pixels in another file (a PNG and its lossless
  WebP, a re-save): candidates with (almost) equal vectors and the same size,
  decoded and compared.
* ``near``: edited versions of one picture (crop, resize, exposure, JPEG, small
  rotation). A pair is a *candidate* when one photo is among the other's
  :data:`N_CANDIDATES` nearest and their distance is at most the encoder's absolute
  threshold (:data:`THRESHOLD`, calibrated on real pictures by
  ``benchmarks/photos.py --real``); a candidate counts only once its local features
  agree on one geometric transform and its aligned pixels agree
  (:mod:`imsim.collection._verify`). A photo none of whose candidates verified has
  :data:`N_MORE` further neighbours checked (a crop whose nearest are other pictures
  of the same palette).
* ``mirrored``: a near pair whose transform is a mirror image (a horizontal flip,
  with any crop or exposure change). Found and shown like the others, but not
  listed for removal unless asked (``to_remove(..., mirrored=True)``): a flip can be
  a deliberate, different picture (a ``b`` and a ``d`` in one font, a left and a
  right arrow), and nothing in the pixels tells that from an edit.

Groups are the connected components of the accepted pairs. A folder-relative
threshold (the old default: ``BETA`` x the median distance to the 16th neighbour)
is kept as an explicit option (``relative=True``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TIERS = ("identical", "same pixels", "near", "mirrored")
N_CANDIDATES = 5  # nearest neighbours of each photo checked as candidates
N_MORE = 3  # further neighbours checked for a photo none of whose N_CANDIDATES verified
SAME_PIXELS_DISTANCE = 0.05  # vectors this close (l2, unit vectors), same size: decoded and compared

# Candidate thresholds: l2 distance between unit vectors (cosine distance = l2**2 / 2;
# 1.35 is a cosine of 0.09): loose, since verification decides and N_CANDIDATES bounds
# its cost; chosen on the development folders of benchmarks/photos.py --real (a
# landscape wallpaper and its portrait crop are 1.27-1.32 apart).
THRESHOLD = {"features": 1.35, "thumbnail": 1.35}
_THRESHOLD_OTHER = 1.0  # learned and pretrained encoders: not calibrated, a middle value

# The relative mode (``relative=True``): BETA[encoder] x the median distance from a
# photo to its 16th nearest other photo.
BETA = {"features": 0.75, "thumbnail": 0.65, "contrastive": 0.20, "autoencoder": 0.5}
_BETA_OTHER = 0.6
REFERENCE_RANK = 16


def _family(encoder: str) -> str:
    return encoder.split(":", 1)[0]


def beta_of(encoder: str) -> float:
    """The relative threshold factor of ``encoder`` (its family for ``torchvision:NAME`` etc.)."""
    return BETA.get(_family(encoder), _BETA_OTHER)


def in_metric(l2: float, metric: str) -> float:
    """An l2 distance between unit vectors in ``metric`` (cosine: 1 - cos = l2**2 / 2)."""
    return l2 * l2 / 2 if metric == "cosine" else l2


def vector_similarity(distance: float, metric: str) -> float:
    """The cosine similarity of two unit vectors ``distance`` apart (0.0 for l1, which
    does not give one), clipped to [0, 1]."""
    if metric == "l1":
        return 0.0
    cos = 1.0 - (distance if metric == "cosine" else distance * distance / 2)
    return round(min(1.0, max(0.0, cos)), 3)


def absolute_threshold(encoder: str, metric: str) -> float:
    """The candidate threshold of ``encoder`` in ``metric`` (see :data:`THRESHOLD`)."""
    return in_metric(THRESHOLD.get(_family(encoder), _THRESHOLD_OTHER), metric)


def reference_distance(neighbor_dist: np.ndarray) -> tuple[float, int]:
    """The median distance from a photo to its 16th nearest other photo (or the deepest
    cached one when fewer), and that rank; ``(0.0, 0)`` when no photo has a neighbour.

    ``neighbor_dist`` : (n, n_cached) cached distances, nearest first, inf padding.
    """
    d = np.asarray(neighbor_dist)
    if d.size == 0:
        return 0.0, 0
    rank = min(REFERENCE_RANK, d.shape[1])
    col = d[:, rank - 1]
    finite = np.isfinite(col)
    if not finite.any():
        depth = np.isfinite(d).sum(axis=1)
        rank = int(depth.max())
        if rank == 0:
            return 0.0, 0
        col = np.where(np.isfinite(d), d, -np.inf).max(axis=1)
        finite = depth > 0
    return float(np.median(col[finite])), rank


def relative_threshold(encoder: str, metric: str, neighbor_dist: np.ndarray) -> tuple[float, str]:
    """The folder-relative threshold and how it was chosen, in words."""
    ref, rank = reference_distance(neighbor_dist)
    beta = beta_of(encoder)
    factor = beta * beta if metric == "cosine" else beta
    if rank == 0:
        return 0.0, "relative to the folder; no photo has another photo to compare with"
    return factor * ref, (f"relative to the folder: {factor:.2f} x the median distance from a "
                          f"photo to its {ordinal(rank) + ' ' if rank > 1 else ''}nearest other photo")


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ..., ``11th``, ``12th``, ``13th``, ``21st``, ..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@dataclass(frozen=True)
class Pair:
    """Two photos found to be duplicates.

    Attributes
    ----------
    a, b : int
        Image ids, ``a < b``.
    tier : {"identical", "same pixels", "near", "mirrored"}
    similarity : float
        In [0, 1]: 1.0 for identical and same pixels; for a verified near pair,
        1 - the worst cell's difference of the aligned, exposure-normalised photos;
        for an unverified one, 1 - the vectors' cosine distance.
    distance : float
        The vectors' distance in the collection's metric.
    inliers : int
        Local features that agree on one transform (0 when not verified).
    flipped : bool
        The transform includes a mirror image (the tier is then ``mirrored``).
    """

    a: int
    b: int
    tier: str
    similarity: float
    distance: float
    inliers: int = 0
    flipped: bool = False

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "tier": self.tier, "similarity": self.similarity,
                "distance": round(self.distance, 6), "inliers": self.inliers,
                "flipped": self.flipped}


def group_pairs(n: int, pairs: list[Pair]) -> list[list[int]]:
    """Connected components (size >= 2) of ``pairs`` among ``n`` images: sorted id
    lists, largest first (ties: smallest id)."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for p in pairs:
        ra, rb = find(p.a), find(p.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, list[int]] = {}
    for i in sorted({i for p in pairs for i in (p.a, p.b)}):
        members.setdefault(find(i), []).append(i)
    groups = [g for g in members.values() if len(g) > 1]
    groups.sort(key=lambda g: (-len(g), g[0]))
    return groups


KEEP = ("largest", "newest", "oldest", "first")


@dataclass(frozen=True)
class Duplicates:
    """Duplicate photos of one collection version, in groups.

    Attributes
    ----------
    threshold : float
        Largest vector distance (in ``metric``) of a near-duplicate candidate.
    metric : str
        The collection's metric.
    groups : list of list of int
        Image ids, each group sorted ascending, largest group first.
    relpaths : list of list of str
        The members' paths relative to the photos folder, in the order of ``groups``.
    tiers : list of str
        Each group's tier: the loosest of its pairs' (``identical`` < ``same pixels``
        < ``near`` < ``mirrored``).
    similarity : list of float
        Each group's lowest pair similarity.
    pairs : list of Pair
        Every accepted pair, by group.
    basis : str
        How the threshold was chosen, in words.
    verified : bool
        Near pairs were geometrically verified.
    checked : int
        Candidate pairs examined (verified, or compared pixel by pixel).
    skipped : list of (str, str)
        ``(relpath, reason)`` of photos that could not be read while verifying.
    """

    threshold: float
    metric: str
    groups: list[list[int]]
    relpaths: list[list[str]] = field(repr=False, default_factory=list)
    tiers: list[str] = field(default_factory=list)
    similarity: list[float] = field(default_factory=list)
    pairs: list[Pair] = field(repr=False, default_factory=list)
    basis: str = field(repr=False, default="given")
    verified: bool = True
    checked: int = 0
    skipped: list[tuple[str, str]] = field(repr=False, default_factory=list)

    def __len__(self) -> int:
        return len(self.groups)

    @property
    def n_images(self) -> int:
        """Images that belong to a group."""
        return sum(len(g) for g in self.groups)

    def to_dict(self) -> dict:
        """The JSON answer: threshold, metric, basis, verified, checked, groups (ids,
        relpaths, tier, similarity), pairs, the imagededup-style ``map``, skipped."""
        return {"threshold": self.threshold, "metric": self.metric, "basis": self.basis,
                "verified": self.verified, "checked": self.checked,
                "groups": [{"ids": list(g), "relpaths": list(r), "tier": t, "similarity": s}
                           for g, r, t, s in zip(self.groups, self.relpaths, self.tiers,
                                                 self.similarity)],
                "pairs": [p.to_dict() for p in self.pairs],
                "map": self.to_map(),
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped]}

    def to_map(self) -> dict[str, list[str]]:
        """``{relpath: [relpaths of its duplicates]}`` for every photo in a group
        (imagededup's ``find_duplicates`` answer)."""
        out: dict[str, list[str]] = {}
        for rel in self.relpaths:
            for r in rel:
                out[r] = [o for o in rel if o != r]
        return out

    def to_remove(self, records, keep: str = "largest", *, mirrored: bool = False) -> list[str]:
        """The relpaths to remove so that one photo of each group is kept.

        A photo is listed only when it was found a duplicate of the kept photo itself
        (a pair, or the same bytes), never only through a chain of others: in a group
        a - b - c, c stays unless it matched the kept a directly. A mirror image of
        the kept photo is listed only with ``mirrored=True``.

        Parameters
        ----------
        records : list of ImageRecord
            The collection's records, in id order (``Collection.records()``).
        keep : {"largest", "newest", "oldest", "first"}
            Which photo of a group stays: the most pixels (then the most bytes),
            the latest or earliest modification time, or the first path in sort order.
            Ties go to the first path.
        mirrored : bool
            Also list the photos that are the kept one's mirror image (``mirrored`` pairs).
        """
        if keep not in KEEP:
            raise ValueError(f"keep must be one of {', '.join(KEEP)}; got {keep!r}")
        key = {"largest": lambda i: (-records[i].width * records[i].height, -records[i].size,
                                     records[i].path),
               "newest": lambda i: (-records[i].mtime_ns, records[i].path),
               "oldest": lambda i: (records[i].mtime_ns, records[i].path),
               "first": lambda i: (records[i].path,)}[keep]
        pairs = [p for p in self.pairs if mirrored or p.tier != "mirrored"]
        linked = {(p.a, p.b) for p in pairs} | {(p.b, p.a) for p in pairs}
        out = []
        for g in self.groups:
            kept = min(g, key=key)
            out += [records[i].path for i in g if i != kept and (
                (kept, i) in linked or records[i].sha256 == records[kept].sha256)]
        return sorted(out)


def _pairs_of(found) -> set[tuple[str, str]]:
    """The unordered path pairs of a Duplicates, a ``{file: [dups]}`` map, or a list of groups."""
    if isinstance(found, Duplicates):
        groups = found.relpaths
    elif isinstance(found, dict):
        groups = [[k, *v] for k, v in found.items()]
    else:
        groups = [list(g) for g in found]
    out = set()
    for g in groups:
        g = sorted(set(map(str, g)))
        out |= {(x, y) for i, x in enumerate(g) for y in g[i + 1:]}
    return out


def _groups_of(pairs: set[tuple[str, str]]) -> set[frozenset]:
    names = sorted({x for p in pairs for x in p})
    index = {x: i for i, x in enumerate(names)}
    comps = group_pairs(len(names), [Pair(*sorted((index[x], index[y])), "near", 0.0, 0.0)
                                     for x, y in pairs])
    return {frozenset(names[i] for i in g) for g in comps}


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def evaluate_duplicates(truth, found) -> dict[str, float | int]:
    """Score found duplicates against a ground truth.

    Parameters
    ----------
    truth, found : Duplicates, dict or list
        A :class:`Duplicates`, an imagededup-style ``{file: [its duplicates]}`` map
        (files with no duplicates may be left out or map to ``[]``), or a list of
        groups of file names. Names must be spelt alike in both (relpaths).

    Returns
    -------
    dict
        ``pair_precision``, ``pair_recall``, ``pair_f1`` over the unordered pairs that
        share a group (transitively closed), ``group_precision`` (found groups equal
        to a true group), ``group_recall`` (true groups found exactly), ``group_f1``,
        and the counts ``true_pairs``, ``found_pairs``, ``true_groups``,
        ``found_groups``. Precision is 1.0 when nothing was found, recall 1.0 when
        there was nothing to find.
    """
    tg, fg = _groups_of(_pairs_of(truth)), _groups_of(_pairs_of(found))
    tp = {(x, y) for g in tg for x in g for y in g if x < y}
    fp = {(x, y) for g in fg for x in g for y in g if x < y}
    hit = len(tp & fp)
    pp = hit / len(fp) if fp else 1.0
    pr = hit / len(tp) if tp else 1.0
    same = len(tg & fg)
    gp = same / len(fg) if fg else 1.0
    gr = same / len(tg) if tg else 1.0
    return {"pair_precision": pp, "pair_recall": pr, "pair_f1": _f1(pp, pr),
            "group_precision": gp, "group_recall": gr, "group_f1": _f1(gp, gr),
            "true_pairs": len(tp), "found_pairs": len(fp),
            "true_groups": len(tg), "found_groups": len(fg)}


def export_duplicates(dup: Duplicates, photos_root, dest, *, copy: bool = False):
    """Put each duplicate group's photos in ``dest/group_NN/`` (symlinks, or copies).

    The same layout and atomic rename as ``imsim groups --export``; returns ``dest``.
    """
    from pathlib import Path

    from ._groups import export_groups
    from ._results import Group, Groups

    n = 1 + max((i for g in dup.groups for i in g), default=-1)
    paths, relpaths = [""] * n, [""] * n
    for g, rel in zip(dup.groups, dup.relpaths):
        for i, r in zip(g, rel):
            paths[i], relpaths[i] = str(Path(photos_root) / r), r
    groups = Groups(groups=[Group(index=j, members=g, representative=g[0])
                            for j, g in enumerate(dup.groups)],
                    k=len(dup.groups), method="duplicates", metric=dup.metric, version="",
                    paths=paths)
    return export_groups(groups, relpaths, dest, copy=copy)
