"""Thumbnails made at index time (imsim.collection._thumbs), checked against Pillow.

A small folder (a large JPEG, a transparent PNG, tiny PNGs) is indexed with a model
trained for one epoch; the stored thumbnails are compared with what the one image
reader makes, and an update must re-render only the photos that changed.
"""
from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

import _decodes
from imsim.collection import Collection, _thumbs

SETTINGS = dict(size=16, latent_dim=4, n_cached=4, epochs=1, seed=0, progress=False)


def _photos(root):
    rng = np.random.default_rng(0)
    root.mkdir()
    Image.fromarray(rng.integers(0, 256, (300, 900, 3), dtype=np.uint8)).save(root / "wide.jpg")
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red, fully transparent on the left half, opaque on the right
    rgba[:, 20:, 3] = 255
    Image.fromarray(rgba, "RGBA").save(root / "clear.png")
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(root / f"t{i}.png")
    return root


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_fit_size_keeps_the_aspect_and_never_enlarges():
    assert _thumbs.fit_size(1000, 500, 160) == (160, 80)
    assert _thumbs.fit_size(900, 300, 320) == (320, 107)
    assert _thumbs.fit_size(30, 90, 160) == (30, 90)
    assert _thumbs.fit_size(1, 5000, 160) == (1, 160)


def test_render_sizes_formats_and_transparency(tmp_path):
    root = _photos(tmp_path / "p")
    small, big = _thumbs.render(root / "wide.jpg", 900, 300)
    assert Image.open(io.BytesIO(small)).size == (160, 53)
    assert Image.open(io.BytesIO(big)).size == (320, 107)
    assert _thumbs.media_type(big) == "image/jpeg"  # over 128x128 pixels: JPEG
    assert _thumbs.media_type(small) == "image/png"  # 160x53 = 8,480 pixels: lossless
    clear, _ = _thumbs.render(root / "clear.png", 40, 40)
    assert _thumbs.media_type(clear) == "image/png"  # tiny: lossless
    px = np.asarray(Image.open(io.BytesIO(clear)))
    assert px.shape == (40, 40, 4)  # transparency kept: the page shows its own backdrop
    assert (px[:, :20, 3] == 0).all() and (px[:, 20:, 3] == 255).all()
    assert (px[:, 20:, :3] == [255, 0, 0]).all()
    opaque = Image.open(io.BytesIO(big))
    assert opaque.mode == "RGB"  # no alpha where the photo has none


def test_index_stores_thumbnails_and_an_update_reuses_unchanged_ones(tmp_path, monkeypatch):
    root = _photos(tmp_path / "p")
    coll = Collection.build(root, tmp_path / "c", **SETTINGS)
    stored = _thumbs.Thumbnails.open(coll._dir)
    records = coll.records()
    assert len(stored) == len(records) == 6
    for i, rec in enumerate(records):
        fresh = _thumbs.render(root / rec.path, rec.width, rec.height)
        assert [stored.get(i, s) for s in range(len(_thumbs.SIZES))] == fresh, rec.path

    # change one photo: only it is decoded again, once for its vector and its thumbnails
    rendered = []
    real = _thumbs.render
    monkeypatch.setattr(_thumbs, "render", lambda p, *a, **k: rendered.append(p.name) or real(p, *a, **k))
    Image.fromarray(np.full((24, 24, 3), 7, dtype=np.uint8)).save(root / "t2.png")
    os.utime(root / "t2.png", ns=(1, 1))
    _decodes.install()
    try:
        new = coll.update(progress=False)
        decoded = _decodes.counts()
    finally:
        _decodes.uninstall()
    assert new.version != coll.version and decoded == {"t2.png": 1} and rendered == []
    again = _thumbs.Thumbnails.open(new._dir)
    for i, rec in enumerate(new.records()):
        expected = real(root / rec.path, rec.width, rec.height)
        assert [again.get(i, s) for s in range(len(_thumbs.SIZES))] == expected, rec.path
    assert (decode(again.get(new.records().index(next(r for r in new.records() if r.path == "t2.png")),
                              0)) == 7).all()
    coll.close()
    new.close()


def test_a_photo_unreadable_at_thumbnail_time_is_left_for_on_demand(tmp_path):
    root = _photos(tmp_path / "p")
    coll = Collection.build(root, tmp_path / "c", **SETTINGS)
    records = coll.records()
    (root / "t1.png").write_bytes(b"not a png any more")
    out = tmp_path / "v"
    out.mkdir()
    assert _thumbs.write(out, root, records, progress=False) == len(records)
    stored = _thumbs.Thumbnails.open(out)
    bad = [r.path for r in records].index("t1.png")
    assert stored.get(bad, 0) is None and stored.get(bad, 1) is None
    assert all(stored.get(i, 0) for i in range(len(records)) if i != bad)
    coll.close()


@pytest.mark.parametrize("damage", ["missing", "shape"])
def test_a_version_without_usable_thumbnails_opens_as_none(tmp_path, damage):
    (tmp_path / "thumbs.bin").write_bytes(b"")
    if damage == "shape":
        np.save(tmp_path / "thumbs.npy", np.zeros((3, 5, 2), dtype=np.int64))
    assert _thumbs.Thumbnails.open(tmp_path) is None


def test_a_small_photo_is_encoded_once_and_stays_lossless(tmp_path):
    """Both sizes of a photo under 160 pixels are the same bytes: the photo's own pixels."""
    root = _photos(tmp_path / "p")
    small, big = _thumbs.render(root / "t1.png", 24, 24)
    assert small is big and _thumbs.media_type(small) == "image/png"
    np.testing.assert_array_equal(decode(small), np.asarray(Image.open(root / "t1.png").convert("RGB")))
