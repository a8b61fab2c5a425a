"""imsim index | query | groups | map, end to end on a small generated folder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imsim.cli.main import main

pytestmark = pytest.mark.slow  # trains a collection's model

N_FAMILIES, PER_FAMILY = 4, 4


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Families of 32x32 colour grids (members: small shift + noise), one sub-folder each."""
    root = tmp_path_factory.mktemp("cli") / "photos"
    rng = np.random.default_rng(1)
    for f in range(N_FAMILIES):
        base = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((8, 8, 1)))
        (root / f"fam{f}").mkdir(parents=True)
        for v in range(PER_FAMILY):
            img = np.roll(base, tuple(rng.integers(-1, 2, 2)), axis=(0, 1)) + rng.normal(0, 6, base.shape)
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / f"fam{f}" / f"{v}.jpg")
    return root


@pytest.fixture(scope="module")
def collection(folder, tmp_path_factory) -> Path:
    coll = tmp_path_factory.mktemp("cli") / "coll"
    rc = main(["index", str(folder), "-c", str(coll), "--size", "16", "--latent", "8",
               "--epochs", "2", "--cache", "6", "--labels-from-subdirs"])
    assert rc == 0
    return coll


def test_index_reports_and_reindexes_incrementally(folder, collection, capsys):
    (folder / "fam0" / "junk.jpg").write_bytes(b"garbage")
    try:
        assert main(["index", str(folder), "-c", str(collection)]) == 0
    finally:
        (folder / "fam0" / "junk.jpg").unlink()
    out = capsys.readouterr().out
    assert f"indexed {N_FAMILIES * PER_FAMILY} images" in out
    assert "0 new, 0 changed, 16 unchanged, 0 deleted; 0 encoded" in out
    assert "1 skipped" in out and "fam0/junk.jpg:" in out
    assert main(["index", str(folder), "-c", str(collection), "--latent", "4"]) == 1
    assert "--retrain" in capsys.readouterr().err


def test_query_json_and_grid(folder, collection, tmp_path, capsys):
    grid = tmp_path / "q.png"
    rc = main(["query", str(folder / "fam2" / "1.jpg"), "-c", str(collection), "-n", "3",
               "--json", "--grid", str(grid)])
    assert rc == 0
    out = capsys.readouterr().out
    data = json.loads(out[: out.rindex("}") + 1])
    assert data["mode"] == "cached" and data["metric"] == "l2"
    assert [r["rank"] for r in data["results"]] == [1, 2, 3]
    assert {r["label"] for r in data["results"]} == {"fam2"}
    assert Image.open(grid).size[0] > 4 * 16  # query + 3 results side by side

    assert main(["query", str(folder / "fam1" / "0.jpg"), "-c", str(collection), "-n", "5",
                 "--metric", "cosine", "--threshold", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "(default mode: " in lines[0] and "; cosine distance" in lines[0]
    assert "sim" in lines[1] and len(lines) == 6


def test_groups_export_and_map(collection, tmp_path, capsys):
    export = tmp_path / "groups"
    rc = main(["groups", "-c", str(collection), "-k", "auto", "--k-max", "8", "--export",
               str(export), "--copy"])
    assert rc == 0
    out = capsys.readouterr().out
    groups = json.loads((collection / "groups.json").read_text())
    assert f"{groups['k']} groups (kmedoids, k={groups['k']}, the knee of the elbow curve)" in out
    assert (collection / "elbow.png").is_file()
    exported = sorted(p.relative_to(export).as_posix() for p in export.rglob("*.jpg"))
    expected = sorted(f"group_{g['group']:02d}/{Path(m['path']).parent.name}/{Path(m['path']).name}"
                      for g in groups["groups"] for m in g["members"])
    assert exported == expected and not any(p.is_symlink() for p in export.rglob("*.jpg"))

    assert main(["map", "-c", str(collection), "--out", str(tmp_path / "map.png"),
                 "--thumbnails", "4", "--color-by", "group"]) == 0
    assert "coloured by group, 4 thumbnails" in capsys.readouterr().out
    assert Image.open(tmp_path / "map.png").format == "PNG"
    assert main(["map", "-c", str(collection), "--out", str(tmp_path / "map.png"),
                 "--thumbnails", "4", "--color-by", "none"]) == 0
    assert "one colour, 4 thumbnails" in capsys.readouterr().out


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["query", str(tmp_path / "none.jpg"), "-c", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: not an imsim collection") and "Traceback" not in err
    assert main(["groups", "-c", str(tmp_path), "-k", "many"]) == 1
    assert "-k must be 'auto' or a positive integer" in capsys.readouterr().err


def test_query_takes_the_metric_aliases_of_imsim_search(folder, collection, capsys):
    image = str(folder / "fam1" / "2.jpg")
    answers = []
    for metric in ("l2", "euclidean", "l1", "manhattan"):
        assert main(["query", image, "-c", str(collection), "-n", "4", "--json",
                     "--metric", metric]) == 0
        out = capsys.readouterr().out
        answers.append(json.loads(out[: out.rindex("}") + 1]))
    assert answers[0]["metric"] == answers[1]["metric"] == "l2"
    assert answers[0]["results"] == answers[1]["results"]
    assert answers[2]["metric"] == answers[3]["metric"] == "l1"
    assert answers[2]["results"] == answers[3]["results"]
    assert main(["query", image, "-c", str(collection), "--metric", "hamming"]) == 1
    assert "unknown metric 'hamming', expected one of l2, cosine, l1" in capsys.readouterr().err
