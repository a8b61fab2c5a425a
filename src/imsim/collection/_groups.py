"""Group a collection's images (k-medoids or k-medians on the latents), keep the last
result in ``groups.json`` (read by the map) and export groups to folders."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .._io import write_text_atomic
from .._validation import DataFormatError
from ._metadata import check_relpath
from ._results import Group, Groups

GROUP_METHODS = ("kmedoids", "kmedians")
# "auto" needs the range to pass the number of groups for the curve to bend there
DEFAULT_K_RANGE = range(2, 31)
# k-medoids keeps an N x N distance matrix: larger collections fit the medoids on a
# seeded sample of this many images and assign every image to its nearest medoid.
MAX_FIT = 5000
GROUPS_FILE = "groups.json"  # in the collection folder: the last result and its version


def groups(coll, k, *, method: str, k_range, seed: int, save: bool) -> Groups:
    """The groups of ``coll`` (see :meth:`Collection.groups`), saved when ``save``."""
    paths = [str(coll.photos_root / r.path) for r in coll.records()]
    result = compute_groups(np.asarray(coll.latents), k=k, method=method,
                            metric=coll.settings.metric, k_range=k_range, seed=seed,
                            version=coll.version, paths=paths)
    if save:
        write_text_atomic(coll.path / GROUPS_FILE, json.dumps(result.to_dict(), indent=1) + "\n")
    return result


def load_groups(coll) -> Groups | None:
    """The saved groups of ``coll`` when they were computed on its version, else None."""
    path = coll.path / GROUPS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataFormatError(f"cannot read {path}: {exc}") from None
    if data.get("collection_version") != coll.version:
        return None
    return Groups.from_dict(data)


def compute_groups(latents: np.ndarray, *, k, method: str, metric: str, k_range, seed: int,
                   version: str, paths: list[str]) -> Groups:
    """Cluster ``latents`` (N, d) into ``k`` groups (``k="auto"``: the elbow's knee).

    See :meth:`imsim.Collection.groups` for the parameters.
    """
    from ..cluster import KMedians, KMedoids, elbow
    from ..distances import pairwise

    if method not in GROUP_METHODS:
        raise ValueError(f"method must be one of {', '.join(GROUP_METHODS)}, got {method!r}")
    X = np.ascontiguousarray(latents, dtype=np.float32)
    n = len(X)
    rng = np.random.default_rng(seed)
    sample = np.arange(n) if n <= MAX_FIT else np.sort(rng.choice(n, MAX_FIT, replace=False))
    Xs = X[sample]
    D = pairwise(Xs, metric=metric) if method == "kmedoids" else None

    curve = None
    if isinstance(k, str):
        if k != "auto":
            raise ValueError(f"k must be 'auto' or a positive integer, got {k!r}")
        asked = [int(v) for v in (DEFAULT_K_RANGE if k_range is None else k_range)]
        ks = [v for v in asked if 1 <= v <= len(Xs)]
        if len(ks) < 3:
            span = f"k={min(asked)}..{max(asked)}" if asked else "no k at all"
            raise ValueError(f"k='auto' tries {span}, but only {len(ks)} of these fit "
                             f"{len(Xs)} images and a knee needs 3: give the number of "
                             f"groups with -k (1..{len(Xs)})"
                             + (", or widen --k-min/--k-max" if len(Xs) >= 3 else ""))
        if method == "kmedoids":
            res = elbow(D, ks, method="kmedoids", metric="precomputed", seed=seed)
        else:
            res = elbow(Xs, ks, method="kmedians", seed=seed)
        if res.knee is None:
            raise ValueError(f"k='auto' found no knee: the objective falls evenly over "
                             f"k={ks[0]}..{ks[-1]}, so the photos may form more groups than "
                             f"{ks[-1]}; try a wider range (--k-max) or a fixed k (-k)")
        k = res.knee
        curve = {"k": [int(v) for v in res.ks], "cost": [float(v) for v in res.inertias],
                 "knee": int(k), "fitted_on": int(len(Xs))}
    elif isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"k must be 'auto' or an integer in 1..{n} (the images), got {k!r}")
    k = int(k)

    centres = None
    if method == "kmedoids":
        est = KMedoids(k, metric="precomputed", seed=seed).fit(D)
        reps = sample[est.medoid_indices_]
        labels = pairwise(X, X[reps], metric=metric).argmin(axis=1)
    else:
        est = KMedians(k, n_init=3, seed=seed).fit(X)
        labels = est.labels_
        centres = est.cluster_centers_
        # the member nearest to its centre stands for the group (L1, as k-medians)
        dist = np.abs(X - centres[labels]).sum(axis=1)
        reps = np.array([np.flatnonzero(labels == c)[dist[labels == c].argmin()]
                         if (labels == c).any() else -1 for c in range(k)])

    order = sorted((c for c in range(k) if (labels == c).any()),
                   key=lambda c: (-(labels == c).sum(), reps[c]))
    groups = [Group(index=i, members=np.flatnonzero(labels == c).tolist(),
                    representative=int(reps[c]),
                    centre=None if centres is None else [float(v) for v in centres[c]])
              for i, c in enumerate(order)]
    return Groups(groups=groups, k=k, method=method, metric=metric if method == "kmedoids" else "l1",
                  version=version, paths=list(paths), elbow=curve)


def export_groups(groups: Groups, relpaths: list[str], dest, *, copy: bool = False) -> Path:
    """Put each group's photos in ``dest/group_NN/`` (symlinks, or copies with ``copy``).

    Files keep their path relative to the photos folder inside their group folder, so
    equal file names from different sub-folders cannot collide. The export is built
    beside ``dest`` and renamed into place, so ``dest`` is never half-written.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    FileExistsError
        ``dest`` exists and is not an empty folder.
    """
    dest = Path(dest).expanduser()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"export folder {dest} exists and is not empty; give a new folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    width = max(2, len(str(len(groups.groups) - 1)))
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for g in groups.groups:
            folder = staging / f"group_{g.index:0{width}d}"
            for i in g.members:
                src = Path(groups.paths[i])
                # stored paths were checked when the collection opened; check again here,
                # where a bad one would write outside the export folder
                target = folder / check_relpath(relpaths[i], "the collection's images.sqlite")
                target.parent.mkdir(parents=True, exist_ok=True)
                if copy:
                    shutil.copy2(src, target)
                else:
                    os.symlink(src.resolve(), target)
        if dest.exists():
            dest.rmdir()
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest
