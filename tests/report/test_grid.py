import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from imsim.datasets import ImageSet
from imsim.report.grid import image_grid


def _read(path):
    with Image.open(path) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB"))


def test_gray_grid_size_and_cell_contents(tmp_path):
    values = [0, 50, 100, 150, 200]
    images = np.stack([np.full((8, 6), v, np.uint8) for v in values])
    path = image_grid(images, tmp_path / "g.png", titles=[f"v={v}" for v in values],
                      ncols=3, scale=4, pad=4)
    assert path == tmp_path / "g.png"
    got = _read(path)
    # 3 columns of 6*4 px, 2 rows of 8*4 px plus a 16 px title strip, 4 px gaps
    assert got.shape == (2 * (32 + 16 + 4) + 4, 3 * (24 + 4) + 4, 3)
    for i, v in enumerate(values):
        row, col = divmod(i, 3)
        cy = 4 + row * 52 + 16 + 16
        cx = 4 + col * 28 + 12
        np.testing.assert_array_equal(got[cy - 10:cy + 10, cx - 8:cx + 8], v)
    # the sixth cell is empty background, and titles put dark pixels in the strips
    assert (got[4 + 52 + 16 + 16, 4 + 2 * 28 + 12] == 255).all()
    assert got[4:20, 4:28].min() < 128
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]  # no temporary file left


def test_rgb_list_of_mixed_sizes_and_imageset(tmp_path, rng):
    a = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (4, 6), dtype=np.uint8)
    got = _read(image_grid([a, b], tmp_path / "m.png", scale=2, pad=0))
    assert got.shape == (20, 40, 3)
    np.testing.assert_array_equal(got[:20, :20], a.repeat(2, 0).repeat(2, 1))
    # the smaller gray image is centred in its 20x20 cell
    np.testing.assert_array_equal(got[6:14, 24:36, 0], b.repeat(2, 0).repeat(2, 1))
    default = _read(image_grid(ImageSet(np.zeros((4, 28, 28), np.uint8)), tmp_path / "d.png"))
    assert 150 <= default.shape[0] <= 220 and default.shape == (default.shape[1], default.shape[1], 3)


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="no images"):
        image_grid([], tmp_path / "x.png")
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        image_grid(np.zeros((3, 4, 4), np.uint8), tmp_path / "x.png", titles=["a", "b"])
    with pytest.raises(TypeError, match="expected uint8"):
        image_grid(np.zeros((3, 4, 4), np.float32), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_importing_the_report_package_loads_no_matplotlib():
    code = "import sys, imsim.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_shorten_middle_keeps_both_ends():
    from imsim.report.grid import shorten_middle

    fits = lambda n: (lambda t: len(t) <= n)  # noqa: E731
    assert shorten_middle("folder-pictures.png", fits(40)) == "folder-pictures.png"
    # a third of the kept characters from the start, two thirds from the end
    assert shorten_middle("512x512/places/folder-pictures.png", fits(16)) == \
        "512x5\u2026ctures.png"
    assert shorten_middle("abcdef", fits(1)) == "\u2026"


def _dark_rows(strip):
    return np.flatnonzero((strip.min(axis=(1, 2)) < 128))


def test_titles_are_two_lines_and_readable(tmp_path):
    # a 10 pt font: capitals ~10 px high (the 7 pt captions were ~7 px)
    img = np.full((1, 24, 24), 200, np.uint8)
    got = _read(image_grid(img, tmp_path / "t.png", titles=["HHH\nHHH"], scale=4, pad=4))
    assert got.shape[0] == 4 + 2 * 16 + 96 + 4
    first, second = got[4:4 + 16], got[4 + 16:4 + 32]
    for strip in (first, second):
        rows = _dark_rows(strip)
        assert rows.size and rows[-1] - rows[0] + 1 >= 9, rows


def test_query_grid_names_every_tile(tmp_path, monkeypatch):
    from imsim.report import grid, map_plots

    paths = []
    for i, name in enumerate(["a-very-long-folder-name/holiday-at-the-beach.jpg", "b.jpg"]):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(np.full((20, 20, 3), 60 * i, np.uint8)).save(path)
        paths.append(path)
    hits = [type("Hit", (), {"path": p, "distance": 0.25 * (j + 1), "similarity": None})()
            for j, p in enumerate(paths)]
    result = type("Result", (), {"hits": hits})()
    seen = {}
    real = grid.image_grid
    monkeypatch.setattr(grid, "image_grid", lambda cells, path, **kw: seen.update(kw) or
                        real(cells, path, **kw))
    map_plots.query_grid(result, paths[1], tmp_path / "q.png")
    assert seen["titles"] == ["query\nb.jpg", "1. d=0.25\nholiday-at-the-beach.jpg",
                              "2. d=0.5\nb.jpg"]
    assert _read(tmp_path / "q.png").shape[1] == 3 * (128 + 4) + 4


def test_map_numbers_its_thumbnails_and_lists_their_names(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from imsim.report.map_plots import latent_map

    texts = []
    real = Figure.text
    monkeypatch.setattr(Figure, "text", lambda self, x, y, s, *a, **kw: texts.append(s) or
                        real(self, x, y, s, *a, **kw))
    coords = np.random.default_rng(0).normal(size=(20, 2))
    thumbs = [(3, np.zeros((8, 8), np.uint8)), (7, np.full((8, 8, 3), 90, np.uint8))]
    names = ["icons/16x16/status/battery-level-100-charged-symbolic.symbolic.png", "b.png"]
    latent_map(coords, tmp_path / "m.png", thumbnails=thumbs, thumbnail_names=names)
    assert texts[0] == "thumbnails" and texts[2] == " 2. b.png"
    assert texts[1].startswith(" 1. icons/16x16") and texts[1].endswith("symbolic.symbolic.png")
    assert "\u2026" in texts[1] and len(texts[1]) == 4 + 38
    with pytest.raises(ValueError, match="1 names for 2 thumbnails"):
        latent_map(coords, tmp_path / "x.png", thumbnails=thumbs, thumbnail_names=["a"])
