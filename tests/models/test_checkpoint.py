import json

import numpy as np
import pytest
import torch

from imsim._validation import DataFormatError
from imsim.embed import LatentScale, encode
from imsim.models import (AutoencoderConfig, Checkpoint, ConvAutoencoder, History,
                          load_checkpoint, read_checkpoint_meta, save_checkpoint,
                          update_checkpoint_meta)

CONFIG = AutoencoderConfig(input_shape=(8, 8, 1), n_layers=2, filters=[4, 8], hidden_dim=16,
                           latent_dim=3)


@pytest.fixture(scope="module")
def trained():
    """A model as training leaves it (weights and batch-norm statistics away from their
    initial values, a history), made without an optimizer: the round trips below
    need the state, not the descent, and `test_training.py` trains for real."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (24, 8, 8), dtype=np.uint8)
    torch.manual_seed(0)
    model = ConvAutoencoder(CONFIG)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.add_(0.1 * torch.rand_like(tensor) if "running_var" in name
                            else 0.1 * torch.randn_like(tensor))
    model.eval()
    history = History(epochs=[{"epoch": e, "train_loss": 0.1 / e, "val_loss": None,
                               "seconds": 0.01, "lr": 1e-3} for e in (1, 2)], best_epoch=2)
    return model, history, images


def _same_model(loaded, model, images):
    """Every tensor of the state comes back bit for bit; the latents agree to float32
    rounding (a fresh module may lay a conv weight out in memory otherwise, which
    changes the kernels' summation order, not the values)."""
    want = model.state_dict()
    got = loaded.state_dict()
    assert got.keys() == want.keys()
    for name, tensor in want.items():
        assert torch.equal(got[name], tensor), name
    np.testing.assert_allclose(encode(loaded, images, progress=False),
                               encode(model, images, progress=False), rtol=1e-6, atol=1e-6)


def test_save_load_gives_identical_latents_and_metadata(tmp_path, trained):
    model, history, images = trained
    scale = LatentScale(-1.5, 2.0)
    save_checkpoint(tmp_path / "m", model, history=history, latent_scale=scale,
                    extra={"note": "x"})
    loaded = load_checkpoint(tmp_path / "m", expect_input_shape=(8, 8))
    assert isinstance(loaded, Checkpoint) and loaded.path == tmp_path / "m"
    assert isinstance(loaded.model, ConvAutoencoder) and not loaded.model.training
    assert loaded.model.config == model.config and loaded.config == model.config_dict()
    assert loaded.architecture == "ConvAutoencoder" and loaded.input_shape == (8, 8, 1)
    _same_model(loaded.model, model, images)
    assert loaded.history.epochs == history.epochs
    assert loaded.latent_scale == scale and loaded.extra == {"note": "x"}
    assert not hasattr(loaded.model, "latent_scale")  # nothing attached to the torch module
    meta = read_checkpoint_meta(tmp_path / "m")
    assert meta["architecture"] == "ConvAutoencoder" and meta["input_shape"] == [8, 8, 1]
    assert meta["extra"] == {"note": "x"} and meta["imsim_version"]


def test_update_meta_keeps_weights(tmp_path, trained):
    model, _, images = trained
    save_checkpoint(tmp_path, model)
    assert load_checkpoint(tmp_path).latent_scale is None
    update_checkpoint_meta(tmp_path, latent_scale=LatentScale(0.0, 1.0))
    loaded = load_checkpoint(tmp_path)
    assert loaded.latent_scale == LatentScale(0.0, 1.0)
    assert read_checkpoint_meta(tmp_path)["latent_scale"] == {"min": 0.0, "max": 1.0,
                                                              "levels": 25500}
    _same_model(loaded.model, model, images)


def test_mismatched_input_shape_is_a_clear_error(tmp_path, trained):
    save_checkpoint(tmp_path, trained[0])
    with pytest.raises(ValueError, match="expects 8x8x1 images, got 28x28x1"):
        load_checkpoint(tmp_path, expect_input_shape=(28, 28, 1))
    with pytest.raises(ValueError, match="holds a ConvAutoencoder, expected a Classifier"):
        load_checkpoint(tmp_path, architecture="Classifier")


def test_bad_checkpoint_folders(tmp_path, trained):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_checkpoint(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text('{"format": "something-else"}')
    with pytest.raises(DataFormatError, match="not an imsim checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        load_checkpoint(tmp_path)


def test_weights_of_another_architecture_or_corrupt_weights(tmp_path, trained):
    save_checkpoint(tmp_path, trained[0])
    meta = json.loads((tmp_path / "config.json").read_text())
    meta["config"]["filters"] = [4, 16]  # a different model than the weights
    (tmp_path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(DataFormatError, match="do not fit the ConvAutoencoder"):
        load_checkpoint(tmp_path)
    meta["architecture"] = "ResNet"
    (tmp_path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(DataFormatError, match="unknown architecture 'ResNet'"):
        load_checkpoint(tmp_path)
    save_checkpoint(tmp_path, trained[0])
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(DataFormatError, match="unreadable weights"):
        load_checkpoint(tmp_path)


def test_a_malformed_stored_scale_is_rejected_on_load(tmp_path, trained):
    save_checkpoint(tmp_path, trained[0], latent_scale={"min": 0.0, "max": 1.0, "levels": 255})
    with pytest.raises(DataFormatError, match="config.json: latent scale for 0..255"):
        load_checkpoint(tmp_path)


def test_cannot_checkpoint_other_modules(tmp_path):
    with pytest.raises(TypeError, match="cannot checkpoint a Linear"):
        save_checkpoint(tmp_path, torch.nn.Linear(2, 2))


def test_a_strided_model_round_trips_and_pooled_weights_do_not_fit_it(tmp_path, trained):
    _, _, images = trained
    torch.manual_seed(0)
    strided = ConvAutoencoder(AutoencoderConfig(**{**CONFIG.to_dict(), "downsample": "stride"}))
    strided.eval()
    save_checkpoint(tmp_path / "s", strided)
    loaded = load_checkpoint(tmp_path / "s", expect_input_shape=(8, 8))
    assert loaded.model.config.downsample == "stride"
    _same_model(loaded.model, strided, images)
    # a pooled model's folder whose config says "stride": the layer names differ
    save_checkpoint(tmp_path / "p", trained[0])
    meta = json.loads((tmp_path / "p" / "config.json").read_text())
    meta["config"]["downsample"] = "stride"
    (tmp_path / "p" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(DataFormatError, match="do not fit the ConvAutoencoder"):
        load_checkpoint(tmp_path / "p")
