"""The collection store under failure: unfinished builds, leases, orphans, damaged files."""
from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from _data import blocky_photos as make_photos

from imsim._validation import DataFormatError
from imsim.cli.main import main
from imsim.collection import Collection
from imsim.collection import _store

SMALL = dict(size=8, latent_dim=4, n_cached=4)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A collection whose model the tests reuse, so they need no training."""
    photos = make_photos(tmp_path_factory.mktemp("m") / "photos")
    coll = Collection.build(photos, tmp_path_factory.mktemp("m") / "coll", epochs=1, progress=False,
                            **SMALL)
    coll.close()
    return coll.path


@pytest.fixture
def built(model, tmp_path):
    photos = make_photos(tmp_path / "photos")
    return photos, Collection.build(photos, tmp_path / "coll", model=model, progress=False, **SMALL)


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# -- a failed first build ------------------------------------------------------------

def test_bad_arguments_create_nothing(tmp_path, capsys):
    photos = make_photos(tmp_path / "photos", n=3)
    for args, message in ((["index", str(tmp_path / "nope")], "image folder not found"),
                          (["index", str(photos), "--epochs", "0"], "epochs must be a positive"),
                          (["index", str(photos), "--workers", "-1"], "workers must be a positive")):
        assert main([*args, "-c", str(tmp_path / "c")]) == 1
        assert message in _err(capsys)
        assert not (tmp_path / "c").exists()


def test_failed_first_builds_leave_a_folder_the_next_run_accepts(model, tmp_path, monkeypatch, capsys):
    import imsim.collection._model as model_impl

    empty = tmp_path / "empty"
    empty.mkdir()
    coll = tmp_path / "c"
    assert main(["index", str(empty), "-c", str(coll)]) == 1
    assert "no readable images" in _err(capsys)
    photos = make_photos(tmp_path / "photos", n=6)
    assert main(["query", str(photos / "p0_0.png"), "-c", str(coll)]) == 1
    assert "never completed" in _err(capsys)

    def interrupted(*args, **kwargs):  # Ctrl+C during training
        raise KeyboardInterrupt

    monkeypatch.setattr(model_impl, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Collection.index(photos, coll, epochs=1, progress=False, **SMALL)
    monkeypatch.undo()
    assert _store.is_unfinished(coll)
    # what a kill -9 after the rename leaves: a version that collection.json never named
    (coll / "versions" / "v000001").mkdir(parents=True)
    with Collection.index(photos, coll, model=model, progress=False, **SMALL) as c:
        assert len(c) == 6 and c.version == "v000001"
        assert c.query(photos / "p0_0.png", n=2).hits


def test_non_utf8_names_are_skipped_by_name_before_training(model, tmp_path):
    photos = make_photos(tmp_path / "photos", n=4)
    with open(os.path.join(os.fsencode(photos), b"caf\xe9.png"), "wb") as f:
        f.write((photos / "p0_0.png").read_bytes())
    with pytest.warns(UserWarning, match="not valid UTF-8"):
        c = Collection.build(photos, tmp_path / "c", epochs=1, progress=False, **SMALL)
    assert len(c) == 4 and c.skipped() == [("caf\\xe9.png", "file name is not valid UTF-8 (rename the file)")]
    with pytest.warns(UserWarning):
        again = c.update(progress=False)
    assert again.version == c.version
    with pytest.warns(UserWarning):
        assert len(Collection.index(photos, tmp_path / "c", retrain=True, epochs=1, progress=False)) == 4


def test_another_folder_needs_replace(built, tmp_path, capsys):
    photos, c = built
    other = make_photos(tmp_path / "other", n=5, seed=1)
    assert main(["index", str(other), "-c", str(c.path)]) == 1
    err = _err(capsys)
    assert "--replace" in err and str(photos.resolve()) in err
    assert main(["index", str(other), "-c", str(c.path), "--retrain"]) == 1
    assert Collection.open(c.path).version == c.version
    assert main(["index", str(other), "-c", str(c.path), "--replace"]) == 0
    assert "5 new, 0 changed, 0 unchanged, 10 deleted" in capsys.readouterr().out


def test_collection_inside_its_photo_folder_is_not_indexed(model, tmp_path):
    photos = make_photos(tmp_path / "photos", n=5)
    c = Collection.build(photos, photos / "index.imsim", model=model, progress=False, **SMALL)
    assert len(c) == 5 and not c.skipped()
    assert c.update(progress=False).version == c.version


# -- versions: commit, prune, leases ------------------------------------------------

def test_commit_fsyncs_files_and_folders_before_the_renames(built, monkeypatch):
    photos, c = built
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", str(b))), real_replace(a, b))[1])
    make_photos(photos, n=2, seed=3)
    new = c.update(progress=False)
    version_dir = str(c.path / "versions" / new.version)
    rename = events.index(("replace", version_dir))
    synced = {p for kind, p in events[:rename] if kind == "fsync"}
    for name in ("latents.npy", "images.sqlite", "manifest.json", "index.npz", "model"):
        assert any(p.endswith(name) and ".building-" in p for p in synced), name
    pointer = next(i for i, (kind, p) in enumerate(events) if kind == "replace" and p.endswith("collection.json"))
    assert ("fsync", str(c.path / "versions")) in events[rename:pointer]
    assert any(kind == "fsync" and "collection.json" in p for kind, p in events[rename:pointer])
    assert ("fsync", str(c.path)) in events[pointer:]


def test_orphan_version_never_makes_prune_delete_the_current_one(built):
    photos, c = built
    make_photos(photos, n=1, seed=4)
    v2 = c.update(progress=False)
    # a crash between the rename and the collection.json swap left a newer, unnamed version
    shutil.copytree(c.path / "versions" / v2.version, c.path / "versions" / "v000003")
    v2.close()
    c.close()
    make_photos(photos, n=1, seed=5)
    v3 = Collection.open(c.path).update(progress=False)
    names = sorted(p.name for p in (c.path / "versions").iterdir())
    assert v3.version == "v000003" and names == [v2.version, "v000003"]
    assert len(v3) == 12


def test_versions_open_by_a_reader_are_not_pruned(built):
    photos, c = built
    reader = Collection.open(c.path)  # a server holding v000001
    first = reader.query(photos / "p0_1.png", n=3).ids
    writer = c
    for seed in (6, 7, 8):
        make_photos(photos, n=1, seed=seed)
        writer = writer.update(progress=False)
    assert (c.path / "versions" / reader.version).is_dir()
    assert reader.query(photos / "p0_1.png", n=3, mode="default").ids == first
    reader.close()
    c.close()
    make_photos(photos, n=1, seed=9)
    writer = writer.update(progress=False)
    assert not (c.path / "versions" / reader.version).exists()
    assert len(list((c.path / "versions").iterdir())) == 2


def test_open_retries_when_its_version_is_pruned_under_it(built, monkeypatch):
    photos, c = built
    calls = []
    real = _store.open_lease

    def racing(version_dir):
        calls.append(version_dir.name)
        if len(calls) == 1:
            raise FileNotFoundError("pruned")
        return real(version_dir)

    monkeypatch.setattr(_store, "open_lease", racing)
    assert Collection.open(c.path).version == c.version and len(calls) == 2


# -- damaged files -------------------------------------------------------------------

def _damage(coll: Path, name: str, how) -> Path:
    version = _store.read_pointer(coll)["current"]
    path = coll / "versions" / version / name
    how(path)
    return path


@pytest.mark.parametrize("name, how, message", [
    ("images.sqlite", lambda p: p.write_bytes(b"garbage" * 100), "images.sqlite is damaged"),
    ("images.sqlite", lambda p: p.write_bytes(b""), "images.sqlite is damaged"),
    ("latents.npy", lambda p: p.write_bytes(b"garbage" * 100), "latents.npy is damaged"),
    ("latents.npy", lambda p: p.write_bytes(b""), "latents.npy is damaged (empty file)"),
    ("latents.npy", lambda p: np.save(p, np.zeros((3, 4), np.float32)), "holds float32 (3, 4), expected"),
    ("latents.npy", lambda p: p.unlink(), "latents.npy is missing"),
    ("manifest.json", lambda p: p.write_text("{"), "manifest.json"),
])
def test_damaged_files_give_one_line_and_retrain_repairs(built, capsys, name, how, message):
    photos, c = built
    c.close()
    _damage(c.path, name, how)
    for args in (["query", str(photos / "p0_0.png")], ["groups"], ["index", str(photos)]):
        assert main([args[0], *args[1:], "-c", str(c.path)]) == 1
        err = _err(capsys).strip()
        assert len(err.splitlines()) == 1 and message in err and "--retrain" in err, err
    assert main(["index", str(photos), "-c", str(c.path), "--retrain", "--epochs", "1"]) == 0
    capsys.readouterr()
    with Collection.open(c.path) as fixed:
        assert len(fixed) == 10 and fixed.query(photos / "p0_0.png", n=2).hits


def test_missing_rows_and_unsafe_paths_are_refused(built, tmp_path, capsys):
    photos, c = built
    c.close()

    def edit(sql):
        def run(path):
            con = sqlite3.connect(path)
            con.execute(sql)
            con.commit()
            con.close()
        return run

    copy = tmp_path / "copy"
    shutil.copytree(c.path, copy)
    _damage(copy, "images.sqlite", edit("DELETE FROM images WHERE id = 3"))
    with pytest.raises(DataFormatError, match="rows are missing"):
        Collection.open(copy)
    for bad in ("../../etc/passwd", "/etc/passwd", "a/../../x.png", "./x.png", "a//b.png"):
        copy = tmp_path / f"copy{len(bad)}{bad.count('/')}"
        shutil.copytree(c.path, copy)
        _damage(copy, "images.sqlite", edit(f"UPDATE images SET path = '{bad}' WHERE id = 2"))
        assert main(["groups", "-c", str(copy), "-k", "2", "--export", str(tmp_path / "out")]) == 1
        err = _err(capsys)
        assert "unsafe image path" in err and "--retrain" in err
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["index.npz", "model/encoder.npz", "model/encoder.json"])
def test_damaged_index_or_model_gives_one_line(built, tmp_path, capsys, name):
    photos, c = built
    c.close()
    # unlink first: model files are hard links shared with the module's model collection
    _damage(c.path, name, lambda p: (p.unlink(), p.write_bytes(b"junk")))
    new = make_photos(tmp_path / "new", n=1, seed=11) / "p11_0.png"
    assert main(["query", str(new), "-c", str(c.path)]) == 1
    err = _err(capsys).strip()
    named = name if not name.startswith("model/") else "model"  # the encoder folder is named as one
    assert len(err.splitlines()) == 1 and named in err and "--retrain" in err and "pickle" not in err, err
    assert main(["index", str(photos), "-c", str(c.path), "--retrain", "--epochs", "1"]) == 0
