"""Fault injection: `imsim index` killed with SIGKILL at 10 points of a first build and an update.

``IMSIM_FAULT_AT=name`` makes the process kill itself at the named point
(:func:`imsim.collection._store.fault_point`), as a power cut or ``kill -9`` would:
no cleanup runs. After each kill the collection must open (or say clearly that its
first build never completed), answer a query, and a plain retry must succeed.
The killed runs reuse a trained model (``--model``), so none of them trains, and
they run side by side.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from imsim.cli.main import main
from imsim.collection import Collection

from _data import blocky_photos as make_photos
from test_store import SMALL

FIRST_BUILD = ("after-scan", "after-model", "after-encode", "after-arrays", "commit-before-rename",
               "commit-before-pointer", "commit-after-pointer")
UPDATE = ("after-scan", "after-encode", "commit-before-pointer")
FLAGS = ["--size", str(SMALL["size"]), "--latent", str(SMALL["latent_dim"]),
         "--cache", str(SMALL["n_cached"])]


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """Run every killed `imsim index` at once; returns {(kind, point): (photos, coll, old_version)}."""
    base = tmp_path_factory.mktemp("faults")
    model = Collection.build(make_photos(base / "model_photos"), base / "model", epochs=1,
                             progress=False, **SMALL)
    model.close()
    cases, procs = {}, {}
    for kind, points in (("build", FIRST_BUILD), ("update", UPDATE)):
        for point in points:
            photos = make_photos(base / kind / point / "photos", n=6)
            coll = base / kind / point / "coll"
            old = None
            if kind == "update":
                with Collection.build(photos, coll, model=model.path, progress=False, **SMALL) as c:
                    old = c.version
                make_photos(photos, n=2, seed=1)  # two new photos for the update to add
            cases[kind, point] = (photos, coll, old)
            args = ["index", str(photos), "-c", str(coll)]
            if kind == "build":
                args += ["--model", str(model.path), *FLAGS]
            procs[kind, point] = subprocess.Popen(
                [sys.executable, "-m", "imsim", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env={**os.environ, "IMSIM_FAULT_AT": point, "OMP_NUM_THREADS": "1"})
    for key, proc in procs.items():
        proc.wait(timeout=300)
        assert proc.returncode == -9, (key, proc.stderr.read().decode())  # it reached the point
    return cases, model.path


@pytest.mark.parametrize("point", FIRST_BUILD)
def test_killed_first_build_opens_or_says_so_and_a_retry_succeeds(killed, point, capsys):
    cases, model = killed
    photos, coll, _ = cases["build", point]
    if point == "commit-after-pointer":
        with Collection.open(coll) as c:
            assert len(c) == 6 and c.query(photos / "p0_0.png", n=2).hits
    else:
        with pytest.raises(FileNotFoundError, match="never completed"):
            Collection.open(coll)
        assert main(["query", str(photos / "p0_0.png"), "-c", str(coll)]) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.splitlines()) == 1 and "never completed" in err
    assert main(["index", str(photos), "-c", str(coll), "--model", str(model), *FLAGS]) == 0
    assert "Traceback" not in capsys.readouterr().err
    with Collection.open(coll) as c:
        assert len(c) == 6 and c.query(photos / "p0_1.png", n=3).hits
        assert not [p for p in (coll / "versions").iterdir() if p.name.startswith(".building")]


@pytest.mark.parametrize("point", UPDATE)
def test_killed_update_keeps_the_previous_version_and_a_retry_succeeds(killed, point, capsys):
    cases, _ = killed
    photos, coll, old = cases["update", point]
    with Collection.open(coll) as c:
        assert c.version == old and len(c) == 6
        assert c.query(photos / "p0_0.png", n=2).hits
    assert main(["index", str(photos), "-c", str(coll)]) == 0
    assert "2 new, 0 changed, 6 unchanged" in capsys.readouterr().out
    with Collection.open(coll) as c:
        assert len(c) == 8 and c.query(photos / "p1_0.png", n=2).hits
        # the previous version is kept, orphans and staging folders are gone
        assert sorted(p.name for p in (coll / "versions").iterdir()) == [old, c.version]
