"""Near-duplicate groups: checked against scipy's connected components of the full graph."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from imsim.collection._write import _neighbour_cache
from imsim.collection._duplicates import BETA, Duplicates, default_threshold, duplicate_groups
from imsim.distances import pairwise
from imsim.search import ExactIndex


def _reference(latents, threshold, metric):
    D = pairwise(latents, latents, metric)
    adj = csr_matrix((D <= threshold) & ~np.eye(len(latents), dtype=bool))
    _, lab = connected_components(adj, directed=False)
    groups = [sorted(np.flatnonzero(lab == c).tolist()) for c in np.unique(lab)]
    return sorted([g for g in groups if len(g) > 1], key=lambda g: (-len(g), g[0]))


@pytest.mark.parametrize("metric", ["l2", "cosine", "l1"])
@pytest.mark.parametrize("n_cached", [2, 8, 64])
def test_groups_equal_the_connected_components_of_the_full_graph(metric, n_cached):
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(30, 8))
    sizes = rng.integers(1, 12, len(centres))  # some groups deeper than the cache
    latents = np.concatenate([c + 0.05 * rng.normal(size=(s, 8)) for c, s in zip(centres, sizes)])
    latents = latents.astype(np.float32)
    ids, dist = _neighbour_cache(ExactIndex(metric=metric).fit(latents), latents, n_cached)
    D = pairwise(latents, latents, metric)
    for threshold in (0.0, float(np.quantile(D, 0.01)), float(np.quantile(D, 0.2))):
        assert duplicate_groups(latents, ids, dist, threshold, metric) == \
            _reference(latents, threshold, metric)


def test_to_dict_is_the_web_contract():
    d = Duplicates(threshold=0.5, metric="l2", groups=[[1, 4, 7], [0, 2]],
                   relpaths=[["b.jpg", "e.jpg", "h.jpg"], ["a.jpg", "c.jpg"]])
    assert d.to_dict() == {"threshold": 0.5, "metric": "l2", "groups": [
        {"ids": [1, 4, 7], "relpaths": ["b.jpg", "e.jpg", "h.jpg"]},
        {"ids": [0, 2], "relpaths": ["a.jpg", "c.jpg"]}]}
    assert len(d) == 2 and d.n_images == 5


def test_default_threshold_is_beta_times_the_median_16th_neighbour_distance():
    rng = np.random.default_rng(0)
    dist = np.sort(rng.random((50, 32)), axis=1).astype(np.float32)
    ref = np.median(dist[:, 15])
    assert default_threshold("features", "l2", dist) == pytest.approx(BETA["features"] * ref)
    assert default_threshold("features", "cosine", dist) == pytest.approx(BETA["features"] ** 2 * ref)
    # a folder smaller than the reference rank: the deepest cached neighbour
    small = np.full((3, 32), np.inf, dtype=np.float32)
    small[:, :2] = [[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]]
    assert default_threshold("thumbnail", "l2", small) == pytest.approx(BETA["thumbnail"] * 0.5)
    assert default_threshold("thumbnail", "l2", np.full((1, 4), np.inf)) == 0.0


def test_collection_duplicates_and_cli(tmp_path):
    """Exact copies of a picture under other names form one group; the CLI prints it."""
    from PIL import Image

    from imsim.cli.main import main
    from imsim.collection import Collection

    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(photos / f"p{i}.png")
    (photos / "copy_of_p3.png").write_bytes((photos / "p3.png").read_bytes())
    coll = Collection.build(photos, tmp_path / "c", size=16, latent_dim=8, n_cached=4, epochs=1)
    dup = coll.duplicates(threshold=1e-6)
    rel = [r.path for r in coll.records()]
    assert [[rel[i] for i in g] for g in dup.groups] == [["copy_of_p3.png", "p3.png"]]
    assert dup.to_dict()["groups"][0]["relpaths"] == ["copy_of_p3.png", "p3.png"]
    assert main(["duplicates", "-c", str(tmp_path / "c"), "--threshold", "1e-6",
                 "--export", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out" / "group_00").iterdir()) == \
        ["copy_of_p3.png", "p3.png"]
    assert main(["duplicates", "-c", str(tmp_path / "c"), "--threshold", "-1"]) == 1


def test_reference_rank_is_the_depth_actually_used():
    from imsim.collection._duplicates import explain_default, ordinal, reference_distance

    dist = np.sort(np.random.default_rng(1).random((40, 32)), axis=1)
    assert reference_distance(dist) == (pytest.approx(np.median(dist[:, 15])), 16)
    assert reference_distance(dist[:, :6]) == (pytest.approx(np.median(dist[:, 5])), 6)  # --cache 6
    for n in (2, 3, 10):  # n photos, 32 cached: n - 1 real neighbours each
        d = np.full((n, 32), np.inf)
        d[:, : n - 1] = dist[:n, : n - 1]
        assert reference_distance(d) == (pytest.approx(np.median(dist[:n, n - 2])), n - 1)
    assert reference_distance(np.full((1, 32), np.inf)) == (0.0, 0)
    assert [ordinal(i) for i in (1, 2, 3, 4, 11, 12, 13, 16, 21, 22, 23, 101, 111, 112)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "16th", "21st", "22nd", "23rd",
         "101st", "111th", "112th"]
    two = np.array([[0.3] + [np.inf] * 31, [0.3] + [np.inf] * 31])
    assert explain_default("thumbnail", "l2", two) == \
        "the thumbnail encoder's default: 0.65 x the median distance from a photo to its nearest other photo"
    assert explain_default("features", "cosine", dist).endswith(
        "default for cosine: 0.75 squared = 0.56 x the median distance from a photo to its 16th nearest "
        "other photo")
