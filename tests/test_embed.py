import json

import numpy as np
import pytest

from imsim._validation import DataFormatError
from imsim.datasets import ImageSet, read_latent, write_images
from imsim.embed import (LATENT_MAX, LatentScale, encode, fit_scale, from_uint16,
                         read_latent_file, reduce_files, scale_path, to_uint16, write_latent_file)
from imsim.models import (AutoencoderConfig, ConvAutoencoder, TrainConfig, load_checkpoint,
                          save_checkpoint)

TINY = AutoencoderConfig(input_shape=(8, 8, 1), n_layers=2, filters=[4, 8], hidden_dim=16,
                         latent_dim=4)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


def test_encode_scales_pixels_as_training_does(rng):
    import torch

    torch.manual_seed(0)
    model = ConvAutoencoder(TINY).eval()
    images = rng.integers(0, 256, (37, 8, 8), dtype=np.uint8)
    z = encode(model, ImageSet(images), batch_size=10, progress=False)
    assert z.shape == (37, 4) and z.dtype == np.float32
    with torch.no_grad():
        expected = model.encode(torch.from_numpy(images[:, None] / 255.0).float()).numpy()
    np.testing.assert_allclose(z, expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="expects 8x8x1 images, got 8x8x3"):
        encode(model, np.zeros((2, 8, 8, 3), np.uint8), progress=False)


def _blobs(n, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:8, :8]
    c = rng.uniform(1, 7, (n, 2, 1, 1))
    return (255 * np.exp(-((yy - c[:, 0]) ** 2 + (xx - c[:, 1]) ** 2) / 4)).astype(np.uint8)


def test_reduce_shares_one_scale_between_data_and_query(tmp_path):
    data, query = _blobs(60, 0), _blobs(20, 1)
    write_images(tmp_path / "data.idx", data)
    write_images(tmp_path / "query.idx", query)
    info = reduce_files(tmp_path / "data.idx", tmp_path / "query.idx", tmp_path / "d.lat",
                        tmp_path / "q.lat", model_config=TINY,
                        train_config=TrainConfig(epochs=2, batch_size=16), progress=False)
    assert info["trained"] and info["n_dataset"] == 60 and info["n_query"] == 20
    zd, sd = read_latent_file(tmp_path / "d.lat")
    zq, sq = read_latent_file(tmp_path / "q.lat")
    assert sd == sq == info["scale"]
    model = load_checkpoint(tmp_path / "model", expect_input_shape=(8, 8))
    assert LatentScale.from_json(model.latent_scale) == sd
    # the scale is the data set's: its min and max are exactly 0 and 25500 there
    raw = read_latent(tmp_path / "d.lat")
    assert raw.min() == 0 and raw.max() == LATENT_MAX
    expected_q = to_uint16(encode(model, query, progress=False), sd)
    np.testing.assert_array_equal(read_latent(tmp_path / "q.lat"), expected_q)
    assert zq.shape == (20, 4) and zd.shape == (60, 4)


def test_reduce_with_a_model_without_scale_fits_and_stores_it(tmp_path):
    data = _blobs(30, 2)
    write_images(tmp_path / "data.idx", data)
    model = ConvAutoencoder(TINY)
    save_checkpoint(tmp_path / "m", model)
    info = reduce_files(tmp_path / "data.idx", tmp_path / "data.idx", tmp_path / "d",
                        tmp_path / "q", model_dir=tmp_path / "m", progress=False)
    assert not info["trained"] and info["clipped_query"] == 0
    stored = LatentScale.from_json(load_checkpoint(tmp_path / "m").latent_scale)
    assert stored == info["scale"] == fit_scale(encode(model, data, progress=False))
    np.testing.assert_array_equal(read_latent(tmp_path / "d"), read_latent(tmp_path / "q"))
