"""Encoders: the floor, the robust features, saved/loaded state, backbones from files."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from imsim.encoders import NAMES, check_name, choose, load_encoder, make_encoder
from imsim.encoders.handcrafted import PCAWhitening, pool, thumbnail_vectors


def _images(n=60, seed=0, side=32):
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (n, 4, 4, 3)).astype(np.float32)
    return np.stack([np.asarray(Image.fromarray(im.astype(np.uint8)).resize((side, side),
                                                                             Image.Resampling.BICUBIC))
                     for im in low])


def test_pool_is_the_block_mean():
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
    ref = x.reshape(2, 4, 2, 4, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(pool(x, 4), ref, rtol=1e-6)


def test_thumbnail_ignores_brightness_offset_and_scale():
    x = _images(4).astype(np.float32)
    a = thumbnail_vectors(np.clip(x * 0.5, 0, 255).astype(np.uint8))
    b = thumbnail_vectors(x.astype(np.uint8))
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert np.all(np.sum(a * b, axis=1) > 0.99)


def test_pca_whitening_matches_sklearn():
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).normal(size=(200, 10)) * np.arange(1, 11)
    ours = PCAWhitening(4, power=1.0).fit(x).transform(x)  # full whitening
    ref = PCA(4, whiten=True).fit(x).transform(x)
    np.testing.assert_allclose(np.abs(ours), np.abs(ref), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", ["thumbnail", "features"])
def test_features_find_the_flipped_and_darker_version(name):
    """Query by a mirrored, darker copy: ``features`` finds the original first for every
    image, and does better than the thumbnail floor."""
    base = _images(60)
    edited = np.clip(base[:, :, ::-1].astype(np.float32) * 0.6, 0, 255).astype(np.uint8)
    enc = make_encoder(name, latent_dim=16).fit(base)
    a, b = enc.encode(base), enc.encode(edited)
    top = np.argmax(b @ a.T, axis=1)
    hits = np.mean(top == np.arange(len(base)))
    if name == "features":
        assert hits == 1.0
    else:
        assert hits < 1.0  # the floor is not flip-invariant: that is why it is the floor


@pytest.mark.parametrize("name", ["thumbnail", "features", "thumbnail:whiten"])
def test_saved_encoder_gives_the_same_vectors(tmp_path, name):
    x = _images(60)
    enc = make_encoder(name, latent_dim=8).fit(x)
    enc.save(tmp_path / "m")
    again = load_encoder(tmp_path / "m")
    np.testing.assert_array_equal(again.encode(x), enc.encode(x))


def test_contrastive_trains_saves_and_loads(tmp_path, one_torch_thread):
    x = _images(16, side=16)
    enc = make_encoder("contrastive", latent_dim=8, size=16, steps=3).fit(x, seed=1)
    v = enc.encode(x)
    assert v.shape == (16, 8) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    enc.save(tmp_path / "m")
    np.testing.assert_allclose(load_encoder(tmp_path / "m").encode(x), v, atol=1e-6)
    # the same seed gives the same network
    np.testing.assert_allclose(make_encoder("contrastive", latent_dim=8, size=16, steps=3)
                               .fit(x, seed=1).encode(x), v, atol=1e-5)


def test_names_and_the_small_folder_rule():
    with pytest.raises(ValueError, match="valid encoders: auto, thumbnail, features"):
        check_name("resnet")
    assert check_name("torchvision:resnet18") == "torchvision:resnet18"
    assert "torchvision:NAME" in NAMES
    name, why = choose(2)
    assert name == "thumbnail" and "too few" in why
    assert choose(200)[0] == "features"
    with pytest.raises(ValueError, match="--weights is for"):
        make_encoder("features", weights="x.pt")


def _tiny_script(path, out_dim=12):
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, out_dim, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    torch.jit.save(torch.jit.script(net), str(path))
    return net


def test_torchscript_backbone_is_the_network_pooled_and_normalised(tmp_path, one_torch_thread):
    import torch
    import torch.nn.functional as F

    net = _tiny_script(tmp_path / "m.pt")
    x = _images(5, side=16)
    enc = make_encoder("torchscript", weights=tmp_path / "m.pt").fit(x)
    t = torch.from_numpy(x).float().div(255).permute(0, 3, 1, 2)
    t = F.interpolate(t, size=(224, 224), mode="bilinear", align_corners=False, antialias=True)
    t = (t - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    ref = F.normalize(net(t), dim=1).detach().numpy()
    np.testing.assert_allclose(enc.encode(x), ref, atol=1e-5)
    enc.save(tmp_path / "saved")
    (tmp_path / "m.pt").unlink()  # the collection keeps its own copy
    np.testing.assert_allclose(load_encoder(tmp_path / "saved").encode(x), ref, atol=1e-5)


def test_backbone_errors_are_one_line(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="is not a TorchScript model"):
        make_encoder("torchscript", weights=tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="needs --weights"):
        make_encoder("torchscript")
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        make_encoder("torchscript", weights=tmp_path / "missing.pt")


def test_a_torchscript_model_for_other_images_is_one_line(tmp_path, one_torch_thread):
    """A gray-image model given colour photos: the file, what it was given, torch's last line."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    torch.jit.save(torch.jit.script(net), str(tmp_path / "gray.pt"))
    enc = make_encoder("torchscript", weights=tmp_path / "gray.pt").fit(_images(3, side=16))
    with pytest.raises(ValueError) as err:
        enc.encode(_images(3, side=16))
    msg = str(err.value)
    assert msg.startswith(f"the torchscript model in {tmp_path / 'gray.pt'} cannot encode 3-channel "
                          f"224x224 images (RuntimeError: ") and "\n" not in msg
    assert "to have 1 channels, but got 3 channels instead" in msg


def test_encoding_the_fitted_images_reuses_their_vectors_only_when_unchanged():
    """fit() keeps the vectors of its images for the build's encode() of the same images;
    changed pixels (same array object) are computed again, as a fresh encoder would."""
    x = _images(60)
    enc = make_encoder("features").fit(x)
    reference = load_like(enc)
    np.testing.assert_allclose(enc.encode(x), reference.encode(x), atol=1e-6)
    enc.fit(x)
    x[0] = 255 - x[0]
    np.testing.assert_allclose(enc.encode(x), reference.encode(x), atol=1e-6)
    assert enc._fitted is None  # kept for one call only


def load_like(enc):
    """A second encoder with ``enc``'s fitted state and no memory of its images."""
    from imsim.encoders.handcrafted import FeaturesEncoder

    other = FeaturesEncoder(enc.latent_dim)
    other._restore(None, enc.arrays())
    return other


def test_cell_orientations_match_a_loop_over_pixels():
    from imsim.encoders.handcrafted import cell_orientations

    rng = np.random.default_rng(3)
    mag, theta = rng.random((2, 10, 7)), rng.uniform(0, np.pi, (2, 10, 7))
    got = cell_orientations(mag, theta, grid=3, bins=4).reshape(2, 3, 3, 4)
    ref = np.zeros((2, 3, 3, 4))
    for k in range(2):
        for r in range(10):
            for c in range(7):
                ref[k, r * 3 // 10, c * 3 // 7, min(int(theta[k, r, c] / np.pi * 4), 3)] += mag[k, r, c]
    np.testing.assert_allclose(got, ref)


def test_features_saved_before_the_orientation_grid_load_as_they_were(tmp_path):
    import json

    from imsim.encoders.handcrafted import FeaturesEncoder

    x = _images(60)
    old = FeaturesEncoder(grid=0).fit(x)
    old.save(tmp_path / "old")
    spec = json.loads((tmp_path / "old" / "encoder.json").read_text())
    del spec["grid"]  # what collections indexed before the grid wrote
    (tmp_path / "old" / "encoder.json").write_text(json.dumps(spec))
    loaded = load_encoder(tmp_path / "old")
    assert loaded.grid == 0
    np.testing.assert_allclose(loaded.encode(x), old.encode(x), atol=1e-6)
    assert make_encoder("features").grid == 4
