"""imsim duplicates: tiers and scores printed, one photo kept per group, lists to remove."""
from __future__ import annotations

import json
import os

import pytest

from imsim.cli.main import main

from _data import scene, version


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    root = tmp_path_factory.mktemp("dupcli")
    photos = root / "photos"
    photos.mkdir()
    pic = scene(7)
    pic.save(photos / "beach.jpg", quality=92)
    version(pic, "crop").save(photos / "beach_crop.jpg", quality=92)
    (photos / "beach_copy.jpg").write_bytes((photos / "beach.jpg").read_bytes())
    for d in range(6):
        scene(40 + d).save(photos / f"other{d}.jpg", quality=92)
    assert main(["index", str(photos), "-c", str(root / "c")]) == 0
    return root, photos


def test_groups_are_printed_with_their_tier_and_what_was_checked(indexed, capsys):
    root, _ = indexed
    capsys.readouterr()
    assert main(["duplicates", "-c", str(root / "c")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("1 group of duplicates (3 of 9 photos), linked by 1 identical, 0 same pixels, "
                        "2 near pairs")
    assert "candidate pairs checked, each kept only when its local features agree" in lines[1]
    assert lines[2].startswith("  group 0 (near, similarity ")
    assert lines[2].endswith("3 photos: beach.jpg, beach_copy.jpg, beach_crop.jpg")


def test_keep_lists_the_others_and_remove_list_writes_absolute_paths(indexed, capsys):
    root, photos = indexed
    capsys.readouterr()
    assert main(["duplicates", "-c", str(root / "c"), "--keep", "first"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("to remove, keeping the first of each group (2 photos):\n"
                        "  beach_copy.jpg\n  beach_crop.jpg\n")
    listing = root / "remove.txt"
    assert main(["duplicates", "-c", str(root / "c"), "--remove-list", str(listing)]) == 0
    # largest by default: beach.jpg and its byte copy have the most pixels; the path decides
    assert listing.read_text().splitlines() == [str(photos / "beach_copy.jpg"),
                                                str(photos / "beach_crop.jpg")]
    assert (f"wrote {listing}: 2 photos to remove, keeping the largest of each of 1 group\n"
            in capsys.readouterr().out)
    assert all((photos / n).exists() for n in ("beach.jpg", "beach_copy.jpg", "beach_crop.jpg"))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_a_remove_list_on_a_full_device_is_one_line(indexed, capsys):
    root, _ = indexed
    capsys.readouterr()
    assert main(["duplicates", "-c", str(root / "c"), "--remove-list", "/dev/full"]) == 1
    assert capsys.readouterr().err == "error: cannot write /dev/full: no space left on device\n"


def test_json_has_tiers_pairs_the_map_and_what_to_remove(indexed, capsys):
    root, _ = indexed
    capsys.readouterr()
    assert main(["duplicates", "-c", str(root / "c"), "--json", "--keep", "largest"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["groups"][0]["relpaths"] == ["beach.jpg", "beach_copy.jpg", "beach_crop.jpg"]
    assert d["groups"][0]["tier"] == "near" and 0 < d["groups"][0]["similarity"] <= 1
    assert {p["tier"] for p in d["pairs"]} == {"identical", "near"}
    assert d["map"]["beach_crop.jpg"] == ["beach.jpg", "beach_copy.jpg"]
    assert d["keep"] == "largest" and d["remove"] == ["beach_copy.jpg", "beach_crop.jpg"]
    assert d["verified"] is True


def test_bad_keep_and_threshold_are_refused_in_one_line(indexed, capsys):
    root, _ = indexed
    capsys.readouterr()
    assert main(["duplicates", "-c", str(root / "c"), "--keep", "smallest"]) == 1
    assert "--keep must be one of largest, newest, oldest, first" in capsys.readouterr().err
    # the library's check, printed as one line (no traceback)
    assert main(["duplicates", "-c", str(root / "c"), "--threshold", "-1"]) == 1
    assert capsys.readouterr().err == "error: threshold must be a distance, a finite number >= 0, got -1.0\n"


def test_one_photo_and_no_groups_say_so_in_one_line(tmp_path, capsys):
    photos = tmp_path / "one"
    photos.mkdir()
    scene(1).save(photos / "only.jpg")
    assert main(["index", str(photos), "-c", str(tmp_path / "c1"), "--encoder", "thumbnail"]) == 0
    capsys.readouterr()
    assert main(["duplicates", "-c", str(tmp_path / "c1")]) == 0
    assert capsys.readouterr().out == "nothing to compare: the collection has 1 photo\n"
    for d in range(3):
        scene(60 + d).save(photos / f"d{d}.jpg")
    assert main(["index", str(photos), "-c", str(tmp_path / "c1"), "--encoder", "thumbnail"]) == 0
    listing = tmp_path / "rm.txt"
    capsys.readouterr()
    assert main(["duplicates", "-c", str(tmp_path / "c1"), "--remove-list", str(listing)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no duplicates among the 4 photos\n")
    assert out.endswith(f"wrote {listing}: empty\nno duplicates: nothing to remove\n")
    assert listing.read_text() == ""


def test_a_mirror_image_is_shown_but_listed_for_removal_only_with_mirrored(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    pic = scene(7)
    pic.save(photos / "beach.jpg", quality=92)
    version(pic, "flip").save(photos / "beach_flip.jpg", quality=92)
    for d in range(6):
        scene(40 + d).save(photos / f"other{d}.jpg", quality=92)
    assert main(["index", str(photos), "-c", str(tmp_path / "c")]) == 0
    capsys.readouterr()
    assert main(["duplicates", "-c", str(tmp_path / "c"), "--keep", "first"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("1 group of duplicates (2 of 8 photos), linked by 0 identical, 0 same pixels, "
                      "0 near, 1 mirrored pair")
    assert out[2].startswith("  group 0 (mirror images, similarity ")
    assert out[-1] == ("1 mirror-image pair not listed for removal (a flip may be a different "
                       "picture; --mirrored lists them)")
    assert not any(line.startswith("to remove") for line in out)
    listing = tmp_path / "remove.txt"
    assert main(["duplicates", "-c", str(tmp_path / "c"), "--remove-list", str(listing)]) == 0
    assert f"wrote {listing}: empty" in capsys.readouterr().out and listing.read_text() == ""
    assert main(["duplicates", "-c", str(tmp_path / "c"), "--keep", "first", "--mirrored"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("to remove, keeping the first of each group (1 photo):\n  beach_flip.jpg\n")
    # beside a group of copies, the list says which groups it acts on
    (photos / "other0_copy.jpg").write_bytes((photos / "other0.jpg").read_bytes())
    assert main(["index", str(photos), "-c", str(tmp_path / "c")]) == 0
    capsys.readouterr()
    assert main(["duplicates", "-c", str(tmp_path / "c"), "--remove-list", str(listing)]) == 0
    assert (f"wrote {listing}: 1 photo to remove from 1 of the 2 groups, keeping the largest "
            "of each\n") in capsys.readouterr().out
    assert listing.read_text() == f"{photos / 'other0_copy.jpg'}\n"
