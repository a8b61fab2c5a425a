"""Near-duplicate groups over a whole collection (what ``imsim duplicates`` prints).

Two photos are near-duplicates when their latent vectors are at most ``threshold``
apart in the collection's metric; groups are the connected components of that
relation (single linkage), so a crop of a resized copy joins the original's group.
The pairs come from the cached neighbour lists; an image whose whole cached list is
within the threshold is searched again, exactly and deeper, so no pair is lost.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# The default threshold is relative: BETA[encoder] x the median distance from an image
# to its 16th nearest other image (its cached neighbour lists). That reference is a
# distance between *different* pictures that still look alike, so the threshold
# follows the folder's own scale (its size, the PCA's dimensions, the metric) where a
# fixed number would not. BETA was calibrated by benchmarks/photos.py --split dev
# --calibrate (precision >= 0.97 with the most recall on the 200- and 5,000-photo
# development folders), never on the evaluation folders.
BETA = {"features": 0.75, "thumbnail": 0.65, "contrastive": 0.20, "autoencoder": 0.5}
_BETA_OTHER = 0.6  # pretrained backbones: not calibrated, a middle value
REFERENCE_RANK = 16


def beta_of(encoder: str) -> float:
    """The threshold factor of ``encoder`` (its family for ``torchvision:NAME`` etc.)."""
    return BETA.get(encoder.split(":", 1)[0], _BETA_OTHER)


def _factor(encoder: str, metric: str) -> float:
    beta = beta_of(encoder)
    return beta * beta if metric == "cosine" else beta


def reference_distance(neighbor_dist: np.ndarray) -> tuple[float, int]:
    """The distance the default threshold is relative to, and the rank it is taken at.

    Parameters
    ----------
    neighbor_dist : ndarray of shape (n, n_cached)
        The cached neighbour distances, nearest first (inf padding).

    Returns
    -------
    distance : float
        The median distance from an image to its ``rank``-th nearest other image.
    rank : int
        16 (:data:`REFERENCE_RANK`), or the deepest cached rank when fewer are cached
        or the collection has fewer other images; 0 (and distance 0.0) when no image
        has a neighbour.
    """
    d = np.asarray(neighbor_dist)
    if d.size == 0:
        return 0.0, 0
    rank = min(REFERENCE_RANK, d.shape[1])
    col = d[:, rank - 1]
    finite = np.isfinite(col)
    if not finite.any():  # fewer images than the reference rank: the deepest neighbour
        depth = np.isfinite(d).sum(axis=1)
        rank = int(depth.max())
        if rank == 0:
            return 0.0, 0
        col = np.where(np.isfinite(d), d, -np.inf).max(axis=1)
        finite = depth > 0
    return float(np.median(col[finite])), rank


def default_threshold(encoder: str, metric: str, neighbor_dist: np.ndarray) -> float:
    """The calibrated duplicate threshold of ``encoder`` for one collection.

    Parameters
    ----------
    encoder : str
        The collection's encoder name.
    metric : {"l2", "cosine", "l1"}
    neighbor_dist : ndarray of shape (n, n_cached)
        The cached neighbour distances (inf padding).

    Returns
    -------
    float
        ``BETA[encoder]`` x the median distance to the 16th neighbour (or the deepest
        cached one, see :func:`reference_distance`), in ``metric``; cosine distances
        (``1 - cos``, which grow as the square of l2 on unit vectors) use ``BETA**2``.
        0 when no image has a neighbour.
    """
    return float(_factor(encoder, metric) * reference_distance(neighbor_dist)[0])


def explain_default(encoder: str, metric: str, neighbor_dist: np.ndarray) -> str:
    """How :func:`default_threshold` was chosen, in words (what ``imsim duplicates``
    prints beside the threshold), with the rank actually used."""
    rank = reference_distance(neighbor_dist)[1]
    if rank == 0:
        return f"the {encoder} encoder's default; no photo has another photo to compare with"
    beta = beta_of(encoder)
    factor = (f" for cosine: {beta:.2f} squared = {beta * beta:.2f}" if metric == "cosine"
              else f": {beta:.2f}")
    return (f"the {encoder} encoder's default{factor} x the median distance from a photo to its "
            f"{ordinal(rank) + ' ' if rank > 1 else ''}nearest other photo")


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ..., ``11th``, ``12th``, ``13th``, ``21st``, ..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@dataclass(frozen=True)
class Duplicates:
    """Groups of near-duplicate images of one collection version.

    Attributes
    ----------
    threshold : float
        Largest distance (in ``metric``) between two members linked directly.
    metric : str
        The collection's metric.
    groups : list of list of int
        Image ids, each group sorted ascending, largest group first (ties: smallest id).
    relpaths : list of list of str
        The members' paths relative to the photos folder, in the order of ``groups``.
    basis : str
        How the threshold was chosen, in words: ``"given"`` or the default's
        explanation (see :func:`explain_default`).
    """

    threshold: float
    metric: str
    groups: list[list[int]]
    relpaths: list[list[str]] = field(repr=False, default_factory=list)
    basis: str = field(repr=False, default="given")

    def __len__(self) -> int:
        return len(self.groups)

    @property
    def n_images(self) -> int:
        """Images that belong to a group."""
        return sum(len(g) for g in self.groups)

    def to_dict(self) -> dict:
        """``{"threshold", "metric", "groups": [{"ids", "relpaths"}]}`` (the web API's answer)."""
        return {"threshold": self.threshold, "metric": self.metric,
                "groups": [{"ids": list(g), "relpaths": list(r)}
                           for g, r in zip(self.groups, self.relpaths)]}


def duplicate_groups(latents: np.ndarray, neighbor_ids: np.ndarray, neighbor_dist: np.ndarray,
                     threshold: float, metric: str) -> list[list[int]]:
    """Connected components (size >= 2) of "distance <= threshold" among the images.

    Parameters
    ----------
    latents : ndarray of shape (n, d), float32
    neighbor_ids, neighbor_dist : ndarray of shape (n, n_cached)
        Each image's nearest other images (-1 / inf padding), nearest first.
    threshold : float
    metric : {"l2", "cosine", "l1"}

    Returns
    -------
    list of list of int
        Sorted groups, largest first.
    """
    n = len(latents)
    parent = np.arange(n)

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def link(rows: np.ndarray, ids: np.ndarray, dist: np.ndarray) -> None:
        close = (dist <= threshold) & (ids >= 0)
        for a, b in zip(np.broadcast_to(rows[:, None], ids.shape)[close], ids[close]):
            ra, rb = find(int(a)), find(int(b))
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)

    link(np.arange(n), neighbor_ids, neighbor_dist)
    # rows whose deepest cached neighbour is still within the threshold may have more
    width = neighbor_ids.shape[1] if neighbor_ids.ndim == 2 else 0
    deep = np.flatnonzero(neighbor_dist[:, -1] <= threshold) if width and width < n - 1 else []
    if len(deep):
        from ..distances import topk

        k = min(n, 4 * (width + 1))
        while len(deep):
            D, I = topk(np.ascontiguousarray(latents[deep]), latents, k, metric)
            link(deep, I, D)
            if k >= n:
                break
            deep = deep[D[:, -1] <= threshold]
            k = min(n, 4 * k)
    roots = np.array([find(i) for i in range(n)]) if n else np.zeros(0, dtype=np.int64)
    _, inverse, counts = np.unique(roots, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    groups = [g.tolist() for g in np.split(order, np.cumsum(counts)[:-1]) if len(g) > 1]
    groups.sort(key=lambda g: (-len(g), g[0]))
    return groups


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
