import io

import numpy as np
import pytest
from PIL import Image

from imsim._validation import UnreadableImageError
from imsim.datasets import folder
from imsim.datasets.folder import convert_images, load_folder, load_image, scan_folder

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def _noise(rng, h, w):
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _jpeg_bytes(pixels, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=95, **kw)
    return buf.getvalue()


def _left_red_right_blue(w=20, h=10):
    pixels = np.zeros((h, w, 3), dtype=np.uint8)
    pixels[:, : w // 2] = RED
    pixels[:, w // 2:] = BLUE
    return pixels


def _exif_rotated_jpeg(path):
    """A 20x10 JPEG, left half red, right half blue, tagged 'rotate 90 clockwise'."""
    exif = Image.Exif()
    exif[0x0112] = 6
    path.write_bytes(_jpeg_bytes(_left_red_right_blue(), exif=exif.tobytes()))


@pytest.fixture
def photo_dir(tmp_path, rng):
    """A generated folder: every supported format, two class folders, junk to skip."""
    root = tmp_path / "photos"
    for sub in ("cats", "dogs/nested", ".git"):
        (root / sub).mkdir(parents=True)
    Image.fromarray(_noise(rng, 10, 20)).save(root / "cats" / "a.png")
    _exif_rotated_jpeg(root / "cats" / "b.jpg")
    (root / "cats" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    Image.fromarray(_noise(rng, 8, 8)).save(root / "cats" / ".hidden.png")
    Image.fromarray(_noise(rng, 12, 12)).save(root / "dogs" / "c.bmp")
    full = _jpeg_bytes(_noise(rng, 64, 64))
    (root / "dogs" / "cut.jpg").write_bytes(full[: len(full) * 6 // 10])
    Image.fromarray(_noise(rng, 9, 9)).convert("P").save(root / "dogs" / "d.gif")
    Image.fromarray(_noise(rng, 7, 11)).save(root / "dogs" / "e.tiff")
    Image.fromarray(_noise(rng, 16, 16)).save(root / "dogs" / "f.webp", lossless=True)
    Image.fromarray(_noise(rng, 5, 5)).save(root / "dogs" / "nested" / "g.PNG")
    Image.fromarray(_noise(rng, 6, 6)).save(root / ".git" / "x.png")
    Image.fromarray(_noise(rng, 6, 6)).save(root / "root.png")
    (root / "notes.txt").write_text("not an image")
    return root


EXPECTED_SCAN = ["cats/a.png", "cats/b.jpg", "cats/broken.png", "dogs/c.bmp", "dogs/cut.jpg",
                 "dogs/d.gif", "dogs/e.tiff", "dogs/f.webp", "dogs/nested/g.PNG", "root.png"]


def test_scan_is_recursive_sorted_and_skips_hidden_and_other_files(photo_dir):
    found = scan_folder(photo_dir)
    assert [p.relative_to(photo_dir).as_posix() for p in found] == EXPECTED_SCAN
    assert all(p.is_file() for p in found)


def test_scan_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        scan_folder(tmp_path / "nope")
    (tmp_path / "f.png").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        scan_folder(tmp_path / "f.png")


def test_load_folder_skips_unreadable_files_with_one_warning_each(photo_dir):
    with pytest.warns(UserWarning) as record:
        images = load_folder(photo_dir, size=16)
    messages = [str(w.message) for w in record]
    assert sorted(m.split(":")[0] for m in messages) == ["skipping cats/broken.png",
                                                         "skipping dogs/cut.jpg"]
    expected = [p for p in EXPECTED_SCAN if p not in ("cats/broken.png", "dogs/cut.jpg")]
    assert images.paths == expected
    assert images.images.shape == (len(expected), 16, 16, 3)
    assert images.images.dtype == np.uint8
    assert images.labels is None
    np.testing.assert_array_equal(images.ids, np.arange(len(expected)))
    skipped = dict(images.meta["skipped"])
    assert set(skipped) == {"cats/broken.png", "dogs/cut.jpg"}
    assert "truncated" in skipped["dogs/cut.jpg"]
    # each image is exactly what load_image gives for its file
    i = expected.index("dogs/e.tiff")
    np.testing.assert_array_equal(images.images[i], load_image(photo_dir / "dogs/e.tiff", size=16))


def test_load_folder_gray_and_labels_from_subdirs(photo_dir):
    with pytest.warns(UserWarning):
        images = load_folder(photo_dir, size=(12, 8), color=False, labels_from_subdirs=True)
    assert images.images.shape == (7, 8, 12)
    assert images.meta["classes"] == ["cats", "dogs"]
    assert dict(images.meta["skipped"])["root.png"] == "not in a class sub-folder"
    by_path = dict(zip(images.paths, images.labels.tolist()))
    assert by_path == {"cats/a.png": 0, "cats/b.jpg": 0, "dogs/c.bmp": 1, "dogs/d.gif": 1,
                       "dogs/e.tiff": 1, "dogs/f.webp": 1, "dogs/nested/g.PNG": 1}


def test_load_folder_empty_unreadable_and_mixed_sizes(tmp_path, rng):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="no images found"):
        load_folder(empty)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"garbage")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="none of the 1 image files"):
        load_folder(bad)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.fromarray(_noise(rng, 4, 4)).save(mixed / "a.png")
    Image.fromarray(_noise(rng, 4, 6)).save(mixed / "b.png")
    with pytest.raises(ValueError, match="differ in size.*--size"):
        load_folder(mixed, size=None)
    same = load_folder(mixed, size=4)
    assert same.images.shape == (2, 4, 4, 3)


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rot.jpg"
    _exif_rotated_jpeg(path)
    pixels = load_image(path).astype(int)
    # stored 20 wide x 10 high; "rotate 90 clockwise" puts the left (red) half on top
    assert pixels.shape == (20, 10, 3)
    top, bottom = pixels[:8].reshape(-1, 3).mean(0), pixels[12:].reshape(-1, 3).mean(0)
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_rgba_palette_and_gray_to_rgb(tmp_path):
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0] = (255, 0, 0, 0)      # fully transparent red -> white
    rgba[1] = (0, 255, 0, 255)    # opaque green stays green
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    got = load_image(tmp_path / "a.png")
    np.testing.assert_array_equal(got[0], [[255, 255, 255]] * 2)
    np.testing.assert_array_equal(got[1], [GREEN] * 2)

    pal = Image.new("P", (3, 1))
    pal.putpalette([*RED, *GREEN, *BLUE] + [0] * (256 * 3 - 9))
    pal.putdata([2, 0, 1])
    pal.save(tmp_path / "p.png")
    np.testing.assert_array_equal(load_image(tmp_path / "p.png")[0], [BLUE, RED, GREEN])

    gray = np.array([[0, 128, 255]], dtype=np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    np.testing.assert_array_equal(load_image(tmp_path / "g.png"), np.repeat(gray[..., None], 3, -1))
    np.testing.assert_array_equal(load_image(tmp_path / "g.png", color=False), gray)


def test_grayscale_matches_pillow_and_sixteen_bit_is_scaled(tmp_path, rng):
    pixels = _noise(rng, 6, 5)
    Image.fromarray(pixels).save(tmp_path / "c.png")
    expected = np.asarray(Image.fromarray(pixels).convert("L"))
    np.testing.assert_array_equal(load_image(tmp_path / "c.png", color=False), expected)
    np.testing.assert_array_equal(convert_images(pixels[None], color=False)[0], expected)

    wide = np.array([[0, 65535], [257 * 100, 1000]], dtype=np.uint16)
    Image.fromarray(wide).save(tmp_path / "w.png")
    np.testing.assert_array_equal(load_image(tmp_path / "w.png", color=False), [[0, 255], [100, 4]])


def test_resize_is_pillow_bilinear(tmp_path, rng):
    pixels = _noise(rng, 30, 40)
    Image.fromarray(pixels).save(tmp_path / "c.png")
    reference = np.asarray(Image.fromarray(pixels).resize((16, 12), Image.Resampling.BILINEAR))
    got = load_image(tmp_path / "c.png", size=(16, 12))
    assert got.shape == (12, 16, 3)
    np.testing.assert_array_equal(got, reference)
    np.testing.assert_array_equal(convert_images(pixels[None], size=(16, 12))[0], reference)
    assert load_image(tmp_path / "c.png", size=8).shape == (8, 8, 3)


def test_large_jpeg_reduced_decode_stays_close_to_full_decode(tmp_path):
    # smooth content, where a reduced-scale JPEG decode must agree with a full one
    y, x = np.mgrid[0:512, 0:384]
    pixels = np.stack([x * 255 // 383, y * 255 // 511, (x + y) * 255 // 894], -1).astype(np.uint8)
    data = _jpeg_bytes(pixels)
    with Image.open(io.BytesIO(data)) as img:
        reference = np.asarray(img.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR))
    got = load_image(data, size=32)
    assert np.abs(got.astype(int) - reference).mean() < 2.0


def test_bytes_file_object_and_path_agree(tmp_path, rng):
    data = _jpeg_bytes(_noise(rng, 20, 30))
    (tmp_path / "x.jpg").write_bytes(data)
    from_path = load_image(tmp_path / "x.jpg", size=10)
    np.testing.assert_array_equal(load_image(data, size=10), from_path)
    with open(tmp_path / "x.jpg", "rb") as f:
        np.testing.assert_array_equal(load_image(f, size=10), from_path)


def test_unreadable_inputs_raise_one_clear_valueerror(tmp_path, rng):
    # UnreadableImageError is a ValueError: callers can tell a bad image from a bad argument
    with pytest.raises(UnreadableImageError, match=r"cannot read image <5 bytes>: not an image"):
        load_image(b"hello")
    full = _jpeg_bytes(_noise(rng, 64, 64))
    with pytest.raises(UnreadableImageError, match="truncated"):
        load_image(full[: len(full) // 2])
    with pytest.raises(UnreadableImageError, match="cannot read image .*missing.png: no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="size must be") as bad_size:
        load_image(full, size=0)
    assert not isinstance(bad_size.value, UnreadableImageError)
    with pytest.raises(ValueError, match="size must be"):
        load_image(full, size=(1, 2, 3))


def test_decompression_bomb_guard_stays_on(tmp_path, rng, monkeypatch):
    Image.fromarray(_noise(rng, 32, 32)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 1024 pixels > 2 * limit
    with pytest.raises(ValueError, match="decompression bomb"):
        load_image(tmp_path / "big.png")


def test_convert_images_gray_to_rgb_and_validation(rng):
    gray = rng.integers(0, 256, size=(3, 4, 5), dtype=np.uint8)
    rgb = convert_images(gray, color=True)
    assert rgb.shape == (3, 4, 5, 3)
    assert all((rgb[..., c] == gray).all() for c in range(3))
    assert convert_images(gray) is gray
    with pytest.raises(ValueError, match="expected uint8 images"):
        convert_images(gray.astype(np.float32))


def test_supported_suffixes_cover_the_issue_formats():
    for suffix in (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"):
        assert suffix in folder.SUPPORTED_SUFFIXES


def test_walk_lists_what_it_leaves_out(tmp_path, rng, monkeypatch):
    import os

    from imsim.datasets.folder import walk_folder

    Image.fromarray(_noise(rng, 8, 8)).save(tmp_path / "ok.png")
    (tmp_path / "locked").mkdir()
    Image.fromarray(_noise(rng, 8, 8)).save(tmp_path / "locked" / "x.png")
    (tmp_path / "a.svg").write_text("<svg/>")
    os.mkfifo(tmp_path / "pipe.png")
    os.symlink("ok.png", tmp_path / "alias.png")  # a link to a regular file is followed
    real = os.scandir

    def scandir(path="."):  # as a folder without read permission (tests run as root here)
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    listing = walk_folder(tmp_path)
    assert [p.name for p in listing.files] == ["alias.png", "ok.png"]
    assert listing.skipped == [("a.svg", "not a supported image type (.svg)"),
                               ("locked", "cannot read folder: Permission denied"),
                               ("pipe.png", "not a regular file (a FIFO)")]
