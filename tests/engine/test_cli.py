"""--engine dask --address ...: the commands give the local answers (the session's
cluster serves every command, so no command starts its own)."""
import json

import numpy as np
import pytest

from imsim.cli.main import main
from imsim.datasets import write_images, write_labels


@pytest.fixture
def files(tmp_path, rng):
    X = rng.integers(0, 4, (400, 8, 8), dtype=np.uint8)
    Q = rng.integers(0, 4, (12, 8, 8), dtype=np.uint8)
    paths = {"data": write_images(tmp_path / "data.idx", X), "query": write_images(tmp_path / "q.idx", Q),
             "labels": write_labels(tmp_path / "data.labels", rng.integers(0, 10, 400)),
             "qlabels": write_labels(tmp_path / "q.labels", rng.integers(0, 10, 12))}
    (tmp_path / "cluster.conf").write_text("number_of_clusters: 4\n")
    return paths, tmp_path


def _run(capsys, *args) -> str:
    assert main([str(a) for a in args]) == 0
    return capsys.readouterr().out


def test_search_exact_on_workers(dask_engine, files, capsys):
    paths, _ = files
    base = ["search", "-d", paths["data"], "-q", paths["query"], "--method", "exact", "-N", "5", "--json"]
    local = json.loads(_run(capsys, *base))["methods"]["exact"]
    remote = json.loads(_run(capsys, *base, "--engine", "dask", "--address", dask_engine.address))
    assert remote["methods"]["exact"]["ids"] == local["ids"]
    assert remote["methods"]["exact"]["distances"] == local["distances"]


def test_emd_search_on_workers(dask_engine, files, capsys):
    paths, tmp = files
    base = ["search", "-EMD", "-d", paths["data"], "-q", paths["query"], "-l1", paths["labels"],
            "-l2", paths["qlabels"], "--json"]
    local = json.loads(_run(capsys, *base, "-o", tmp / "local.txt"))
    remote = json.loads(_run(capsys, *base, "-o", tmp / "remote.txt", "--engine", "dask",
                             "--address", dask_engine.address))
    for key in ("emd_correct", "exact_per_query", "n_queries"):
        assert remote[key] == local[key]


def test_cluster_silhouettes_on_workers(dask_engine, files, capsys):
    paths, tmp = files
    base = ["cluster", "-d", paths["data"], "-c", tmp / "cluster.conf"]
    _run(capsys, *base, "-o", tmp / "local.txt")
    _run(capsys, *base, "-o", tmp / "remote.txt", "--engine", "dask", "--address", dask_engine.address)
    untimed = lambda p: [line for line in p.read_text().splitlines() if "time:" not in line]  # noqa: E731
    assert untimed(tmp / "remote.txt") == untimed(tmp / "local.txt")
    assert any(line.startswith("Silhouette") for line in untimed(tmp / "remote.txt"))


def test_engine_flags_are_checked(files, capsys):
    paths, _ = files
    base = ["search", "-d", paths["data"], "-q", paths["query"], "--method", "exact"]
    assert main([str(a) for a in base] + ["--engine", "spark"]) == 1
    assert "error: unknown engine 'spark', expected one of local, dask" in capsys.readouterr().err
    assert main([str(a) for a in base] + ["--address", "tcp://127.0.0.1:1"]) == 1
    assert "error: --address needs --engine dask" in capsys.readouterr().err
