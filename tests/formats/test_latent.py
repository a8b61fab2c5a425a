"""The 2-byte latent files and their scale (imsim.formats.latent): no torch needed."""
import json
import struct
import subprocess
import sys

import numpy as np
import pytest

from imsim._validation import DataFormatError
from imsim.datasets import idx
from imsim.formats.latent import (LATENT_MAGIC, LATENT_MAX, LatentScale, fit_scale, from_uint16,
                                  read_latent, read_latent_file, scale_path, to_uint16,
                                  write_latent, write_latent_file, write_latent_files)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_reading_a_latent_file_loads_no_torch(tmp_path):
    path = write_latent_file(tmp_path / "z.latent", np.eye(3, dtype=np.float32),
                             LatentScale(0.0, 1.0))
    code = ("import sys, imsim\n"
            f"z, scale = imsim.read_latent_file({str(path)!r})\n"
            "assert z.shape == (3, 3) and scale.max == 1.0\n"
            "heavy = [m for m in ('torch', 'matplotlib', 'fastapi') if m in sys.modules]\n"
            "print(heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.slow  # imports PyTorch (see SLOW_MODULES in tests/conftest.py)
def test_old_import_paths_still_work():
    import imsim
    import imsim.datasets
    import imsim.embed
    from imsim.formats import latent

    assert imsim.datasets.read_latent is latent.read_latent is imsim.read_latent
    assert imsim.datasets.write_latent is latent.write_latent
    assert imsim.embed.LatentScale is latent.LatentScale is imsim.LatentScale
    assert imsim.embed.write_latent_file is latent.write_latent_file


def test_latent_round_trip_and_layout(tmp_path, rng):
    values = rng.integers(0, LATENT_MAX + 1, size=(6, 10)).astype(np.uint16)
    path = tmp_path / "latent"
    write_latent(path, values)
    raw = path.read_bytes()
    assert struct.unpack(">4i", raw[:16]) == (LATENT_MAGIC, 6, 1, 10)
    assert len(raw) == 16 + 6 * 10 * 2
    assert struct.unpack(">H", raw[16:18])[0] == values[0, 0]
    np.testing.assert_array_equal(read_latent(path), values)
    kind, data = idx.read_idx(path)
    assert kind == "latent"
    np.testing.assert_array_equal(data, values)


@pytest.mark.parametrize("magic", [1, 69, 999])
def test_legacy_latent_magics_warn(tmp_path, magic):
    values = np.arange(12, dtype=np.uint16).reshape(3, 4)
    path = tmp_path / "legacy"
    path.write_bytes(struct.pack(">4i", magic, 3, 1, 4) + values.astype(">u2").tobytes())
    with pytest.warns(UserWarning, match=str(magic)):
        got = read_latent(path)
    np.testing.assert_array_equal(got, values)



def test_latent_column_count_disagrees_with_size(tmp_path):
    values = np.zeros((4, 10), dtype=">u2")
    path = _write(tmp_path / "lat", struct.pack(">4i", 2051, 4, 1, 12) + values.tobytes())
    with pytest.raises(DataFormatError, match="12 values per vector.*gives 10"):
        read_latent(path)


def test_latent_value_out_of_range(tmp_path):
    values = np.full((2, 3), 30000, dtype=">u2")
    path = _write(tmp_path / "lat", struct.pack(">4i", 2051, 2, 1, 3) + values.tobytes())
    with pytest.raises(DataFormatError, match="out of range"):
        read_latent(path)


def test_fit_scale_is_global_over_all_dimensions():
    z = np.array([[0.0, 10.0], [-2.0, 3.0]], dtype=np.float32)
    assert fit_scale(z) == LatentScale(-2.0, 10.0)
    v = to_uint16(z, fit_scale(z))
    np.testing.assert_array_equal(v, [[4250, 25500], [0, 10625]])


def test_uint16_round_trip_error_is_half_a_step(rng):
    z = rng.normal(size=(200, 10)).astype(np.float32) * 5
    scale = fit_scale(z)
    v = to_uint16(z, scale)
    assert v.dtype == np.uint16 and v.min() == 0 and v.max() == LATENT_MAX
    step = (scale.max - scale.min) / LATENT_MAX
    assert np.abs(from_uint16(v, scale) - z).max() <= step / 2 + 1e-5


def test_l1_distances_keep_their_proportions(rng):
    z = rng.normal(size=(50, 10)).astype(np.float32) * [1, 10, 1, 1, 1, 1, 1, 1, 1, 1]
    v = to_uint16(z, fit_scale(z)).astype(np.float64)
    d_float = np.abs(z[:, None] - z[None]).sum(-1)
    d_int = np.abs(v[:, None] - v[None]).sum(-1)
    off = ~np.eye(50, dtype=bool)
    ratio = d_int[off] / d_float[off]
    assert ratio.std() / ratio.mean() < 1e-3  # one factor for every pair


def test_values_outside_the_scale_are_clipped():
    scale = LatentScale(0.0, 1.0)
    np.testing.assert_array_equal(to_uint16(np.array([[-0.5, 0.5, 2.0]]), scale),
                                  [[0, 12750, 25500]])
    assert to_uint16(np.ones((2, 3)), LatentScale(1.0, 1.0)).max() == 0


def test_latent_file_round_trip(tmp_path, rng):
    z = rng.normal(size=(30, 7)).astype(np.float32)
    scale = fit_scale(z)
    path = write_latent_file(tmp_path / "out.latent", z, scale)
    assert json.loads(scale_path(path).read_text())["levels"] == LATENT_MAX
    back, scale2 = read_latent_file(path)
    assert scale2 == scale and back.dtype == np.float32 and back.shape == (30, 7)
    np.testing.assert_allclose(back, z, atol=(scale.max - scale.min) / LATENT_MAX)
    np.testing.assert_array_equal(read_latent(path), to_uint16(z, scale))


def test_latent_file_errors(tmp_path):
    z = np.zeros((2, 3), np.float32)
    path = write_latent_file(tmp_path / "a", z, LatentScale(0.0, 1.0))
    scale_path(path).unlink()
    with pytest.raises(FileNotFoundError, match="latent scale"):
        read_latent_file(path)
    scale_path(path).write_text('{"low": 1}')
    with pytest.raises(DataFormatError, match="not a latent scale"):
        read_latent_file(path)
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty"):
        read_latent_file(tmp_path / "empty")
    with pytest.raises(ValueError, match="min <= max"):
        LatentScale(1.0, 0.0)


def test_images_file_is_not_a_latent_file(tmp_path):
    path = tmp_path / "imgs"
    idx.write_images(path, np.zeros((7, 5, 4), np.uint8))
    with pytest.raises(DataFormatError, match="images file"):
        read_latent(path)


def test_latent_file_is_not_an_images_file(tmp_path):
    path = tmp_path / "lat"
    write_latent(path, np.zeros((3, 4), dtype=np.uint16))
    with pytest.raises(DataFormatError, match="latent file"):
        idx.read_images(path)


def test_write_rejects_bad_values_and_leaves_no_file(tmp_path):
    path = tmp_path / "lat"
    with pytest.raises(ValueError, match="0..25500"):
        write_latent(path, np.array([[0, 25501]]))
    with pytest.raises(TypeError, match="integers"):
        write_latent(path, np.array([[0.5]]))
    assert list(tmp_path.iterdir()) == []


def test_write_latent_files_fits_one_scale_on_the_data_set(tmp_path, rng):
    z_data = rng.normal(size=(40, 5)).astype(np.float32)
    z_query = np.concatenate([z_data[:5], 10 * np.abs(z_data[5:10])])  # 5 rows far outside
    files = write_latent_files(tmp_path / "d.latent", z_data, tmp_path / "q.latent", z_query)
    assert files.scale == fit_scale(z_data)
    assert (files.n_dataset, files.n_query, files.latent_dim) == (40, 10, 5)
    assert files.clipped_dataset == 0
    expected = float(((z_query < files.scale.min) | (z_query > files.scale.max)).mean())
    assert files.clipped_query == expected > 0
    zd, sd = read_latent_file(files.dataset)
    zq, sq = read_latent_file(files.query)
    assert sd == sq == files.scale
    np.testing.assert_array_equal(read_latent(files.query), to_uint16(z_query, files.scale))


def test_write_latent_files_with_a_given_scale_reports_clipping_of_both(tmp_path):
    z = np.array([[-1.0, 0.0], [0.5, 2.0]], dtype=np.float32)
    files = write_latent_files(tmp_path / "d", z, tmp_path / "q", z[:1],
                               scale={"min": 0.0, "max": 1.0})
    assert files.scale == LatentScale(0.0, 1.0)
    assert files.clipped_dataset == 0.5 and files.clipped_query == 0.5
    np.testing.assert_array_equal(read_latent(tmp_path / "d"), [[0, 0], [12750, 25500]])
    with pytest.raises(ValueError, match="one D"):
        write_latent_files(tmp_path / "d", z, tmp_path / "q", np.zeros((2, 3)))
