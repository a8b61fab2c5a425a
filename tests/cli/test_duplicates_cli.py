"""imsim duplicates explains its default threshold with the neighbour rank it used."""
from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from imsim.cli.main import main

pytestmark = pytest.mark.slow  # indexes three folders


@pytest.mark.parametrize("n, rank_words", [(1, None), (2, "its nearest other photo"),
                                           (3, "its 2nd nearest other photo"),
                                           (20, "its 16th nearest other photo")])
def test_threshold_names_the_rank_used_and_matches_brute_force(tmp_path, capsys, n, rank_words):
    from imsim.collection import Collection

    rng = np.random.default_rng(n)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(photos / f"p{i:02d}.png")
    assert main(["index", str(photos), "-c", str(tmp_path / "c"), "--encoder", "thumbnail"]) == 0
    capsys.readouterr()
    assert main(["duplicates", "-c", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    if rank_words is None:
        assert out == "no near-duplicates: the collection has 1 photo\n"
        return
    line = out.splitlines()[0]
    assert line.endswith(f"(the thumbnail encoder's default: 0.65 x the median distance from a photo "
                         f"to {rank_words})"), line
    assert line.startswith(f"no near-duplicates among the {n} photos at l2 distance <= ")
    with Collection.open(tmp_path / "c") as coll:
        z = np.asarray(coll.latents, dtype=np.float64)
    d = np.sort(np.linalg.norm(z[:, None] - z[None], axis=2), axis=1)[:, 1:]  # without itself
    expected = 0.65 * np.median(d[:, min(16, n - 1) - 1])
    assert float(re.search(r"<= (\S+) ", line).group(1)) == pytest.approx(expected, rel=1e-3)
