"""The one decoding path: regular files only, byte and pixel caps, draft, budget, typed errors."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from _data import MAX_PIXELS, bomb_png
from imsim._validation import ImageTooLargeError, UnreadableImageError
from imsim.datasets.image import DecodeBudget, decode_image, limits, open_image, probe_image, read_image_file


def _png(pixels) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def test_fifo_and_device_links_are_refused_without_reading(tmp_path):
    # in a child process with a timeout and a memory cap: before the fix the FIFO
    # blocked forever and /dev/zero was read until memory ran out
    os.mkfifo(tmp_path / "x.jpg")
    os.symlink("/dev/zero", tmp_path / "zero.jpg")
    code = (
        "import sys\n"
        "from imsim.datasets.image import decode_image\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        decode_image(name)\n"
        "    except ValueError as exc:\n"
        "        print(type(exc).__name__, exc.reason)\n")
    out = subprocess.run(
        ["bash", "-c", f'ulimit -v 1500000; exec "{sys.executable}" -c "$0" "$@"', code,
         str(tmp_path / "x.jpg"), str(tmp_path / "zero.jpg")],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "UnreadableImageError not a regular file (a FIFO)",
        "UnreadableImageError not a regular file (a character device)"]


def test_errors_carry_source_and_reason(tmp_path):
    with pytest.raises(UnreadableImageError) as info:
        decode_image(tmp_path / "missing.png")
    assert info.value.source == str(tmp_path / "missing.png") and info.value.reason == "no such file"
    assert str(info.value) == f"cannot read image {tmp_path / 'missing.png'}: no such file"
    os.symlink("nowhere.png", tmp_path / "dangling.png")
    with pytest.raises(UnreadableImageError, match="broken symbolic link"):
        decode_image(tmp_path / "dangling.png")
    os.symlink("loop.png", tmp_path / "loop.png")
    with pytest.raises(UnreadableImageError, match="symbolic link loop"):
        decode_image(tmp_path / "loop.png")
    with pytest.raises(UnreadableImageError, match=r"not a regular file \(a folder\)"):
        decode_image(tmp_path)
    with pytest.raises(UnreadableImageError) as info:
        decode_image(b"hello", name="upload.jpg")
    assert (info.value.source, info.value.reason) == ("upload.jpg", "not an image file that Pillow can decode")
    # picklable (process pools, web workers)
    import pickle

    again = pickle.loads(pickle.dumps(info.value))
    assert (again.source, again.reason, str(again)) == (info.value.source, info.value.reason, str(info.value))


def test_byte_cap_refuses_before_reading(tmp_path, monkeypatch):
    data = _png(np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "a.png").write_bytes(data)
    monkeypatch.setenv("IMSIM_MAX_IMAGE_BYTES", str(len(data) - 1))
    for source in (tmp_path / "a.png", data, io.BytesIO(data)):
        with pytest.raises(ImageTooLargeError, match="IMSIM_MAX_IMAGE_BYTES"):
            decode_image(source)
    monkeypatch.setenv("IMSIM_MAX_IMAGE_BYTES", str(len(data)))
    assert decode_image(tmp_path / "a.png").pixels.shape == (8, 8, 3)
    assert read_image_file(tmp_path / "a.png") == data


@pytest.mark.parametrize("factor, accepted", [(0.9, True), (1.0, True), (1.5, False), (2.5, False)])
def test_pixel_cap_has_no_warning_band(hostile_env, factor, accepted):
    side = int((factor * MAX_PIXELS) ** 0.5) + (0 if accepted else 1)
    data = bomb_png(side)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning or any other
        if accepted:
            got = decode_image(data, size=16, color=False)
            assert (got.width, got.height) == (side, side) and got.pixels.shape == (16, 16)
        else:
            with pytest.raises(ImageTooLargeError, match="the limit is"):
                probe_image(data)
            with pytest.raises(ImageTooLargeError) as info:
                decode_image(data)
            assert f"{side}x{side} = {side * side:,} pixels, the limit is {MAX_PIXELS:,}" in info.value.reason
            assert "IMSIM_MAX_IMAGE_PIXELS" in info.value.reason


def test_pillow_limit_is_the_default_cap_and_its_warning_is_never_raw(monkeypatch):
    monkeypatch.delenv("IMSIM_MAX_IMAGE_PIXELS", raising=False)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert limits().max_pixels == 1000
    data = bomb_png(40)  # 1,600 pixels: between 1x and 2x Pillow's limit, where Pillow only warns
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        with pytest.raises(ImageTooLargeError, match="1,600 pixels, the limit is 1,000"):
            decode_image(data)
        with pytest.raises(ImageTooLargeError, match="the limit is 1,000"):
            decode_image(bomb_png(100))  # above 2x: Pillow's own error, same message
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_upright_size_and_draft_decoding(rng):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees: a 40x20 file shows as 20x40
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (20, 40, 3), dtype=np.uint8)).save(buf, "JPEG", exif=exif.tobytes())
    got = decode_image(buf.getvalue())
    assert (got.width, got.height, got.format) == (20, 40, "JPEG") and got.pixels.shape == (40, 20, 3)
    assert probe_image(buf.getvalue()) == (20, 40, "JPEG")

    class Recording(DecodeBudget):
        def hold(self, n_pixels):
            self.seen = n_pixels
            return super().hold(n_pixels)

    big = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (1200, 1600, 3), dtype=np.uint8)).save(big, "JPEG")
    budget = Recording(10**9)
    got = decode_image(big.getvalue(), size=64, budget=budget)
    assert (got.width, got.height) == (1600, 1200) and got.pixels.shape == (64, 64, 3)
    assert budget.seen == 200 * 150  # libjpeg decoded at 1/8 scale, not 1.9 megapixels


def test_open_image_caps_the_drafted_size_and_reads_open_files_in_place(rng, tmp_path):
    """The web server's entry (open, then its own reduced decode): the pixel cap applies to
    what libjpeg will decode after draft; an open regular file is checked by its size."""
    path = tmp_path / "big.jpg"
    Image.fromarray(rng.integers(0, 256, (1200, 1600, 3), dtype=np.uint8)).save(path, "JPEG")
    with pytest.raises(ImageTooLargeError) as info:
        with open_image(path, max_pixels=100_000):
            pass
    assert (info.value.pixels, info.value.limit) == (1600 * 1200, 100_000)
    with open(path, "rb") as fp, open_image(fp, draft=(200, 150), max_pixels=100_000) as (img, w, h):
        assert (w, h) == (1600, 1200) and img.size == (200, 150)  # libjpeg's 1/8 scale
        img.load()
        reference = np.asarray(Image.open(path).reduce(8), dtype=float)
        assert np.abs(np.asarray(img, dtype=float) - reference).mean() < 8
    with open(path, "rb") as fp, pytest.raises(ImageTooLargeError, match="bytes, the limit is 100") as info:
        with open_image(fp, max_bytes=100):
            pass
    assert info.value.pixels is None and info.value.limit is None
    with pytest.raises(UnreadableImageError, match="truncated"):
        with open_image(path.read_bytes()[:5000]) as (img, _, _):
            img.load()  # a failure while decoding inside the block is typed too


def _photo_jpeg(rng, width=800, height=600) -> bytes:
    """A JPEG of smooth colour blocks with noise (what libjpeg's scaled decode is for)."""
    blocks = np.kron(rng.integers(0, 256, (6, 8, 3)), np.ones((height // 6, width // 8, 1)))
    buf = io.BytesIO()
    Image.fromarray(np.clip(blocks + rng.normal(0, 8, blocks.shape), 0, 255).astype(np.uint8)).save(
        buf, "JPEG", quality=90)
    return buf.getvalue()


def test_the_pixel_cap_applies_to_the_raster_actually_decoded(rng):
    """A JPEG over the cap is decoded when libjpeg's scaled raster for the asked size fits
    (and holds that raster in the budget); a PNG cannot draft and is refused from its header."""
    data = _photo_jpeg(rng)  # 800 x 600 = 480,000 pixels
    budget = DecodeBudget(10**9)
    got = decode_image(data, size=64, max_pixels=50_000, budget=budget)
    assert (got.width, got.height) == (800, 600) and got.pixels.shape == (64, 64, 3)
    assert budget.peak == 100 * 75  # the 1/8 raster, 7,500 pixels
    reference = Image.open(io.BytesIO(data))
    reference.draft("RGB", (64, 64))
    reference = np.asarray(reference.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(got.pixels, reference)  # Pillow's own scaled decode
    whole = np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((64, 64),
                                                                         Image.Resampling.BILINEAR))
    assert np.abs(got.pixels.astype(float) - whole).mean() < 4  # and close to a full decode
    for size, pixels in ((None, 800 * 600), (300, 400 * 300)):  # 300 px: only 1/2 scale covers it
        with pytest.raises(ImageTooLargeError) as info:
            decode_image(data, size=size, max_pixels=50_000)
        assert (info.value.pixels, info.value.limit) == (pixels, 50_000)
        assert f"{pixels:,} pixels, the limit is 50,000" in info.value.reason
    png = _png(rng.integers(0, 256, (150, 200, 3), dtype=np.uint8))
    with pytest.raises(ImageTooLargeError) as info:
        decode_image(png, size=16, max_pixels=25_000)
    assert (info.value.pixels, info.value.limit) == (200 * 150, 25_000)
    assert decode_image(png, size=16, max_pixels=30_000).pixels.shape == (16, 16, 3)


@pytest.mark.slow  # a child process
def test_a_jpeg_whose_draft_is_still_over_the_cap_is_refused_without_decoding(rng, tmp_path):
    """A JPEG header declaring 30000 x 30000 pixels (2.7 GB decoded): at 2000 px libjpeg
    would still decode 3750 x 3750, over a 10-megapixel cap. In a child process under a
    1.5 GB address-space limit, so a decode of the whole raster would fail there."""
    small = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(small, "JPEG")
    data = bytearray(small.getvalue())
    sof = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    data[sof + 5:sof + 9] = (30000).to_bytes(2, "big") * 2
    (tmp_path / "huge.jpg").write_bytes(bytes(data))
    code = (
        "import sys\n"
        "from imsim.datasets.image import decode_image\n"
        "try:\n"
        "    decode_image(sys.argv[1], size=2000, max_pixels=10_000_000)\n"
        "except ValueError as exc:\n"
        "    print(type(exc).__name__, exc.pixels, exc.limit)\n")
    out = subprocess.run(
        ["bash", "-c", f'ulimit -v 1500000; exec "{sys.executable}" -c "$0" "$@"', code,
         str(tmp_path / "huge.jpg")],
        capture_output=True, text=True, timeout=60, env={**os.environ, "IMSIM_MAX_IMAGE_PIXELS": str(10**9)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ImageTooLargeError", str(3750 * 3750), "10000000"]


def test_opening_a_png_decodes_no_pixel_and_keeps_its_orientation(monkeypatch, rng):
    """Pillow's PNG getexif() decodes the image: opening must not call it, or every decode
    of a PNG bomb would happen before (and outside) the decode budget's hold."""
    from PIL import ImageFile

    exif = Image.Exif()
    exif[0x0112] = 6  # stored 40x20, shown 20x40
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (20, 40, 3), dtype=np.uint8)).save(buf, "PNG", exif=exif.tobytes())
    loads = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self.size) or real_load(self))
    assert probe_image(bomb_png(3000)) == (3000, 3000, "PNG")
    assert probe_image(buf.getvalue()) == (20, 40, "PNG")
    assert loads == []
    got = decode_image(buf.getvalue())
    assert (got.width, got.height) == (20, 40) and got.pixels.shape == (40, 20, 3) and loads


def test_decode_budget_bounds_concurrent_pixels():
    budget = DecodeBudget(100)
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def work(n):
        with budget.hold(n):
            with lock:
                state["now"] += n
                state["peak"] = max(state["peak"], state["now"])
            time.sleep(0.01)
            with lock:
                state["now"] -= n

    threads = [threading.Thread(target=work, args=(n,)) for n in [60, 60, 30, 30, 30, 150, 10] * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # never more than the budget, except one request larger than it, which runs alone
    assert state["peak"] <= 150 and budget._used == 0


def _on_clear(rgb, size=(60, 40)) -> Image.Image:
    """A disc of colour ``rgb`` (and a bar) on a transparent canvas."""
    from PIL import ImageDraw

    img = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.ellipse([5, 5, 35, 35], fill=(*rgb, 255))
    draw.rectangle([40, 10, 55, 30], fill=(*rgb, 160))
    return img


def test_a_white_picture_on_a_clear_canvas_gets_a_dark_backdrop_and_others_white():
    from imsim.datasets.image import LIGHT_END, LIGHT_START, backdrop_level, flatten_alpha

    assert backdrop_level(_on_clear((20, 20, 20))) == 255      # dark ink: white, as viewers show it
    assert backdrop_level(_on_clear((255, 255, 255))) == 0     # white on clear: black
    assert backdrop_level(Image.new("RGBA", (8, 8), (255, 255, 255, 0))) == 255  # nothing shows
    # between the two ends the level falls linearly with the visible pixels' mean luminance,
    # and the colour under clear pixels does not count
    grey = round(255 * (LIGHT_START + LIGHT_END) / 2)
    half = np.asarray(_on_clear((grey,) * 3)).copy()
    half[half[..., 3] == 0, :3] = 255
    assert abs(backdrop_level(Image.fromarray(half, "RGBA")) - 128) <= 4
    levels = [backdrop_level(_on_clear((v,) * 3)) for v in range(200, 256, 5)]
    assert levels == sorted(levels, reverse=True) and levels[0] == 255 and levels[-1] == 0
    # a big picture's level is taken on a small copy: the same as its own
    assert abs(backdrop_level(_on_clear((240,) * 3, (600, 400)))
               - backdrop_level(_on_clear((240,) * 3))) <= 8
    # composited: the white disc shows on black; decode_image sees the same
    flat = np.asarray(flatten_alpha(_on_clear((255, 255, 255))))
    assert flat[20, 20].tolist() == [255, 255, 255] and flat[2, 2].tolist() == [0, 0, 0]
    buf = io.BytesIO()
    _on_clear((255, 255, 255)).save(buf, format="PNG")
    np.testing.assert_array_equal(decode_image(buf.getvalue()).pixels, flat)
    rgba = decode_image(buf.getvalue(), keep_alpha=True).pixels
    assert rgba.shape == (40, 60, 4) and rgba[2, 2, 3] == 0 and rgba[20, 20, 3] == 255
