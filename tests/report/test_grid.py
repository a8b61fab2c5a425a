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
    # 3 columns of 6*4 px, 2 rows of 8*4 px plus a 12 px title strip, 4 px gaps
    assert got.shape == (2 * (32 + 12 + 4) + 4, 3 * (24 + 4) + 4, 3)
    for i, v in enumerate(values):
        row, col = divmod(i, 3)
        cy = 4 + row * 48 + 12 + 16
        cx = 4 + col * 28 + 12
        np.testing.assert_array_equal(got[cy - 10:cy + 10, cx - 8:cx + 8], v)
    # the sixth cell is empty background, and titles put dark pixels in the strips
    assert (got[4 + 48 + 12 + 16, 4 + 2 * 28 + 12] == 255).all()
    assert got[4:16, 4:28].min() < 128
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
