import json
import sys
import types

import numpy as np
import pytest
from _reference import brute_distances, brute_knn

from imsim.cli.main import main
from imsim.datasets import write_images, write_latent
from imsim.formats.search import read_search_output


@pytest.fixture
def files(tmp_path, rng):
    """200 data and 30 query 6x6 images (queries near data rows) with 3-d latents."""
    centers = rng.integers(0, 256, (10, 36))
    X = np.clip(centers[rng.integers(0, 10, 200)] + rng.integers(-30, 31, (200, 36)), 0, 255)
    X = X.astype(np.uint8)
    Q = np.clip(X[:30].astype(int) + rng.integers(-3, 4, (30, 36)), 0, 255).astype(np.uint8)
    Q[0] = X[5]  # an exact duplicate: true distance 0
    P = rng.standard_normal((36, 3))
    lat = X.astype(float) @ P, Q.astype(float) @ P
    lo, hi = lat[0].min(), lat[0].max()
    to16 = lambda Z: np.round(np.clip((Z - lo) / (hi - lo), 0, 1) * 25500).astype(np.uint16)  # noqa: E731
    paths = {name: tmp_path / name for name in ("data", "query", "data.lat", "query.lat")}
    write_images(paths["data"], X.reshape(-1, 6, 6))
    write_images(paths["query"], Q.reshape(-1, 6, 6))
    write_latent(paths["data.lat"], to16(lat[0]))
    write_latent(paths["query.lat"], to16(lat[1]))
    return paths, X, Q


def original_args(paths, out):
    return ["search", "-d", str(paths["data"]), "-i", str(paths["data.lat"]),
            "-q", str(paths["query"]), "-s", str(paths["query.lat"]),
            "-k", "3", "-L", "6", "-o", str(out)]


def test_original_form_writes_the_original_file(files, tmp_path, capsys):
    paths, X, Q = files
    out = tmp_path / "out.txt"
    assert main(original_args(paths, out)) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    report = read_search_output(out)
    assert report.methods == ["Reduced", "LSH", "True"]
    full = brute_distances(Q, X)
    true_d, true_ids = brute_knn(Q, X, 1)
    np.testing.assert_array_equal(report.ids["True"][:, :1], true_ids)
    np.testing.assert_array_equal(report.distances["True"][:, :1], true_d)
    assert report.ids["True"][0, 0] == 5 and report.distances["True"][0, 0] == 0
    for label in ("Reduced", "LSH"):
        found = report.ids[label][:, 0] >= 0
        np.testing.assert_array_equal(report.distances[label][found, 0],
                                      full[found, report.ids[label][found, 0]])
        d, t = report.distances[label][found, 0], report.distances["True"][found, 0]
        ratios = np.where(t == 0, np.where(d == 0, 1.0, np.nan), d / np.where(t == 0, 1, t))
        assert report.factors[label] == pytest.approx(np.nanmean(ratios), abs=1e-6)
    assert set(report.times_ms) == {"Reduced", "LSH", "True"}
    assert report.not_found["LSH"] == int((report.ids["LSH"][:, 0] < 0).sum())
    text = out.read_text()
    assert text.index("Approximation Factor LSH") < text.index("Approximation Factor Reduced")


def test_not_found_queries_are_written_and_counted(files, tmp_path):
    paths, X, Q = files
    out = tmp_path / "out.txt"
    args = original_args(paths, out) + ["--lsh-w", "1", "-k", "1", "-L", "1"]
    assert main(args) == 0
    text = out.read_text()
    report = read_search_output(out)
    missing = int((report.ids["LSH"][:, 0] < 0).sum())
    assert missing > 0 and f"LSH queries not found: {missing}" in text
    assert "Nearest neighbor LSH: NOT FOUND" in text and "distanceLSH: NOT FOUND" in text


def test_modern_options_json(files, capsys):
    paths, X, Q = files
    rc = main(["search", "-d", str(paths["data"]), "-q", str(paths["query"]), "--method",
               "hnsw,exact", "-N", "3", "--n-queries", "7", "--metric", "l2", "--json"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["queries"] == 7 and set(result["methods"]) == {"hnsw", "exact"}
    exact = result["methods"]["exact"]
    full = np.sqrt(((Q[:7, None].astype(float) - X[None]) ** 2).sum(-1))
    np.testing.assert_allclose(exact["distances"], np.sort(full, 1)[:, :3], rtol=1e-5)
    assert np.array(exact["ids"]).shape == (7, 3)
    assert result["methods"]["hnsw"]["recall_at_1"] >= 0.9
    # the metric's aliases, as in imsim query
    assert main(["search", "-d", str(paths["data"]), "-q", str(paths["query"]), "--method",
                 "hnsw,exact", "-N", "3", "--n-queries", "7", "--metric", "euclidean",
                 "--json"]) == 0
    alias = json.loads(capsys.readouterr().out)
    for method in ("hnsw", "exact"):
        assert alias["methods"][method]["ids"] == result["methods"][method]["ids"]


def test_report_to_stdout_without_output_file(files, capsys):
    paths, _, _ = files
    assert main(["search", "-d", str(paths["data"]), "-q", str(paths["query"]),
                 "--n-queries", "2", "--method", "exact"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Query: 0\nNearest neighbor True: ") and "tTrue: " in out


@pytest.mark.parametrize("change, message", [
    (lambda a, p: a + ["-i", str(p["query.lat"])], "the data latent file holds 30 vectors but the data holds 200"),
    (lambda a, p: a[:5] + ["-q", str(p["data.lat"])] + a[7:], "2-byte latent file (200 x 3), not an images file"),
    (lambda a, p: a + ["-k", "33"], "n_hashes must be at most 32, got 33"),
    (lambda a, p: a + ["-L", "0"], "n_tables must be a positive integer, got 0"),
    (lambda a, p: a + ["-N", "500"], "n_neighbors=500 but the data holds 200"),
    (lambda a, p: a + ["--n-queries", "31"], "--n-queries=31 but the query file holds 30"),
    (lambda a, p: a + ["--window", "3"], "--window only apply with -EMD"),
    (lambda a, p: a + ["--method", "fast"], "unknown method 'fast'"),
    (lambda a, p: ["search", "-d", str(p["data"])], "needs -d DATA and -q QUERIES"),
    (lambda a, p: ["search", "-d", str(p["data"]), "-q", str(p["query"]), "--method", "reduced"],
     "'reduced' needs the latent files"),
])
def test_bad_input_is_one_clear_line(files, tmp_path, capsys, change, message):
    paths, _, _ = files
    args = change(original_args(paths, tmp_path / "out.txt"), paths)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out.txt").exists()


def test_emd_form_is_routed(monkeypatch, tmp_path):
    calls = []
    fake = types.ModuleType("imsim.cli.emd")
    fake.run_emd_search = lambda **kwargs: calls.append(kwargs) or 0
    monkeypatch.setitem(sys.modules, "imsim.cli.emd", fake)
    rc = main(["search", "-d", "train", "-q", "test", "-l1", "train-labels", "-l2", "test-labels",
               "-o", str(tmp_path / "emd.txt"), "-EMD", "--window", "7", "--n-queries", "12",
               "--ground", "manhattan", "--shortlist", "50", "--data-limit", "1000", "--json"])
    assert rc == 0 and len(calls) == 1
    kw = calls[0]
    assert kw["data"].name == "train" and kw["query_labels"].name == "test-labels"
    assert (kw["window"], kw["n_queries"], kw["data_limit"], kw["ground"], kw["shortlist"],
            kw["json_out"]) == (7, 12, 1000, "manhattan", 50, True)
    assert kw["output"] == tmp_path / "emd.txt"


def test_emd_form_needs_labels(tmp_path, capsys):
    assert main(["search", "-d", "a", "-q", "b", "-o", str(tmp_path / "x"), "-EMD"]) == 1
    assert "-EMD needs -l1, -l2" in capsys.readouterr().err
