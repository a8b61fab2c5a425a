"""One decode per photo at index time (imsim.collection._photo): the vector's pixels and
the thumbnails come from one decoded raster, drafted to the thumbnails' scale.

Checked against the paths it replaces: the pixels against ``decode_image(size=...)``
(the old scan's decode, drafted to the vector's input alone), the thumbnails against
:func:`~imsim.collection._thumbs.render` (same bytes) and against the bilinear resize
the thumbnails used before (close); a query's pixels equal the build's; a corrupt file
in a parallel build is skipped with its reason and the others indexed.

A JPEG takes OpenCV's path (imsim.collection._jpeg): its decode is checked against
Pillow's drafted one (the same pixels), its EXIF turns against Pillow's
``exif_transpose``, and the files it leaves to Pillow (CMYK, truncated, data after the
end marker, a file object) against that path.
"""
from __future__ import annotations

import functools
import io

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps

from imsim.collection import Collection, _jpeg, _photo, _thumbs
from imsim.datasets.image import open_image
from imsim.datasets.image import decode_image


def _camera_jpeg(rng, size=(1024, 768), orientation=None, **save) -> bytes:
    """A photo-like JPEG: a smooth colour field, shapes and sensor noise."""
    return _jpeg_bytes(_camera_image(rng, size), orientation, **save)


@functools.lru_cache(maxsize=4)
def _seeded_camera_image(seed: int, size: tuple[int, int]) -> Image.Image:
    """``_camera_image(np.random.default_rng(seed), size)``, made once for the tests that
    save one photo in several ways (a 3000 x 2000 one takes 0.8 s)."""
    return _camera_image(np.random.default_rng(seed), size)


def _large_camera_jpeg(rng, size, factor=4) -> bytes:
    """A photo-like JPEG of a camera's size, made at 1/factor of it and enlarged: made
    whole, the 6000 x 4000 one took 3 s (its sensor noise above all), for a test about
    the sizes that its decode drafts and shrinks it to."""
    w, h = size
    return _jpeg_bytes(_camera_image(rng, (w // factor, h // factor)).resize(size, Image.Resampling.BICUBIC))


def _camera_image(rng, size) -> Image.Image:
    w, h = size
    low = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    img = Image.fromarray(low).resize((w, h), Image.Resampling.BICUBIC)
    px = np.array(img, dtype=np.float32)
    for _ in range(5):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(40, 200)
        # the disc, computed in its bounding box only (a 6000 x 4000 photo's grid took seconds)
        x0, x1 = max(0, int(cx - r) - 1), min(w, int(cx + r) + 2)
        y0, y1 = max(0, int(cy - r) - 1), min(h, int(cy + r) + 2)
        yy, xx = np.ogrid[y0:y1, x0:x1]
        px[y0:y1, x0:x1][(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.integers(0, 256, 3)
    px += rng.normal(0, 4, px.shape)
    np.clip(px, 0, 255, out=px)
    return Image.fromarray(px.astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8))


def _jpeg_bytes(img: Image.Image, orientation=None, **save) -> bytes:
    if save.pop("mode", None) is not None:
        img = img.convert("L")
    buf = io.BytesIO()
    if orientation is None:
        img.save(buf, format="JPEG", quality=90, **save)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        img.save(buf, format="JPEG", quality=90, exif=exif.tobytes(), **save)
    return buf.getvalue()


@pytest.mark.parametrize("size,color", [(64, True), (32, False), (128, True)])
def test_the_vector_pixels_stay_within_a_grey_level_of_the_old_decode(size, color):
    rng = np.random.default_rng(size)
    for _ in range(3):
        data = _camera_jpeg(rng)
        new = _photo.decode_photo(data, size, color, thumbnails=True)
        old = decode_image(data, size=size, color=color)
        assert new.pixels.shape == old.pixels.shape and new.pixels.dtype == np.uint8
        assert (new.width, new.height) == (old.width, old.height) == (1024, 768)
        diff = np.abs(new.pixels.astype(int) - old.pixels.astype(int))
        # libjpeg's 1/8 scale (block means) then bilinear, against 1/2 then area averages
        assert diff.mean() < 1.0, diff.mean()
        assert np.percentile(diff, 99) <= 4


def test_thumbnails_of_the_one_decode_are_what_render_makes_and_close_to_the_bilinear_ones():
    rng = np.random.default_rng(1)
    data = _camera_jpeg(rng)
    one = _photo.decode_photo(data, 64, True, thumbnails=True)
    assert one.thumbnails == _thumbs.render(data, 1024, 768)
    # the thumbnails before: the same drafted raster resized bilinearly
    img = Image.open(io.BytesIO(data))
    img.draft("RGB", (320, 320))
    for blob, side in zip(one.thumbnails, _thumbs.SIZES):
        got = np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"), dtype=int)
        target = _thumbs.fit_size(1024, 768, side)
        assert got.shape == (target[1], target[0], 3)
        before = np.asarray(img.convert("RGB").resize(target, Image.Resampling.BILINEAR), dtype=int)
        assert np.abs(got - before).mean() < 3.0


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_an_exif_turned_photo_keeps_its_upright_size_and_pixels(orientation):
    data = _camera_jpeg(np.random.default_rng(orientation), size=(800, 600), orientation=orientation)
    new = _photo.decode_photo(data, 64, True, thumbnails=True)
    old = decode_image(data, size=64)
    assert (new.width, new.height) == (old.width, old.height)
    assert (new.width, new.height) == ((600, 800) if orientation in (5, 6, 7, 8) else (800, 600))
    assert np.abs(new.pixels.astype(int) - old.pixels.astype(int)).mean() < 1.5
    small, big = (Image.open(io.BytesIO(b)) for b in new.thumbnails)
    assert big.size == _thumbs.fit_size(new.width, new.height, 320)
    assert small.size == _thumbs.fit_size(new.width, new.height, 160)


def test_a_transparent_png_gives_gray_pixels_on_white_and_a_transparent_thumbnail():
    rgba = np.zeros((200, 300, 4), dtype=np.uint8)
    rgba[..., 2] = 200
    rgba[:, 150:, 3] = 255  # left half transparent
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    new = _photo.decode_photo(buf.getvalue(), 16, False, thumbnails=True)
    old = decode_image(buf.getvalue(), size=16, color=False)
    assert new.pixels.shape == (16, 16)
    assert np.abs(new.pixels.astype(int) - old.pixels.astype(int)).max() <= 2
    assert Image.open(io.BytesIO(new.thumbnails[1])).mode == "RGBA"


def _jpeg_folder(root, n: int, seed: int, size) -> None:
    """``n`` camera-like JPEGs p00.jpg, p01.jpg, ... of ``size`` in a new folder ``root``."""
    rng = np.random.default_rng(seed)
    root.mkdir()
    for i in range(n):
        (root / f"p{i:02d}.jpg").write_bytes(_camera_jpeg(rng, size=size))


def test_a_query_decodes_a_photo_as_the_build_did(tmp_path):
    root = tmp_path / "photos"
    _jpeg_folder(root, 12, 5, (640, 480))
    coll = Collection.build(root, tmp_path / "c", encoder="features", progress=False, workers=2)
    for i, rec in enumerate(coll.records()):
        np.testing.assert_allclose(coll.encode(root / rec.path), coll.latents[i], atol=1e-5)
    coll.close()


def test_a_corrupt_photo_in_a_parallel_build_is_skipped_and_the_rest_indexed(tmp_path):
    root = tmp_path / "photos"
    _jpeg_folder(root, 40, 7, (400, 300))
    whole = (root / "p20.jpg").read_bytes()
    (root / "p20.jpg").write_bytes(whole[:len(whole) // 3])  # header intact, pixels cut off
    (root / "p21.jpg").write_bytes(b"not a jpeg at all")
    with pytest.warns(UserWarning, match="skipping"):
        coll = Collection.build(root, tmp_path / "c", encoder="features", progress=False, workers=4)
    skipped = dict(coll.last_index.skipped)
    assert set(skipped) == {"p20.jpg", "p21.jpg"}
    assert "truncated" in skipped["p20.jpg"] and "not an image" in skipped["p21.jpg"]
    paths = [r.path for r in coll.records()]
    assert len(paths) == 38 and "p20.jpg" not in paths and "p19.jpg" in paths and "p22.jpg" in paths
    stored = _thumbs.Thumbnails.open(coll._dir)
    for i, rec in enumerate(coll.records()):  # every indexed photo has its thumbnails, as render makes them
        expected = _thumbs.render(root / rec.path, rec.width, rec.height)
        assert [stored.get(i, s) for s in range(len(_thumbs.SIZES))] == expected, rec.path
    coll.close()


def _fast(data: bytes, max_side: int = 10**6):
    """What the JPEG path decodes ``data`` to (max_side huge: the drafted raster itself)."""
    with open_image(data, draft=(320, 320)) as (img, width, height):
        return _jpeg.decode(img, data, width, height, _thumbs.fit_size(width, height, max_side))


@pytest.mark.parametrize("size", [(1024, 768), (1001, 667), (3000, 2000), (400, 300)])
@pytest.mark.parametrize("save", [dict(subsampling=2), dict(subsampling=0), dict(progressive=True),
                                  dict(mode="L")])
def test_opencv_decodes_a_jpeg_to_the_pixels_of_pillows_drafted_decode(size, save):
    data = _jpeg_bytes(_seeded_camera_image(size[0], size), **save)  # _camera_jpeg's bytes
    fast = _fast(data)
    assert fast is not None  # the path is taken for every kind of YCbCr or gray JPEG
    img = Image.open(io.BytesIO(data))
    img.draft("RGB", (320, 320))
    pillow = np.asarray(img.convert("RGB"), dtype=int)
    got = fast[0][..., ::-1].astype(int)  # BGR
    assert got.shape == pillow.shape
    diff = np.abs(got - pillow)  # both libjpeg-turbo: identical where the versions agree
    assert diff.mean() < 0.05 and diff.max() <= 2


@pytest.mark.parametrize("orientation", range(1, 9))
def test_an_array_is_turned_as_exif_transpose_turns_an_image(orientation):
    a = np.random.default_rng(orientation).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    img = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.info["exif"] = exif.tobytes()
    assert np.array_equal(_jpeg.upright(a, orientation), np.asarray(ImageOps.exif_transpose(img)))


def test_a_large_photo_is_shrunk_by_an_integer_factor_to_at_least_the_thumbnails_size():
    data = _large_camera_jpeg(np.random.default_rng(2), size=(6000, 4000))  # drafted to 750 x 500
    raster, whole = _fast(data, max_side=320)
    assert raster.shape == (250, 375, 3)  # halved: still >= 320 x 213 on both axes
    assert whole().shape == (500, 750, 3)
    one = _photo.decode_photo(data, 64, True, thumbnails=True)
    assert [Image.open(io.BytesIO(b)).size for b in one.thumbnails] == [(160, 107), (320, 213)]


def test_what_the_jpeg_path_leaves_to_pillow_decodes_as_pillow_decodes_it():
    rng = np.random.default_rng(3)
    data = _camera_jpeg(rng)
    fast = _photo.decode_photo(data, 64, True, thumbnails=True)
    cmyk = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("CMYK").save(cmyk, format="JPEG", quality=95)
    trailing = data + b"camera maker's trailer"
    assert _fast(data) is not None
    for other in (cmyk.getvalue(), trailing, data[:len(data) // 2]):
        assert _fast(other) is None
    slow = _photo.decode_photo(trailing, 64, True, thumbnails=True)  # Pillow's decode
    assert np.abs(slow.pixels.astype(int) - fast.pixels.astype(int)).mean() < 1.0
    assert [len(b) > 0 for b in slow.thumbnails] == [True, True]
    from_file = _photo.decode_photo(io.BytesIO(data), 64, True)  # a file object: Pillow's path
    assert np.abs(from_file.pixels.astype(int) - fast.pixels.astype(int)).mean() < 1.0
    with pytest.raises(ValueError, match="truncated"):
        _photo.decode_photo(data[:len(data) // 2], 64, True)


def test_a_path_bytes_and_render_give_the_same_pixels_and_thumbnails(tmp_path):
    data = _camera_jpeg(np.random.default_rng(4), orientation=6)
    (tmp_path / "p.jpg").write_bytes(data)
    by_bytes = _photo.decode_photo(data, 64, True, thumbnails=True)
    by_path = _photo.decode_photo(tmp_path / "p.jpg", 64, True, thumbnails=True)
    assert np.array_equal(by_bytes.pixels, by_path.pixels)
    assert by_bytes.thumbnails == by_path.thumbnails == _thumbs.render(tmp_path / "p.jpg", 768, 1024)
    with pytest.raises(ValueError, match="no such file"):
        _photo.decode_photo(tmp_path / "gone.jpg", 64, True)


def test_a_very_wide_photo_takes_its_vector_from_the_whole_drafted_raster():
    data = _camera_jpeg(np.random.default_rng(5), size=(4000, 300))
    raster, whole = _fast(data, max_side=320)
    assert min(raster.shape[:2]) < 64 <= min(whole().shape[:2])  # 333 x 25: too thin for 64 px
    new = _photo.decode_photo(data, 64, True, thumbnails=True)
    old = decode_image(data, size=64)
    assert np.abs(new.pixels.astype(int) - old.pixels.astype(int)).mean() < 1.5


def test_without_opencv_every_jpeg_takes_pillows_path(monkeypatch):
    data = _camera_jpeg(np.random.default_rng(6))
    fast = _photo.decode_photo(data, 64, True, thumbnails=True)
    monkeypatch.setattr(_jpeg, "_cv2", lambda: None)
    assert _fast(data) is None
    slow = _photo.decode_photo(data, 64, True, thumbnails=True)
    assert np.abs(slow.pixels.astype(int) - fast.pixels.astype(int)).mean() < 1.0
    for a, b in zip(slow.thumbnails, fast.thumbnails):
        pa, pb = (np.asarray(Image.open(io.BytesIO(x)), dtype=int) for x in (a, b))
        assert pa.shape == pb.shape and np.abs(pa - pb).mean() < 3.0


@pytest.mark.parametrize("size", [(600, 400), (1024, 768)])
def test_a_jpeg_and_a_lossless_png_of_its_pixels_decode_alike(size):
    """The "same pixels" duplicates are found by their vectors first: the two formats'
    paths must agree (identical when the JPEG is not drafted, within a grey level when it is)."""
    data = _camera_jpeg(np.random.default_rng(7), size=size)
    png = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(png, format="PNG")
    jpg, copy = (_photo.decode_photo(d, 64, True, thumbnails=True) for d in (data, png.getvalue()))
    diff = np.abs(jpg.pixels.astype(int) - copy.pixels.astype(int))
    thumbs = [np.abs(np.asarray(Image.open(io.BytesIO(a)), dtype=int) - np.asarray(Image.open(io.BytesIO(b)), dtype=int))
              for a, b in zip(jpg.thumbnails, copy.thumbnails)]
    if size[0] <= 640:
        assert diff.max() == 0 and jpg.thumbnails == copy.thumbnails
    else:  # libjpeg's 1/2 scale against Pillow's full decode halved by area averages
        assert diff.mean() < 1.0 and all(t.mean() < 1.5 for t in thumbs)
