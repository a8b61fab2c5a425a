"""The torchvision:NAME and open_clip:NAME encoders: messages and wiring, without either library.

PyPI's torchvision 0.28 does not import with the CPU torch 2.13 this project pins
("operator torchvision::nms does not exist"), so the tests put a small package named
``torchvision`` first on ``sys.path``: one that fails to import the same way, and one
whose ``models`` registry (``list_models``, ``get_model``, ``get_model_weights``, the
calls imsim makes) returns a small randomly initialised torch network with a
classifier ``fc``. What they cannot check here is a real torchvision architecture
loaded with its real weights.
"""
from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
from _data import smooth_photos

from imsim.cli.main import main
from imsim.collection import Collection

BROKEN = 'raise RuntimeError("operator torchvision::nms does not exist")\n'
MODELS = textwrap.dedent('''
    import torch
    from torch import nn


    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 6, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten())
            self.fc = nn.Linear(6, 10)

        def forward(self, x):
            return self.fc(self.body(x))


    def list_models(module=None):
        return ["resnet18"]


    def get_model(name, weights=None):
        return Tiny()


    def get_model_weights(name):
        raise RuntimeError("offline: no weights registry")
''')


@pytest.fixture
def fake_torchvision(tmp_path, monkeypatch):
    """Install a stand-in torchvision package (its ``__init__`` source is the argument)."""
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        monkeypatch.delitem(sys.modules, name)

    def install(init: str, models: str | None = None):
        pkg = tmp_path / "site" / "torchvision"
        (pkg / "models").mkdir(parents=True)
        (pkg / "__init__.py").write_text(init)
        (pkg / "models" / "__init__.py").write_text(models or "")
        monkeypatch.syspath_prepend(str(tmp_path / "site"))
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))

    yield install
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]


def _index(tmp_path, name, *extra):
    return main(["index", str(tmp_path / "p"), "-c", str(tmp_path / name), "--size", "16",
                 "--encoder", "torchvision:resnet18", *extra])


@pytest.mark.slow  # imports PyTorch (see SLOW_MODULES in tests/conftest.py)
def test_a_torchvision_that_does_not_import_is_one_line_saying_what_to_do(tmp_path, capsys,
                                                                            fake_torchvision):
    fake_torchvision(BROKEN)
    smooth_photos(tmp_path / "p", name="p{i}.png")
    assert _index(tmp_path, "c") == 1
    err = capsys.readouterr().err
    assert err == ("error: torchvision cannot be imported here (operator torchvision::nms does not "
                   "exist); install the torchvision that matches your torch, or export the model "
                   "once with torch.jit.save and use --encoder torchscript --weights FILE\n")
    assert not (tmp_path / "c" / "collection.json").exists()  # no version was committed


@pytest.mark.slow  # imports PyTorch (see SLOW_MODULES in tests/conftest.py)
def test_weights_that_do_not_fit_name_the_file_and_the_architecture(tmp_path, capsys,
                                                                    fake_torchvision, one_torch_thread):
    import torch
    from torch import nn

    fake_torchvision("", MODELS)
    smooth_photos(tmp_path / "p", name="p{i}.png")
    torch.save(nn.Linear(3, 2).state_dict(), tmp_path / "other.pth")  # another architecture
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    torch.save([torch.zeros(2)], tmp_path / "list.pth")  # tensors, but not a state dict
    for name in ("other.pth", "junk.pth", "list.pth"):
        assert _index(tmp_path, f"c-{name}", "--weights", str(tmp_path / name)) == 1, name
        err = capsys.readouterr().err
        assert err.startswith(f"error: the weights in {tmp_path / name} do not fit torchvision's "
                              f"resnet18") and err.count("\n") == 1, err
        assert not (tmp_path / f"c-{name}" / "collection.json").exists()


@pytest.mark.slow  # imports PyTorch (see SLOW_MODULES in tests/conftest.py)
def test_offline_without_weights_says_which_file_to_put_where(tmp_path, capsys, fake_torchvision,
                                                              one_torch_thread):
    import torch

    fake_torchvision("", MODELS)
    smooth_photos(tmp_path / "p", name="p{i}.png")
    hub = tmp_path / "torch-home" / "hub" / "checkpoints" / "resnet18.pth"
    assert _index(tmp_path, "c") == 1
    err = capsys.readouterr().err
    assert err == (f"error: cannot download the resnet18 weights (RuntimeError); put the file at "
                   f"{hub} or pass --weights FILE\n")
    # the file put there is used, offline
    from torchvision.models import Tiny  # the stand-in

    torch.manual_seed(1)
    net = Tiny().eval()
    hub.parent.mkdir(parents=True)
    torch.save(net.state_dict(), hub)
    assert _index(tmp_path, "c") == 0
    coll = Collection.open(tmp_path / "c")
    # the vectors are the network's pooled features (the classifier dropped), unit length
    x = torch.from_numpy(_pixels(tmp_path / "p" / "p2.png")).float().div(255).permute(0, 3, 1, 2)
    x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False,
                                        antialias=True)
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = torch.nn.functional.normalize(net.body(x), dim=1).numpy()
    assert coll.latents.shape == (4, 6)
    np.testing.assert_allclose(coll.latents[2], ref[0], atol=1e-5)


def _pixels(path) -> np.ndarray:
    from imsim.datasets.image import load_image

    return load_image(path, size=16, color=True)[None]


def test_open_clip_missing_or_given_other_weights_is_one_line(tmp_path, capsys, monkeypatch):
    """open_clip is not installed here: the line says what to install; a stand-in open_clip
    that cannot build the model from the file gives the line naming both."""
    from imsim.encoders import make_encoder

    monkeypatch.setitem(sys.modules, "open_clip", None)  # what "not installed" looks like
    (tmp_path / "w.bin").write_bytes(b"weights")
    with pytest.raises(RuntimeError, match=r"^open_clip is not installed \(pip install open_clip_torch\)"):
        make_encoder("open_clip:ViT-B-32", weights=tmp_path / "w.bin")
    site = tmp_path / "site"
    (site / "open_clip").mkdir(parents=True)
    (site / "open_clip" / "__init__.py").write_text(
        "def create_model_and_transforms(arch, pretrained=None):\n"
        "    raise RuntimeError(f'Error(s) in loading state_dict for {arch}:\\n  size mismatch')\n")
    monkeypatch.delitem(sys.modules, "open_clip")
    monkeypatch.syspath_prepend(str(site))
    try:
        with pytest.raises(ValueError) as err:
            make_encoder("open_clip:ViT-B-32", weights=tmp_path / "w.bin")
    finally:
        sys.modules.pop("open_clip", None)
    assert str(err.value) == (f"the weights in {tmp_path / 'w.bin'} do not fit open_clip's ViT-B-32 "
                              f"(Error(s) in loading state_dict for ViT-B-32:)")
    with pytest.raises(ValueError, match="needs --weights FILE"):
        make_encoder("open_clip:ViT-B-32")
