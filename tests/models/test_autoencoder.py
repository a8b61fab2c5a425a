import numpy as np
import pytest
import torch

from imsim.models import AutoencoderConfig, ConvAutoencoder, model_pixels, reconstruct, to_tensor


@pytest.mark.parametrize("shape, n_layers, filters", [
    ((28, 28, 1), 3, [4, 8, 8]),
    ((8, 8, 1), 2, 4),
    ((32, 32, 3), 4, [4, 8, 8, 8]),
    ((64, 64, 3), 3, [4, 4, 8]),
    ((6, 10, 1), 1, 4),
])
def test_any_input_shape_round_trips_to_the_same_shape(shape, n_layers, filters):
    config = AutoencoderConfig(input_shape=shape, n_layers=n_layers, filters=filters,
                               latent_dim=5, hidden_dim=16)
    model = ConvAutoencoder(config).eval()
    x = torch.rand(3, shape[2], shape[0], shape[1])
    with torch.no_grad():
        z = model.encode(x)
        y = model.decode(z)
    assert z.shape == (3, 5)
    assert y.shape == x.shape
    assert float(y.min()) >= 0 and float(y.max()) <= 1  # sigmoid output, like the scaled input


def test_shapes_that_cannot_be_pooled_are_rejected():
    with pytest.raises(ValueError, match="multiples of 4"):
        AutoencoderConfig(input_shape=(30, 30, 1))
    with pytest.raises(ValueError, match="multiples of 2"):
        AutoencoderConfig(input_shape=(7, 8, 1), n_layers=1, filters=4)


@pytest.mark.parametrize("kwargs, message", [
    ({"kernel_size": 4}, "odd"),
    ({"filters": [8, 16]}, "n_layers=3"),
    ({"latent_dim": 0}, "latent_dim"),
    ({"input_shape": (28,)}, "input_shape"),
])
def test_bad_configs_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AutoencoderConfig(**kwargs)


def test_config_dict_round_trip():
    config = AutoencoderConfig(input_shape=(8, 8), n_layers=2, filters=[3, 5], hidden_dim=0)
    assert config.input_shape == (8, 8, 1)
    assert AutoencoderConfig.from_dict(config.to_dict()) == config


def test_to_tensor_scales_pixels_to_unit_range_channels_first():
    gray = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    t = to_tensor(gray)
    assert t.shape == (1, 1, 2, 2) and t.dtype == torch.float32
    np.testing.assert_allclose(t[0, 0].numpy(), gray[0] / 255.0, rtol=1e-6)
    rgb = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
    t = to_tensor(rgb)
    assert t.shape == (2, 3, 2, 2)
    np.testing.assert_allclose(t[1, 2].numpy(), rgb[1, :, :, 2] / 255.0, rtol=1e-6)


def test_reconstruct_returns_pixels_of_the_input_shape():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    model = ConvAutoencoder(AutoencoderConfig(input_shape=(8, 8, 3), n_layers=2, filters=4))
    rec = reconstruct(model, images)
    assert rec.shape == images.shape and rec.dtype == np.uint8
    with torch.no_grad():
        expected = model(to_tensor(images)).permute(0, 2, 3, 1).numpy() * 255
    assert np.abs(rec.astype(float) - expected).max() <= 0.5 + 1e-3


def test_model_pixels_rejects_other_shapes_and_dtypes():
    with pytest.raises(ValueError, match="expects 28x28x1 images, got 8x8x1"):
        model_pixels(np.zeros((2, 8, 8), np.uint8), (28, 28, 1))
    with pytest.raises(TypeError, match="uint8"):
        model_pixels(np.zeros((2, 8, 8), np.float32))


def test_inference_encoder_matches_encode_with_batchnorm_folded():
    from imsim.models import inference_encoder

    torch.manual_seed(0)
    model = ConvAutoencoder(AutoencoderConfig(input_shape=(8, 8, 1), n_layers=3,
                                              filters=[4, 8, 8], hidden_dim=16))
    for m in model.modules():  # non-trivial running statistics
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
    model.eval()
    fast = inference_encoder(model)
    assert not any(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)) for m in fast)
    x = torch.rand(16, 1, 8, 8)
    with torch.no_grad():
        # numpy's check, not torch.testing's: that one imports torch._dynamo (1.5 s)
        np.testing.assert_allclose(fast(x).numpy(), model.encode(x).numpy(), rtol=1e-5, atol=1e-5)


def test_embed_encode_takes_a_prebuilt_inference_encoder():
    from imsim.embed import encode
    from imsim.models import inference_encoder

    torch.manual_seed(1)
    model = ConvAutoencoder(AutoencoderConfig(input_shape=(8, 8, 1), filters=4, hidden_dim=16))
    fast = inference_encoder(model)
    assert (fast.input_shape, fast.latent_dim) == (model.input_shape, model.latent_dim)
    images = np.random.default_rng(0).integers(0, 256, (5, 8, 8), dtype=np.uint8)
    np.testing.assert_array_equal(encode(fast, images, progress=False),
                                  encode(model, images, progress=False))


def test_stride_downsampling_has_no_pooling_and_the_same_shapes():
    pool = AutoencoderConfig(input_shape=(28, 28), filters=[4, 8, 8], hidden_dim=16,
                             latent_dim=5)
    stride = AutoencoderConfig(**{**pool.to_dict(), "downsample": "stride"})
    a, b = ConvAutoencoder(pool).eval(), ConvAutoencoder(stride).eval()
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in b.encoder)
    assert [m.stride for m in b.encoder if isinstance(m, torch.nn.Conv2d)] == [(2, 2), (2, 2),
                                                                               (1, 1)]
    # the same weights (shapes and count), only the layer indices differ
    assert ([p.shape for p in a.parameters()] == [p.shape for p in b.parameters()])
    assert a.state_dict().keys() != b.state_dict().keys()
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert b.encode(x).shape == (2, 5) and b(x).shape == x.shape


def test_downsample_is_checked_and_older_configs_read_as_pooling():
    with pytest.raises(ValueError, match="downsample must be one of"):
        AutoencoderConfig(downsample="avg")
    stride = AutoencoderConfig(downsample="stride")
    assert AutoencoderConfig.from_dict(stride.to_dict()) == stride
    older = {k: v for k, v in stride.to_dict().items() if k != "downsample"}
    assert AutoencoderConfig.from_dict(older).downsample == "pool"
