"""Duplicates: tiers, geometric verification, keeping one per group, scoring against a truth."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from imsim.collection import Collection, evaluate_duplicates
from imsim.collection import _verify as V
from imsim.collection._duplicates import (BETA, Duplicates, Pair, group_pairs, ordinal,
                                          reference_distance, relative_threshold)
from imsim.collection._metadata import ImageRecord

from _data import VERSIONS, scene, version


def _features(img: Image.Image) -> V.Features:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return V.features(*V.decode_backdrop(buf.getvalue()))


def _same(a: Image.Image, b: Image.Image) -> V.Match:
    fa, fb = _features(a), _features(b)
    m = V.match(fa, fb)
    return m if m.same_picture else V.match(V.mirrored(fa), fb, flipped=True)


# ---------------------------------------------------------------- verification

@pytest.mark.parametrize("kind", VERSIONS)
def test_every_edit_of_a_picture_is_verified_as_the_same_picture(kind):
    for seed in (0, 1):
        pic = scene(seed)
        m = _same(pic, version(pic, kind))
        assert m.same_picture, (seed, kind, m)
        assert m.flipped == (kind == "flip")
        assert 0.6 <= m.similarity <= 1.0


def _white_overlay(seed: int, size=(320, 240)) -> Image.Image:
    """White on a transparent canvas, the scene's lightness as its opacity (a desktop
    overlay, a white logo): plain white on a white backdrop."""
    alpha = scene(seed, *size).convert("L")
    img = Image.new("RGBA", size, (255, 255, 255, 0))
    img.putalpha(alpha)
    return img


def test_a_white_picture_on_a_clear_canvas_is_verified_at_another_size():
    big = _white_overlay(3)
    small = big.resize((160, 120), Image.Resampling.LANCZOS)
    fa, fb = _features(big), _features(small)
    assert fa.backdrop == 0 and fb.backdrop == 0 and len(fa) > 100
    assert V.match(fa, fb).same_picture
    assert not V.match(fa, _features(_white_overlay(4))).same_picture


def test_a_light_overlay_and_a_dark_picture_of_its_layout_are_not_one_picture():
    light = _white_overlay(3)
    dark = Image.new("RGB", light.size, (0, 0, 0))
    dark.paste(light, (0, 0), light)  # how the overlay looks on black, saved opaque
    fl, fd = _features(light), _features(dark)
    assert fl.backdrop == 0 and fd.backdrop == 255
    m = V.match(fl, fd)
    assert m.same_layout and not m.same_picture and m.residual == 1.0
    # a mirror image keeps its backdrop
    assert V.mirrored(fl).backdrop == 0


def test_distinct_pictures_are_not_verified():
    for a in range(3):
        for b in range(10, 13):
            assert not _same(scene(a), scene(b)).same_picture


def test_a_picture_with_one_region_changed_is_not_the_same_picture():
    pic = scene(3)
    changed = pic.copy()
    draw = ImageDraw.Draw(changed)  # another object where one was: a cell disagrees
    draw.rectangle((200, 40, 260, 100), fill=(20, 190, 30))
    draw.ellipse((215, 55, 245, 85), fill=(190, 20, 160))
    m = V.match(_features(pic), _features(changed))
    assert m.inliers >= V.MIN_INLIERS  # the rest of the picture still aligns...
    assert not m.same_picture  # ...but the pixels do not agree everywhere
    assert _same(pic, pic.copy()).residual < 0.01


def test_a_drawing_that_another_extends_is_not_its_crop():
    """A letter cut to its ink and the same letter with an umlaut above it."""
    def letter(dots: bool) -> Image.Image:
        img = Image.new("RGB", (200, 260 if dots else 200), "white")
        d = ImageDraw.Draw(img)
        top = 60 if dots else 0
        d.ellipse((10, top + 10, 190, top + 190), outline="black", width=28)
        d.rectangle((150, top + 60, 190, top + 200), fill="black")
        d.polygon([(30, top + 60), (90, top + 30), (60, top + 120)], fill="black")
        if dots:
            d.rectangle((40, 5, 80, 45), fill="black")
            d.rectangle((120, 5, 160, 45), fill="black")
        return img

    plain, umlaut = letter(False), letter(True)
    assert _same(plain, plain.resize((150, 150))).same_picture
    assert not _same(plain, umlaut).same_picture


def _stoplight(lit: int, scale: float = 1.0) -> Image.Image:
    """A stoplight drawing: three lamps, the ``lit`` one bright, the others dim;
    ``scale`` multiplies every level (an exposure change)."""
    img = Image.new("RGB", (160, 400), (12, 12, 12))
    d = ImageDraw.Draw(img)
    d.rectangle((10, 10, 150, 390), outline=(90, 90, 90), width=8)
    lamps = [((255, 0, 0), (100, 0, 0)), ((255, 255, 0), (100, 100, 0)), ((0, 255, 0), (0, 90, 0))]
    for k, (on, off) in enumerate(lamps):
        d.ellipse((30, 30 + 120 * k, 130, 130 + 120 * k), fill=on if k == lit else off)
    arr = np.asarray(img, dtype=np.float64) * scale
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def test_a_stoplight_with_another_lamp_lit_is_not_the_same_picture():
    """Each lamp is a disc on black in both (their grey cells correlate): only the
    tone check sees that no one tone curve maps one's levels onto the other's."""
    red, yellow, green = (_stoplight(k) for k in range(3))
    for other in (yellow, green):
        m = V.match(_features(red), _features(other))
        assert m.inliers >= V.MIN_INLIERS and not m.same_picture
    fr, fd = _features(red), _features(_stoplight(0, scale=0.6))
    M, _ = V._transform(fr, fd)
    assert V.tone_gap(fr, fd, M) < 0.05  # an exposure change fits one tone curve...
    assert V.match(fr, fd).same_picture
    fy = _features(yellow)
    M, _ = V._transform(fr, fy)
    assert V.tone_gap(fr, fy, M) > V.MAX_TONE_GAP  # ...another lamp lit does not


def _dreidel(mark: str) -> Image.Image:
    """A cyan face on white with a black mark drawn on it (a letter on a dreidel)."""
    img = Image.new("RGB", (240, 240), "white")
    d = ImageDraw.Draw(img)
    d.polygon([(20, 120), (120, 20), (220, 120), (120, 220)], fill=(40, 210, 220),
              outline=(0, 90, 90), width=6)
    d.rectangle((60, 60, 80, 100), fill=(0, 120, 120))
    if mark == "bar":
        d.rectangle((95, 90, 145, 110), fill="black")
    else:
        d.rectangle((110, 80, 130, 160), fill="black")
    return img


def test_black_ink_over_a_light_face_is_a_difference_not_a_crushed_shadow():
    """Ink is crushed on one side only; an exposure change cannot crush a light face,
    so the pixels are compared (and a light version's burnt pixels still are not)."""
    bar, post = _dreidel("bar"), _dreidel("post")
    assert not _same(bar, post).same_picture
    light = Image.fromarray(np.clip(np.asarray(bar, np.float64) * 1.6, 0, 255).astype(np.uint8))
    assert _same(bar, light).same_picture
    assert _same(bar, bar.resize((180, 180))).same_picture


def _glyph(img: Image.Image, letter: str, x: int, y: int) -> Image.Image:
    """``img`` with a black T or L (strokes 8 px, 25 px tall) drawn at (x, y)."""
    img = img.copy()
    d = ImageDraw.Draw(img)
    if letter == "T":
        d.rectangle((x, y, x + 24, y + 7), fill="black")
        d.rectangle((x + 9, y, x + 16, y + 24), fill="black")
    else:
        d.rectangle((x, y, x + 7, y + 24), fill="black")
        d.rectangle((x, y + 17, x + 24, y + 24), fill="black")
    return img


@pytest.mark.parametrize("seed, x, y", [(0, 150, 100), (3, 30, 50)])
def test_another_letter_on_the_same_drawing_is_not_the_same_picture(seed, x, y, monkeypatch):
    """Two dreidels that differ by their letter only: the pixels agree cell by cell
    within the residual allowed, but no tone curve explains the letter's region."""
    t, ell = _glyph(scene(seed), "T", x, y), _glyph(scene(seed), "L", x, y)
    ft, fl = _features(t), _features(ell)
    M, _ = V._transform(ft, fl)
    assert V.local_change(ft, fl, M) > V.MAX_CHANGE
    assert not _same(t, ell).same_picture
    assert V.match(ft, fl).same_layout  # a verified query still ranks it after the picture
    with monkeypatch.context() as mp:  # the content check is what tells them apart
        mp.setattr(V, "MAX_CHANGE", float("inf"))
        assert V.match(ft, fl).same_picture
    for kind in VERSIONS:  # every edit of one of them still is the same picture
        v = version(t, kind)
        m = _same(t, v)
        assert m.same_picture, (kind, m)
        if not m.flipped:
            M, _ = V._transform(ft, _features(v))
            assert V.local_change(ft, _features(v), M) == 0.0, kind


def test_a_mirror_image_may_redraw_its_text():
    """An artist's mirror image keeps its letters readable: the flipped pair is spared
    the content check (and stays in the mirrored tier, not listed for removal)."""
    pic = scene(3)
    left = _glyph(pic, "T", 30, 50)
    right = _glyph(pic.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "L", 320 - 30 - 25, 50)
    fm, fr = V.mirrored(_features(left)), _features(right)
    M, _ = V._transform(fm, fr)
    assert V.local_change(fm, fr, M) > V.MAX_CHANGE  # the letter is redrawn...
    m = _same(left, right)
    assert m.same_picture and m.flipped  # ...and the mirror image still counts


def test_a_page_of_text_and_its_crop_are_the_same_picture():
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz      "))

    def page(seed):
        rng = np.random.default_rng(seed)
        img = Image.new("L", (768, 384), 235)
        d = ImageDraw.Draw(img)
        for row in range(11):
            d.text((12, 12 + row * 33), "".join(rng.choice(letters, 52)), fill=20, font_size=24)
        return img

    for seed in (0, 1):
        p = page(seed)
        assert _same(p, p.crop((0, 0, 520, 384))).same_picture
        assert _same(p, p.resize((384, 192))).same_picture
        assert not _same(p, page(seed + 10)).same_picture  # other text, one layout


def test_few_agreeing_features_need_closer_pixels():
    """Text leaves few features to the ratio test (a real page and its crop: 17 of 500,
    agreement 0.034): below MIN_AGREEMENT a pair needs a residual of WEAK_RESIDUAL."""
    n = V.MIN_INLIERS
    assert V.Match(n, V.MIN_AGREEMENT, V.MAX_RESIDUAL).same_picture
    assert not V.Match(n - 1, 1.0, 0.0).same_picture
    weak = (V.WEAK_AGREEMENT + V.MIN_AGREEMENT) / 2
    assert V.Match(n, weak, V.WEAK_RESIDUAL).same_picture
    assert not V.Match(n, weak, (V.WEAK_RESIDUAL + V.MAX_RESIDUAL) / 2).same_picture
    assert not V.Match(n, V.WEAK_AGREEMENT * 0.9, 0.0).same_picture


def test_an_unreadable_photo_is_skipped_with_its_reason_and_the_rest_verified():
    pics = [scene(0), version(scene(0), "crop"), scene(5), version(scene(5), "dark")]
    blobs = []
    for p in pics:
        buf = io.BytesIO()
        p.save(buf, format="PNG")
        blobs.append(buf.getvalue())
    blobs[2] = b"not an image"
    cache = V.FeatureCache(lambda i: blobs[i])
    matches, failed = V.verify_pairs(cache, [(0, 1), (2, 3)], workers=2)
    assert matches[0].same_picture and not matches[1].same_picture
    assert list(failed) == [2] and failed[2]


# ---------------------------------------------------------------- groups, keep, evaluate

def test_groups_are_the_connected_components_of_the_pairs():
    rng = np.random.default_rng(3)
    n = 60
    edges = {tuple(sorted(e)) for e in rng.integers(0, n, (40, 2)).tolist() if e[0] != e[1]}
    pairs = [Pair(a, b, "near", 0.9, 0.1) for a, b in sorted(edges)]
    adj = csr_matrix((np.ones(len(edges)), ([a for a, _ in edges], [b for _, b in edges])), (n, n))
    _, lab = connected_components(adj, directed=False)
    ref = [sorted(np.flatnonzero(lab == c).tolist()) for c in np.unique(lab)]
    ref = sorted([g for g in ref if len(g) > 1], key=lambda g: (-len(g), g[0]))
    assert group_pairs(n, pairs) == ref


def _record(path, w, h, size, mtime, sha=None):
    return ImageRecord(path=path, sha256=sha or path, size=size, mtime_ns=mtime, width=w, height=h)


def test_to_remove_keeps_one_per_group_by_each_rule_and_never_through_a_chain():
    records = [_record("a.jpg", 100, 100, 5000, 3), _record("b.jpg", 400, 300, 9000, 1),
               _record("c.jpg", 400, 300, 8000, 2), _record("d.png", 50, 50, 100, 9),
               _record("e.png", 50, 50, 100, 7, sha="d.png"), _record("f.jpg", 10, 10, 1, 8)]
    pairs = [Pair(0, 1, "near", 0.9, 0.1), Pair(0, 2, "near", 0.8, 0.2), Pair(1, 2, "near", 0.9, 0.1),
             Pair(3, 4, "identical", 1.0, 0.0), Pair(4, 5, "near", 0.7, 0.3)]
    dup = Duplicates(threshold=1.0, metric="l2", groups=[[0, 1, 2], [3, 4, 5]],
                     relpaths=[["a.jpg", "b.jpg", "c.jpg"], ["d.png", "e.png", "f.jpg"]],
                     tiers=["near", "near"], similarity=[0.8, 0.7], pairs=pairs)
    # largest: b (400x300, more bytes than c); d and e the same size: d by path; f chains via e
    assert dup.to_remove(records, "largest") == ["a.jpg", "c.jpg", "e.png"]
    assert dup.to_remove(records, "newest") == ["b.jpg", "c.jpg", "e.png"]  # a (3), d (9) kept
    assert dup.to_remove(records, "oldest") == ["a.jpg", "c.jpg", "d.png", "f.jpg"]  # b, e kept
    assert dup.to_remove(records, "first") == ["b.jpg", "c.jpg", "e.png"]
    with pytest.raises(ValueError, match="keep must be one of"):
        dup.to_remove(records, "smallest")
    assert dup.to_map()["e.png"] == ["d.png", "f.jpg"]
    d = dup.to_dict()
    assert d["groups"][1] == {"ids": [3, 4, 5], "relpaths": ["d.png", "e.png", "f.jpg"],
                              "tier": "near", "similarity": 0.7}
    assert d["pairs"][3] == {"a": 3, "b": 4, "tier": "identical", "similarity": 1.0, "distance": 0.0,
                             "inliers": 0, "flipped": False}
    assert d["map"] == dup.to_map() and len(dup) == 2 and dup.n_images == 6


def test_a_mirror_image_is_listed_for_removal_only_when_asked():
    records = [_record("a.jpg", 400, 300, 9000, 1), _record("a_flip.jpg", 400, 300, 8000, 2),
               _record("a_crop.jpg", 200, 150, 3000, 3)]
    pairs = [Pair(0, 1, "mirrored", 0.95, 0.2, 80, True), Pair(0, 2, "near", 0.9, 0.3, 60)]
    dup = Duplicates(threshold=1.0, metric="l2", groups=[[0, 1, 2]],
                     relpaths=[["a.jpg", "a_flip.jpg", "a_crop.jpg"]], tiers=["mirrored"],
                     similarity=[0.9], pairs=pairs)
    assert dup.to_remove(records, "largest") == ["a_crop.jpg"]
    assert dup.to_remove(records, "largest", mirrored=True) == ["a_crop.jpg", "a_flip.jpg"]
    # the crop kept (newest): a.jpg matched it directly; the flip matched only a.jpg
    assert dup.to_remove(records, "newest", mirrored=True) == ["a.jpg"]


def test_evaluate_scores_pairs_and_groups_against_a_hand_count():
    truth = {"a": ["b", "c"], "b": ["a", "c"], "c": ["a", "b"], "d": ["e"], "e": ["d"], "f": []}
    found = [["a", "b"], ["d", "e"], ["f", "g"]]
    s = evaluate_duplicates(truth, found)
    # true pairs ab ac bc de; found ab de fg: 2 right of 3, 2 of 4 found
    assert s["pair_precision"] == pytest.approx(2 / 3) and s["pair_recall"] == pytest.approx(0.5)
    assert s["pair_f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    # groups: {d, e} found exactly; {a, b} is not {a, b, c}; {f, g} is no true group
    assert s["group_precision"] == pytest.approx(1 / 3) and s["group_recall"] == pytest.approx(0.5)
    assert (s["true_pairs"], s["found_pairs"], s["true_groups"], s["found_groups"]) == (4, 3, 2, 3)
    perfect = evaluate_duplicates(truth, truth)
    assert perfect["pair_f1"] == perfect["group_f1"] == 1.0
    assert evaluate_duplicates({}, [])["pair_precision"] == 1.0  # nothing to find, nothing found


def test_relative_threshold_is_beta_times_the_median_16th_neighbour_distance():
    dist = np.sort(np.random.default_rng(1).random((40, 32)), axis=1)
    assert reference_distance(dist) == (pytest.approx(np.median(dist[:, 15])), 16)
    assert reference_distance(dist[:, :6]) == (pytest.approx(np.median(dist[:, 5])), 6)
    assert reference_distance(np.full((1, 32), np.inf)) == (0.0, 0)
    t, words = relative_threshold("features", "l2", dist)
    assert t == pytest.approx(BETA["features"] * np.median(dist[:, 15]))
    assert words.endswith("its 16th nearest other photo")
    assert relative_threshold("features", "cosine", dist)[0] == pytest.approx(
        BETA["features"] ** 2 * np.median(dist[:, 15]))
    assert [ordinal(i) for i in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]


# ---------------------------------------------------------------- a whole collection

def _folder(root: Path) -> dict[str, str]:
    """Pictures in versions, an identical copy, a lossless re-save and distinct pictures;
    returns {file: picture}."""
    root.mkdir()
    truth = {}
    for p in range(3):
        pic = scene(100 + p)
        pic.save(root / f"p{p}.jpg", quality=92)
        truth[f"p{p}.jpg"] = f"p{p}"
        for kind in ("crop", "dark", "flip", "resize"):
            version(pic, kind).save(root / f"p{p}_{kind}.jpg", quality=92)
            truth[f"p{p}_{kind}.jpg"] = f"p{p}"
    (root / "p0_copy.jpg").write_bytes((root / "p0.jpg").read_bytes())
    truth["p0_copy.jpg"] = "p0"
    Image.open(root / "p1.jpg").save(root / "p1_lossless.png")
    truth["p1_lossless.png"] = "p1"
    for d in range(8):
        scene(200 + d).save(root / f"other{d}.jpg", quality=92)
        truth[f"other{d}.jpg"] = f"other{d}"
    return truth


@pytest.fixture(scope="module")
def versions_collection(tmp_path_factory):
    root = tmp_path_factory.mktemp("dup")
    truth = _folder(root / "photos")
    coll = Collection.build(root / "photos", root / "c", encoder="features")
    return coll, truth


def test_a_folder_of_versions_is_found_in_tiers_and_nothing_else(versions_collection):
    coll, truth = versions_collection
    dup = coll.duplicates(progress=False)
    groups = {}
    for f, pic in truth.items():
        groups.setdefault(pic, []).append(f)
    score = evaluate_duplicates([g for g in groups.values() if len(g) > 1], dup)
    assert score["pair_precision"] == 1.0 and score["pair_recall"] == 1.0, score
    tier = {(dup.relpaths[g][0], p.tier) for g in range(len(dup)) for p in dup.pairs
            if p.a in dup.groups[g]}
    rel = [r.path for r in coll.records()]
    by_name = {(rel[p.a], rel[p.b]): p for p in dup.pairs}
    assert by_name[("p0.jpg", "p0_copy.jpg")].tier == "identical"
    assert by_name[("p1.jpg", "p1_lossless.png")].tier == "same pixels"
    assert by_name[("p2.jpg", "p2_flip.jpg")].tier == "mirrored"
    assert all((p.tier == "mirrored") == p.flipped for p in dup.pairs)
    # each group holds edited versions, one of them a flip: the group is as loose as that pair
    assert tier and dup.tiers == ["mirrored"] * len(dup)
    assert dup.verified and dup.checked >= len(dup.pairs) - 1


def test_unverified_candidates_and_a_given_threshold(versions_collection):
    coll, _ = versions_collection
    loose = coll.duplicates(verify=False, progress=False)
    strict = coll.duplicates(progress=False)
    assert loose.n_images >= strict.n_images and not loose.verified
    none = coll.duplicates(threshold=0.0, progress=False)
    # identical files whatever the threshold; a lossless PNG of a JPEG's pixels is decoded to
    # the same pixels (both at full size), so its vector is at distance 0 too
    tiers = {p.tier for p in none.pairs}
    assert "identical" in tiers and tiers <= {"identical", "same pixels"}
    assert all(p.distance == 0 for p in none.pairs if p.tier == "same pixels")
    with pytest.raises(ValueError, match="threshold must be a distance, a finite number >= 0"):
        coll.duplicates(threshold=-1)


def test_distinct_pictures_make_no_group(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    for d in range(20):
        scene(300 + d).save(root / f"d{d}.jpg", quality=90)
    coll = Collection.build(root, tmp_path / "c", encoder="features")
    dup = coll.duplicates(progress=False)
    assert len(dup) == 0 and dup.checked > 0


def test_a_vanished_file_is_skipped_when_no_thumbnail_stands_in(versions_collection, monkeypatch,
                                                                   tmp_path):
    import shutil

    coll, _ = versions_collection
    root = tmp_path / "photos"
    shutil.copytree(coll.photos_root, root)
    c = Collection.build(root, tmp_path / "c", encoder="features")
    monkeypatch.setattr(type(c), "thumbnails", lambda self: None)
    os.remove(root / "p2_crop.jpg")
    dup = c.duplicates(progress=False)
    assert [p for p, _ in dup.skipped] == ["p2_crop.jpg"]
    assert "p2_crop.jpg" not in {r for g in dup.relpaths for r in g}
    assert any("p2.jpg" in g for g in dup.relpaths)  # the rest still verified


def test_transparent_pictures_with_the_same_colours_are_same_pixels_only_with_the_same_alpha(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    for seed in range(3):  # three distinct overlays, all plain white on white
        _white_overlay(seed, (240, 180)).save(root / f"overlay{seed}.png")
    _white_overlay(0, (240, 180)).resize((160, 120), Image.Resampling.LANCZOS).save(
        root / "overlay0_small.png")
    logo = np.asarray(_white_overlay(7, (160, 120))).copy()
    logo[:, :40, 3] = 0  # a clear margin
    Image.fromarray(logo, "RGBA").save(root / "logo.png")
    clear = logo.copy()
    clear[clear[..., 3] == 0, :3] = (90, 20, 200)  # another colour where nothing shows
    Image.fromarray(clear, "RGBA").save(root / "logo_recoloured_where_clear.png")
    opaque = scene(5, 160, 120)
    opaque.convert("RGBA").save(root / "scene_rgba.png")  # an alpha channel of 255s
    opaque.save(root / "scene.png")
    for d in range(6):
        scene(400 + d, 160, 120).save(root / f"other{d}.jpg", quality=90)
    coll = Collection.build(root, tmp_path / "c", encoder="features")
    dup = coll.duplicates(progress=False)
    rel = [r.path for r in coll.records()]
    pairs = {tuple(sorted((rel[p.a], rel[p.b]))): p.tier for p in dup.pairs}
    assert pairs == {("logo.png", "logo_recoloured_where_clear.png"): "same pixels",
                     ("scene.png", "scene_rgba.png"): "same pixels",
                     ("overlay0.png", "overlay0_small.png"): "near"}
    # each overlay is seen on its dark backdrop: its other size first, the others apart
    hits = coll.query(root / "overlay0_small.png", n=len(rel), mode="default").hits
    far = {h.relpath: h.distance for h in hits}
    assert hits[0].relpath == "overlay0.png", far
    assert min(far["overlay1.png"], far["overlay2.png"]) > 4 * far["overlay0.png"], far


def test_a_verified_query_puts_the_versions_of_its_picture_first(versions_collection):
    coll, truth = versions_collection
    query = coll.photos_root / "p0_crop.jpg"
    res = coll.query(query, n=20, verify=True)
    flags = [h.verified for h in res.hits[:16]]
    assert flags == sorted(flags, reverse=True)  # the verified hits first
    assert all(h.verified is None for h in res.hits[16:])  # beyond the 16: as they were
    versions = {f for f, p in truth.items() if p == "p0"} - {"p0_crop.jpg"}
    assert {h.relpath for h in res if h.verified} == versions
    plain = coll.query(query, n=20)
    assert {h.id for h in plain} == {h.id for h in res}
    assert all(h.verified is None for h in plain)
    by_bytes = coll.query(query.read_bytes(), n=5, verify=True)  # decoded, not looked up
    assert {h.relpath for h in by_bytes.hits[:4]} <= versions | {"p0_crop.jpg"}


def test_a_verified_query_ranks_the_same_layout_after_the_same_picture(tmp_path):
    """Stoplights with another lamp lit share the layout, not the picture: after the
    darker copy of the query's own, before pictures that share neither."""
    root = tmp_path / "photos"
    root.mkdir()
    _stoplight(0).save(root / "red.png")
    _stoplight(0, scale=0.6).save(root / "red_dark.png")
    _stoplight(1).save(root / "yellow.png")
    _stoplight(2).save(root / "green.png")
    for d in range(8):
        scene(500 + d).save(root / f"s{d}.jpg", quality=90)
    coll = Collection.build(root, tmp_path / "c", encoder="features")
    res = coll.query(root / "red.png", n=11, verify=True)
    level = [2 * h.verified + (h.same_layout and not h.verified) for h in res]
    assert level == sorted(level, reverse=True)
    assert [h.relpath for h in res if h.verified] == ["red_dark.png"]
    assert {h.relpath for h in res if h.same_layout} == {"red_dark.png", "yellow.png", "green.png"}
    assert all(h.same_layout is None for h in coll.query(root / "red.png", n=11))


def test_a_near_unverified_hit_is_not_demoted_below_a_farther_same_layout():
    """Local features fail on a 16-px icon: a hit that near in vectors ranks with the
    same layout, not after it; a far unverified one still goes last."""
    from imsim.collection._query import verified_order

    levels = [2, 0, 0, 1, 2, 0, 1]  # nearest first
    dist = [0.1, 0.3, 0.5, 0.9, 1.1, 1.2, 1.3]
    assert verified_order(levels, dist, near=0.0) == [0, 4, 3, 6, 1, 2, 5]
    assert verified_order(levels, dist, near=0.6) == [0, 4, 1, 2, 3, 6, 5]
    assert verified_order(levels, dist, near=2.0) == [0, 4, 1, 2, 3, 5, 6]


def test_a_photo_with_no_verified_candidate_has_its_next_neighbours_checked(versions_collection,
                                                                           monkeypatch):
    """The second look: only pairs with a photo the first pass left alone, only among the
    next N_MORE neighbours within the threshold, none checked twice."""
    from imsim.collection import _duplicates as Dup
    from imsim.collection import _find_duplicates as F

    coll, truth = versions_collection
    asked = []
    real = V.verify_pairs

    def recording(cache, pairs, **kw):
        asked.append([tuple(p) for p in pairs])
        return real(cache, pairs, **kw)

    monkeypatch.setattr(V, "verify_pairs", recording)
    dup = F.find_duplicates(coll, candidates=1, progress=False)
    first, second = asked
    ids, dist = coll.neighbors()
    threshold = Dup.absolute_threshold(coll.encoder_name, coll.settings.metric)
    matched = {i for p in dup.pairs if (p.a, p.b) in first or p.tier in ("identical", "same pixels")
               for i in (p.a, p.b)}
    assert second and not set(first) & set(second)
    for a, b in second:
        assert a not in matched or b not in matched
        assert any(y in ids[x, 1:1 + Dup.N_MORE] and dist[x][list(ids[x]).index(y)] <= threshold
                   for x, y in ((a, b), (b, a)))
    # every such pair was asked: an unmatched photo's next neighbours
    expected = {tuple(sorted((int(x), int(y)))) for x in range(len(ids))
                for y, d in zip(ids[x, 1:1 + Dup.N_MORE], dist[x][1:1 + Dup.N_MORE])
                if d <= threshold and x != y and (x not in matched or y not in matched)}
    sha = [r.sha256 for r in coll.records()]
    assert set(second) == {ab for ab in expected - set(first) if sha[ab[0]] != sha[ab[1]]}
    assert dup.checked == len(first) + len(second) + sum(p.tier == "same pixels" for p in dup.pairs)
    rel = [r.path for r in coll.records()]
    assert all(truth[rel[p.a]] == truth[rel[p.b]] for p in dup.pairs)  # still only true pairs


def test_many_agreeing_features_allow_looser_pixels():
    """A third of the features on one transform (a star field shrunk 4x: 0.68, residual
    0.52) is one picture up to STRONG_RESIDUAL; fewer are held to MAX_RESIDUAL."""
    n = V.MIN_INLIERS
    between = (V.MAX_RESIDUAL + V.STRONG_RESIDUAL) / 2
    assert V.Match(n, V.STRONG_AGREEMENT, V.STRONG_RESIDUAL).same_picture
    assert V.Match(n, 0.9, between).same_picture
    assert not V.Match(n, V.STRONG_AGREEMENT * 0.99, between).same_picture
    assert not V.Match(n, 1.0, V.STRONG_RESIDUAL * 1.01).same_picture
    assert V.residual_limit(0.29) == V.MAX_RESIDUAL and V.residual_limit(0.3) == V.STRONG_RESIDUAL
