"""A tiny collection for the web tests, built once per test session.

Families of 32x32 colour grids (members: a small shift and noise) in one sub-folder
each, so members of a family are each other's nearest neighbours. Indexed at 16x16
with a model trained for one epoch: the whole build takes a few seconds.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

N_FAMILIES, PER_FAMILY = 4, 6
# one file name a page must show as text, never as markup
ODD_NAME = "café <img src=x onerror=alert(1)> & co.png"


def _make_photos(root: Path) -> Path:
    rng = np.random.default_rng(7)
    for f in range(N_FAMILIES):
        base = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((8, 8, 1)))
        (root / f"fam{f}").mkdir(parents=True)
        for v in range(PER_FAMILY):
            img = np.roll(base, tuple(rng.integers(-1, 2, 2)), axis=(0, 1))
            img = img + rng.normal(0, 6, base.shape)
            name = ODD_NAME if (f, v) == (0, 5) else f"v{v}.png"
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / f"fam{f}" / name)
        # a held-out member of each family, outside the collection: an upload query
        img = base + rng.normal(0, 6, base.shape)
        (root.parent / "queries").mkdir(exist_ok=True)
        pixels = np.clip(img, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root.parent / "queries" / f"fam{f}.png")
    return root


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> Path:
    return _make_photos(tmp_path_factory.mktemp("web") / "photos")


@pytest.fixture(scope="session")
def bare_collection(photos, tmp_path_factory) -> Path:
    """The collection path, without groups."""
    from imsim.collection import Collection

    path = tmp_path_factory.mktemp("web") / "coll"
    Collection.build(photos, path, size=16, latent_dim=8, n_cached=8, epochs=1, seed=0,
                     labels_from_subdirs=True, progress=False).close()
    return path


@pytest.fixture(scope="session")
def grouped_collection(bare_collection, tmp_path_factory) -> Path:
    """A copy of the collection with groups (k = the number of families)."""
    from imsim.collection import Collection

    path = tmp_path_factory.mktemp("web") / "grouped"
    shutil.copytree(bare_collection, path, dirs_exist_ok=True)
    with Collection.open(path) as coll:
        coll.groups(N_FAMILIES, seed=0)
    return path


@pytest.fixture(scope="session")
def old_collection(bare_collection, tmp_path_factory) -> Path:
    """A copy of the collection as indexed before thumbnails were stored in versions."""
    import json

    path = tmp_path_factory.mktemp("web") / "old"
    shutil.copytree(bare_collection, path, dirs_exist_ok=True)
    version = json.loads((path / "collection.json").read_text())["current"]
    for name in ("thumbs.bin", "thumbs.npy"):
        (path / "versions" / version / name).unlink()
    return path


class FakeDuplicates:
    """The result ``Collection.duplicates`` returns by its contract (BRIEF), made here from
    the cached neighbour lists until the real method lands: images within ``threshold``
    of each other, joined transitively (union-find), largest group first."""

    def __init__(self, coll, threshold=None):
        import numpy as np

        ids, dist = coll.neighbors()
        ids, dist = np.asarray(ids), np.asarray(dist)
        self.threshold = float(np.median(dist[:, 0]) if threshold is None else threshold)
        self.metric = coll.settings.metric
        parent = list(range(len(coll)))

        def root(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i, j in zip(*np.nonzero((dist <= self.threshold) & (ids >= 0))):
            parent[root(i)] = root(int(ids[i, j]))
        members: dict = {}
        for i in range(len(coll)):
            members.setdefault(root(i), []).append(i)
        self.groups = sorted((m for m in members.values() if len(m) > 1), key=lambda m: (-len(m), m))
        self._paths = [r.path for r in coll.records()]

    def to_dict(self):
        return {"threshold": self.threshold, "metric": self.metric,
                "groups": [{"ids": g, "relpaths": [self._paths[i] for i in g]} for g in self.groups]}


@pytest.fixture
def with_duplicates(monkeypatch):
    """``Collection.duplicates`` per the contract (monkeypatched: see FakeDuplicates)."""
    from imsim.collection import Collection

    monkeypatch.setattr(Collection, "duplicates", lambda self, threshold=None:
                        FakeDuplicates(self, threshold), raising=False)
    return FakeDuplicates
