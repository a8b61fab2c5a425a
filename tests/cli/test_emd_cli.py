"""``run_emd_search`` (the ``-EMD`` form of ``imsim search``) and ``imsim emd-sweep``."""
import json

import numpy as np
import pytest

from imsim.cli.emd import run_emd_search
from imsim.cli.main import main
from imsim.datasets import write_images, write_labels
from imsim.formats.emd import read_emd_output


@pytest.fixture
def files(tmp_path):
    """Small idx files: two classes of bars (vertical = 0, horizontal = 1)."""
    rng = np.random.default_rng(3)

    def make(n):
        X = np.zeros((n, 10, 10), dtype=np.uint8)
        y = rng.integers(0, 2, n)
        for img, label in zip(X, y):
            r, c = rng.integers(0, 5, size=2)
            if label:
                img[r:r + 2, c:c + 5] = 255
            else:
                img[r:r + 5, c:c + 2] = 255
        return X, y

    X, y = make(60)
    Q, yq = make(8)
    paths = {name: tmp_path / f"{name}.idx" for name in ("data", "queries", "dl", "ql")}
    write_images(paths["data"], X)
    write_images(paths["queries"], Q)
    write_labels(paths["dl"], y)
    write_labels(paths["ql"], yq)
    return paths


@pytest.mark.slow
def test_run_emd_search_writes_the_output_and_prints_it(files, tmp_path, capsys):
    out = tmp_path / "emd.txt"
    run_emd_search(data=files["data"], queries=files["queries"], data_labels=files["dl"],
                   query_labels=files["ql"], output=out, window=2, n_queries=5)
    printed = capsys.readouterr().out
    report = read_emd_output(out)
    assert printed.splitlines()[0] == f"Average Correct Search Results EMD: {report.emd_correct!r}"
    assert f"wrote {out}" in printed
    assert (report.window, report.n_queries, report.n_data, report.ground) == \
        (2, 5, 60, "euclidean")
    assert 0 <= report.emd_correct <= 1 and report.emd_seconds is not None


def test_json_and_shortlist(files, tmp_path, capsys):
    out = tmp_path / "emd.txt"
    run_emd_search(data=files["data"], queries=files["queries"], data_labels=files["dl"],
                   query_labels=files["ql"], output=out, window=5, data_limit=30,
                   ground="manhattan", shortlist=15, json_out=True)
    result = json.loads(capsys.readouterr().out)
    assert result["n_data"] == 30 and result["shortlist"] == 15
    assert result["exact_per_query"] == 15 and result["ground"] == "manhattan"
    assert read_emd_output(out).emd_correct == result["emd_correct"]


def test_mismatched_labels_and_limits_are_clear_errors(files, tmp_path):
    common = dict(data=files["data"], queries=files["queries"], output=tmp_path / "o.txt")
    with pytest.raises(ValueError, match="holds 8 labels but .* holds 60 data images"):
        run_emd_search(data_labels=files["ql"], query_labels=files["ql"], **common)
    with pytest.raises(ValueError, match="--n-queries 9 but .* holds 8 images"):
        run_emd_search(data_labels=files["dl"], query_labels=files["ql"], n_queries=9, **common)
    assert not (tmp_path / "o.txt").exists()


@pytest.mark.slow
def test_emd_sweep_command(files, tmp_path, capsys):
    out_dir = tmp_path / "sweep"
    rc = main(["emd-sweep", "-d", str(files["data"]), "-q", str(files["queries"]),
               "-l1", str(files["dl"]), "-l2", str(files["ql"]), "--windows", "5,2",
               "--n-queries", "6", "-o", str(out_dir)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert printed.startswith("| window | bins | EMD correct")
    rows = json.loads((out_dir / "sweep.json").read_text())
    assert [(r["window"], r["bins"], r["n_queries"]) for r in rows] == [(5, 4, 6), (2, 25, 6)]
    assert (out_dir / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out_dir / "sweep.md").read_text() in printed


@pytest.mark.parametrize("extra, message", [
    (["--windows", "4,x"], "--windows must be integers"),
    (["--ground", "cosine"], "unknown ground distance 'cosine'"),
    (["--n-queries", "0"], "--n-queries must be a positive integer"),
])
def test_emd_sweep_bad_flags_exit_1(files, tmp_path, capsys, extra, message):
    rc = main(["emd-sweep", "-d", str(files["data"]), "-q", str(files["queries"]),
               "-l1", str(files["dl"]), "-l2", str(files["ql"]), "-o", str(tmp_path / "s"),
               *extra])
    assert rc == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
