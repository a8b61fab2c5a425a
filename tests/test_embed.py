import numpy as np
import pytest
from _data import spot_images

from imsim.datasets import ImageSet, write_images
from imsim.embed import encode, reduce_files
from imsim.formats.latent import (LATENT_MAX, LatentScale, fit_scale, read_latent,
                                  read_latent_file, to_uint16)
from imsim.models import (AutoencoderConfig, ConvAutoencoder, TrainConfig, load_checkpoint,
                          save_checkpoint)

TINY = AutoencoderConfig(input_shape=(8, 8, 1), n_layers=2, filters=[4, 8], hidden_dim=16,
                         latent_dim=4)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


@pytest.mark.slow
def test_reduce_shares_one_scale_between_data_and_query(tmp_path):
    data, query = spot_images(60, 0), spot_images(20, 1)
    write_images(tmp_path / "data.idx", data)
    write_images(tmp_path / "query.idx", query)
    info = reduce_files(tmp_path / "data.idx", tmp_path / "query.idx", tmp_path / "d.lat",
                        tmp_path / "q.lat", model_config=TINY,
                        train_config=TrainConfig(epochs=2, batch_size=16), progress=False)
    assert info["trained"] and info["n_dataset"] == 60 and info["n_query"] == 20
    zd, sd = read_latent_file(tmp_path / "d.lat")
    zq, sq = read_latent_file(tmp_path / "q.lat")
    assert sd == sq == info["scale"]
    checkpoint = load_checkpoint(tmp_path / "model", expect_input_shape=(8, 8))
    assert checkpoint.latent_scale == sd and info["scale_source"] == "dataset"
    assert info["clipped_dataset"] == 0
    model = checkpoint.model
    # the scale is the data set's: its min and max are exactly 0 and 25500 there
    raw = read_latent(tmp_path / "d.lat")
    assert raw.min() == 0 and raw.max() == LATENT_MAX
    expected_q = to_uint16(encode(model, query, progress=False), sd)
    np.testing.assert_array_equal(read_latent(tmp_path / "q.lat"), expected_q)
    assert zq.shape == (20, 4) and zd.shape == (60, 4)


def test_reduce_with_a_model_without_scale_fits_one_and_leaves_the_model_alone(tmp_path):
    data = spot_images(30, 2)
    write_images(tmp_path / "data.idx", data)
    model = ConvAutoencoder(TINY)
    save_checkpoint(tmp_path / "m", model)
    before = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}
    info = reduce_files(tmp_path / "data.idx", tmp_path / "data.idx", tmp_path / "d",
                        tmp_path / "q", model_dir=tmp_path / "m", progress=False)
    assert not info["trained"] and info["clipped_query"] == 0
    assert info["scale"] == fit_scale(encode(model, data, progress=False))
    assert info["scale_source"] == "dataset"
    # the model folder is only read: no scale written into it, no file touched
    assert {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()} == before
    assert load_checkpoint(tmp_path / "m").latent_scale is None
    np.testing.assert_array_equal(read_latent(tmp_path / "d"), read_latent(tmp_path / "q"))


def test_reduce_with_a_stored_scale_uses_it_and_reports_clipping_of_both_sets(tmp_path):
    data = spot_images(30, 3)
    write_images(tmp_path / "data.idx", data)
    model = ConvAutoencoder(TINY)
    z = encode(model, data, progress=False)
    narrow = LatentScale(float(np.quantile(z, 0.25)), float(np.quantile(z, 0.75)))
    save_checkpoint(tmp_path / "m", model, latent_scale=narrow)
    info = reduce_files(tmp_path / "data.idx", tmp_path / "data.idx", tmp_path / "d",
                        tmp_path / "q", model_dir=tmp_path / "m", progress=False)
    assert info["scale"] == narrow and info["scale_source"] == "model"
    expected = float(((z < narrow.min) | (z > narrow.max)).mean())
    assert info["clipped_dataset"] == pytest.approx(expected) == info["clipped_query"]
    assert 0.4 < expected < 0.6
    assert read_latent_file(tmp_path / "d")[1] == narrow
