"""Collections without -c ($IMSIM_HOME), `imsim collections`, and the messages for the
usual mistakes with paths (a folder as the query, arguments swapped, too few photos)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from _data import blocky_photos

from imsim.cli.main import main
from imsim.collection.home import default_location, find_collection


_SMALL = ["--size", "16", "--latent", "4", "--epochs", "1", "--cache", "4"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """One $IMSIM_HOME with two default collections: photos (6 images) and pair (2)."""
    base = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMSIM_HOME", str(base / "imsim"))
        photos = blocky_photos(base / "photos", 6, name="{i}.png")
        pair = blocky_photos(base / "pair", 2, seed=1, name="{i}.png")
        assert main(["index", str(photos), *_SMALL]) == 0
        assert main(["index", str(pair), *_SMALL]) == 0
        yield {"base": base, "photos": photos, "pair": pair, "mp": mp}


def test_index_without_c_writes_the_default_location(home, capsys):
    location = default_location(home["photos"])
    assert location.parent == home["base"] / "imsim" / "collections"
    assert location.name.startswith("photos-") and len(location.name) == len("photos-") + 8
    assert (location / "collection.json").is_file()
    # indexing again updates the same collection
    assert main(["index", str(home["photos"])]) == 0
    out = capsys.readouterr().out
    assert f"into {location} (version v000001)" in out and "6 unchanged" in out


def test_query_finds_the_collection_of_the_photo(home, capsys):
    assert main(["query", str(home["pair"] / "0.png"), "-n", "1"]) == 0
    captured = capsys.readouterr()
    assert f"collection: {default_location(home['pair'])} (2 images of {home['pair']}, " \
           f"thumbnail encoder; it indexed {home['pair']})" in captured.err
    assert "1 results for" in captured.out and "cached mode" in captured.out


def test_no_guess_when_several_collections_could_serve(home, capsys):
    # a photo from elsewhere: either collection could answer, so -c is asked for and
    # both are listed with their encoders; nothing is searched
    outside = blocky_photos(home["base"] / "elsewhere", 1, seed=5, name="{i}.png") / "0.png"
    assert main(["query", str(outside), "-n", "2"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith(f"error: 2 collections and none indexed the folder of {outside}; "
                                   f"pick one with -c: ")
    for folder in ("photos", "pair"):
        assert str(default_location(home[folder])) in captured.err
    assert f"(thumbnail, 2 images of {home['pair']})" in captured.err
    # groups, map and duplicates from a folder no collection indexed: the same rule
    home["mp"].chdir(home["base"])
    for command in (["groups", "-k", "2"], ["map", "--out", str(home["base"] / "m.png")]):
        assert main(command) == 1
        assert "2 collections and none indexed the current folder; pick one with -c" in \
            capsys.readouterr().err
    assert not (home["base"] / "m.png").exists()


def test_one_folder_in_two_collections_asks_for_c(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IMSIM_HOME", str(tmp_path / "home"))
    photos = blocky_photos(tmp_path / "p", 4, name="{i}.png")
    assert main(["index", str(photos), *_SMALL]) == 0
    assert main(["index", str(photos), "-c", str(tmp_path / "t.imsim"), "--encoder",
                 "thumbnail", *_SMALL]) == 0
    capsys.readouterr()
    assert main(["query", str(photos / "0.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: 2 collections indexed {photos}; pick one with -c: ")
    assert f"{tmp_path / 't.imsim'} (thumbnail, 4 images of {photos})" in err
    assert f"{default_location(photos)} (" in err
    # `imsim collections` tells them apart by encoder
    assert main(["collections"]) == 0
    out = capsys.readouterr().out
    assert "    thumbnail encoder, 4 images of" in out and "version v000001, updated" in out
    assert main(["collections", "--json"]) == 0
    assert {c["encoder"] for c in json.loads(capsys.readouterr().out)} >= {"thumbnail"}


def test_groups_map_and_collections_list(home, capsys, monkeypatch):
    monkeypatch.chdir(home["photos"])
    assert main(["groups", "-k", "2"]) == 0
    captured = capsys.readouterr()
    assert f"collection: {default_location(home['photos'])}" in captured.err
    assert "2 groups" in captured.out
    assert main(["collections", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {Path(c["photos"]) for c in listed} == {home["photos"], home["pair"]}
    assert main(["collections"]) == 0
    assert "6 images of" in capsys.readouterr().out


def test_groups_auto_on_two_photos_is_one_line(home, capsys):
    assert main(["groups", "-c", str(default_location(home["pair"])), "-k", "auto"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[" not in err
    assert "k='auto' tries k=2..30, but only 1 of these fit 2 images" in err
    assert "-k (1..2)" in err


def test_more_results_than_photos_says_so(home, capsys):
    assert main(["query", str(home["photos"] / "1.png"), "-n", "500"]) == 0
    captured = capsys.readouterr()
    assert "note: asked for 500 results but the collection holds 6 images, so only 5 others " \
           "can be returned" in captured.err
    assert captured.out.startswith("5 results for")


def test_path_mistakes_get_a_clear_line(home, capsys):
    coll = default_location(home["photos"])
    photo = home["photos"] / "0.png"
    cases = [
        (["query", str(home["photos"])], f"{home['photos']} is a folder, not a photo"),
        (["query", str(coll), "-c", str(photo)],
         f"Did you mean `imsim query {photo} -c {coll}`?"),
        (["query", str(coll)], f"{coll} is a collection, not a photo"),
        (["query", str(photo), "-c", str(photo)], f"-c {photo} is a file, not a collection"),
        (["index", str(coll)], f"{coll} is a collection: index takes the folder of photos"),
        (["index", str(photo)], f"{photo} is a file: index takes a folder of photos"),
        # before choosing a collection, so no "collection: ..." line comes first
        (["query", str(home["photos"] / "nothere.jpg")], "nothere.jpg: no such file"),
        (["query", str(photo), "--threshold", "-1"], "threshold must be a distance, a finite number >= 0, got -1.0"),
    ]
    for args, message in cases:
        assert main(args) == 1, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_no_collection_yet(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IMSIM_HOME", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="no collection yet"):
        find_collection()
    assert main(["groups"]) == 1
    assert "imsim index PHOTOS_DIR" in capsys.readouterr().err
    assert main(["collections"]) == 0
    assert "no collections yet" in capsys.readouterr().out


def test_a_collection_made_with_c_is_remembered(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IMSIM_HOME", str(tmp_path / "home"))
    photos = blocky_photos(tmp_path / "mine", 3, name="{i}.png")
    assert main(["index", str(photos), "-c", str(tmp_path / "mine.imsim"), *_SMALL]) == 0
    found, why = find_collection(photos / "2.png")
    assert found.path == (tmp_path / "mine.imsim").resolve() and "it indexed" in why
