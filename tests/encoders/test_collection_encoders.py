"""Encoders in collections and on the command line: chosen, recorded, refused, reported."""
from __future__ import annotations

import json

import numpy as np
import pytest
from _data import smooth_photos
from PIL import Image

from imsim.cli.main import main
from imsim.collection import Collection


@pytest.mark.parametrize("n, says", [(1, "1 image is"), (2, "2 images are")])
def test_one_or_two_images_index_with_the_floor_and_say_why(tmp_path, capsys, n, says):
    photos = smooth_photos(tmp_path / "few", n)
    assert main(["index", str(photos), "-c", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert f"encoder: thumbnail ({says} too few to learn from, a PCA or a network needs at " \
           f"least 3; using the thumbnail floor)" in out
    assert "encoder fitted" not in out  # the floor learns nothing
    coll = Collection.open(tmp_path / "c")
    assert coll.encoder_name == "thumbnail"
    assert coll.manifest["encoder"]["requested"] == "auto"
    assert [h.relpath for h in coll.query(photos / "p00.png", n=5)] == ["p01.png"][:n - 1]


def test_the_encoder_is_recorded_and_another_is_refused(tmp_path, capsys):
    photos = smooth_photos(tmp_path / "p", 12)
    coll = Collection.build(photos, tmp_path / "c", size=16, latent_dim=8, encoder="features")
    enc = coll.manifest["encoder"]
    assert (enc["name"], enc["requested"], enc["dim"]) == ("features", "features", 8)
    assert json.loads((coll._dir / "model" / "encoder.json").read_text())["name"] == "features"
    # the stored latents are what the saved encoder makes of the photos
    np.testing.assert_allclose(coll.encode(photos / "p03.png"), coll.latents[3], atol=1e-5)
    with pytest.raises(ValueError, match="built with the features encoder"):
        coll.query(photos / "p00.png", encoder="thumbnail")
    assert main(["query", str(photos / "p00.png"), "-c", str(tmp_path / "c"), "--encoder", "thumbnail"]) == 1
    assert "built with the features encoder" in capsys.readouterr().err
    # another encoder on an existing collection needs --retrain
    assert main(["index", str(photos), "-c", str(tmp_path / "c"), "--encoder", "thumbnail"]) == 1
    assert "encoder=features (asked thumbnail); pass --retrain" in capsys.readouterr().err
    assert main(["index", str(photos), "-c", str(tmp_path / "c"), "--encoder", "thumbnail",
                 "--retrain"]) == 0
    again = Collection.open(tmp_path / "c")
    assert again.encoder_name == "thumbnail" and again.latents.shape == (12, 16 * 16 * 3)
    # an update keeps the encoder (and the manifest says so)
    Image.new("RGB", (40, 30), (200, 10, 10)).save(photos / "red.png")
    updated = again.update()
    assert updated.encoder_name == "thumbnail" and updated.last_index.encoded == 1


def test_unknown_encoder_lists_the_valid_ones(tmp_path, capsys):
    photos = smooth_photos(tmp_path / "p", 3)
    assert main(["index", str(photos), "-c", str(tmp_path / "c"), "--encoder", "resnet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown encoder 'resnet'; valid encoders: auto, thumbnail")
    assert "torchvision:NAME" in err and not (tmp_path / "c").exists()


def test_torchscript_encoder_from_the_command_line(tmp_path, capsys, one_torch_thread):
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    torch.jit.save(torch.jit.script(net), str(tmp_path / "tiny.pt"))
    photos = smooth_photos(tmp_path / "p", 6)
    assert main(["index", str(photos), "-c", str(tmp_path / "c"), "--size", "16",
                 "--encoder", "torchscript", "--weights", str(tmp_path / "tiny.pt")]) == 0
    assert "encoder: torchscript" in capsys.readouterr().out
    coll = Collection.open(tmp_path / "c")
    assert coll.latents.shape == (6, 8)
    assert coll.manifest["encoder"]["weights"] == str((tmp_path / "tiny.pt").resolve())
    (tmp_path / "tiny.pt").unlink()  # the collection holds its copy
    np.testing.assert_allclose(coll.encode(photos / "p01.png"), coll.latents[1], atol=1e-5)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert main(["index", str(photos), "-c", str(tmp_path / "d"), "--encoder", "torchscript",
                 "--weights", str(tmp_path / "junk.pt")]) == 1
    assert "is not a TorchScript model" in capsys.readouterr().err


def test_torchvision_says_in_one_line_when_it_cannot_run(tmp_path, capsys):
    """Here torchvision is missing or does not match torch: one line that says what to do.
    Where it imports, a state dict of another architecture is refused naming both."""
    import torch

    torch.save({"w": torch.zeros(2)}, tmp_path / "other.pth")
    photos = smooth_photos(tmp_path / "p", 3)
    code = main(["index", str(photos), "-c", str(tmp_path / "c"), "--encoder", "torchvision:resnet18",
                 "--weights", str(tmp_path / "other.pth")])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert ("torchvision cannot be imported here" in err and "--encoder torchscript" in err) or \
        (f"the weights in {tmp_path / 'other.pth'} do not fit torchvision's resnet18" in err)
