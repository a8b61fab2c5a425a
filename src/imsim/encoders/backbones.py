"""Pretrained image networks as encoders: TorchScript files, torchvision, OpenCLIP.

A backbone maps each image (resized to its ``input_size``, ImageNet-normalised) to
its globally pooled features; a PCA fitted on the folder reduces them to
``latent_dim`` when asked (``--latent``), and the vectors are made unit length. The
weights file is copied into the collection, so it keeps working when the original
file moves. Loading is checked: weights that do not fit the named architecture are
one error line naming both, and an offline hub download says which file to put where.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from .base import Encoder
from .handcrafted import MIN_PCA_IMAGES, PCAWhitening, unit

_MEAN, _STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
TORCHVISION_ARCHS = ("resnet18", "resnet34", "resnet50", "mobilenet_v3_small", "mobilenet_v3_large",
                     "efficientnet_b0", "efficientnet_b1", "convnext_tiny")


class BackboneEncoder(Encoder):
    """Pooled features of a pretrained network (see the module docstring)."""

    def __init__(self, name: str, net, *, latent_dim: int | None, weights: Path, input_size: int = 224):
        super().__init__(latent_dim)
        self.name, self.net, self.weights, self.input_size = name, net, Path(weights), int(input_size)
        self.pca_ = None

    def _features(self, pixels: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        out = []
        with torch.no_grad():
            for i in range(0, len(pixels), 64):
                x = torch.from_numpy(np.ascontiguousarray(pixels[i:i + 64])).float().div_(255)
                x = x.unsqueeze(1).expand(-1, 3, -1, -1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
                if x.shape[1] == 1:
                    x = x.expand(-1, 3, -1, -1)
                x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                                  align_corners=False, antialias=True)
                x = (x - torch.tensor(_MEAN).view(1, 3, 1, 1)) / torch.tensor(_STD).view(1, 3, 1, 1)
                y = self._run(x)
                if isinstance(y, (tuple, list)):
                    y = y[0]
                if y.ndim == 4:  # a feature map: global average pooling
                    y = y.mean(dim=(2, 3))
                out.append(y.reshape(len(x), -1).float().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    def _run(self, x):
        """The network on a batch; a model that does not take such images is one line."""
        try:
            return self.net(x)
        except RuntimeError as exc:  # a TorchScript error carries its whole traceback: keep the last line
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            raise ValueError(f"the {self.name} model in {self.weights} cannot encode "
                             f"{x.shape[1]}-channel {x.shape[2]}x{x.shape[3]} images "
                             f"({lines[-1] if lines else type(exc).__name__})") from None

    def fit(self, pixels, *, seed: int = 0, progress: bool = False):
        self.pca_ = None
        if self.latent_dim is not None and len(pixels) >= MIN_PCA_IMAGES:
            f = self._features(pixels)
            if f.shape[1] > self.latent_dim:
                self.pca_ = PCAWhitening(self.latent_dim, power=0.0).fit(unit(f))
                self.note = f"PCA to {len(self.pca_.components_)} of {f.shape[1]} dimensions"
        return self

    def encode(self, pixels, *, progress: bool = False):
        f = unit(self._features(pixels))
        return unit(self.pca_.transform(f)) if self.pca_ is not None else f

    def options(self):
        return {"file": "weights" + self.weights.suffix, "input_size": self.input_size}

    def arrays(self):
        return self.pca_.state() if self.pca_ is not None else {}

    def _restore(self, folder, arrays):
        self.pca_ = PCAWhitening.from_state(arrays) if arrays else None

    def _save_files(self, folder):
        target = Path(folder) / ("weights" + self.weights.suffix)
        if self.weights.resolve() != target.resolve():
            shutil.copyfile(self.weights, target)


def make_backbone(name: str, *, latent_dim=None, weights=None, saved: bool = False) -> BackboneEncoder:
    """A backbone encoder by name: ``torchscript``, ``torchvision:ARCH``, ``open_clip:ARCH``."""
    family, _, arch = name.partition(":")
    if weights is not None:
        weights = Path(weights).expanduser()
        if not weights.is_file():
            raise FileNotFoundError(f"weights file not found: {weights}")
    if family == "torchscript":
        if weights is None:
            raise ValueError("the torchscript encoder needs --weights FILE (a model saved with "
                             "torch.jit.save)")
        import torch

        try:
            net = torch.jit.load(str(weights), map_location="cpu").eval()
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"{weights} is not a TorchScript model ({str(exc).splitlines()[0]})") from None
        return BackboneEncoder("torchscript", net, latent_dim=latent_dim, weights=weights,
                               input_size=_script_input_size(net))
    if family == "torchvision":
        return BackboneEncoder(name, _torchvision(arch, weights), latent_dim=latent_dim,
                               weights=weights if weights is not None else _hub_file(arch))
    if family == "open_clip":
        return _open_clip(arch, weights, latent_dim)
    raise ValueError(f"unknown backbone {name!r}")


def _script_input_size(net) -> int:
    return int(getattr(net, "input_size", 224)) if hasattr(net, "input_size") else 224


def _import_torchvision():
    try:
        import torchvision  # noqa: F401
        from torchvision import models
    except Exception as exc:  # ImportError, or a build whose compiled ops do not match torch
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise RuntimeError(f"torchvision cannot be imported here ({first}); install the torchvision "
                           f"that matches your torch, or export the model once with torch.jit.save "
                           f"and use --encoder torchscript --weights FILE") from None
    return models


def _torchvision(arch: str, weights):
    models = _import_torchvision()
    if arch not in models.list_models(module=models):
        raise ValueError(f"unknown torchvision model {arch!r}; e.g. {', '.join(TORCHVISION_ARCHS)}")
    net = models.get_model(arch, weights=None)
    if weights is None:
        path = _hub_file(arch)
        if not path.is_file():
            try:
                default = models.get_model_weights(arch).DEFAULT
                state = default.get_state_dict(progress=False)
            except Exception as exc:  # offline: URLError, OSError, ...
                raise RuntimeError(f"cannot download the {arch} weights ({type(exc).__name__}); put "
                                   f"the file at {path} or pass --weights FILE") from None
        else:
            state = _load_state(path, arch)
    else:
        state = _load_state(weights, arch)
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError, KeyError):
        raise ValueError(f"the weights in {weights or _hub_file(arch)} do not fit torchvision's "
                         f"{arch}") from None
    _strip_classifier(net, arch)
    return net.eval()


def _load_state(path: Path, arch: str):
    """The state dict saved in ``path`` (tensors only: no code is unpickled)."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - UnpicklingError, RuntimeError, EOFError, ...
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"the weights in {path} do not fit torchvision's {arch}: not a state dict "
                         f"saved with torch.save ({first[:120]})") from None
    if not isinstance(state, dict):
        raise ValueError(f"the weights in {path} do not fit torchvision's {arch}: a "
                         f"{type(state).__name__}, not a state dict") from None
    return state


def _hub_file(arch: str) -> Path:
    """Where torch's hub cache keeps ``arch``'s default weights (what an offline user fills)."""
    import torch

    try:
        url = _import_torchvision().get_model_weights(arch).DEFAULT.url
        return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    except Exception:
        return Path(torch.hub.get_dir()) / "checkpoints" / f"{arch}.pth"


def _strip_classifier(net, arch: str) -> None:
    """Replace the final classifier by the identity: the model returns pooled features."""
    from torch import nn

    for attr in ("fc", "classifier", "heads", "head"):
        if hasattr(net, attr):
            layer = getattr(net, attr)
            if arch.startswith("mobilenet_v3"):
                # mobilenet_v3 keeps its first Linear+activation (the 1024/1280-d embedding)
                setattr(net, attr, nn.Sequential(*list(layer)[:2]))
            else:
                setattr(net, attr, nn.Identity())
            return


def _open_clip(arch: str, weights, latent_dim) -> BackboneEncoder:
    try:
        import open_clip
    except ImportError:
        raise RuntimeError("open_clip is not installed (pip install open_clip_torch); the "
                           "open_clip:NAME encoder needs it and a local --weights FILE") from None
    if weights is None:
        raise ValueError(f"open_clip:{arch} needs --weights FILE (the model's .bin/.safetensors "
                         f"file, e.g. from the OpenCLIP model hub)")
    try:
        model, _, _ = open_clip.create_model_and_transforms(arch, pretrained=str(weights))
    except Exception as exc:
        raise ValueError(f"the weights in {weights} do not fit open_clip's {arch} "
                         f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    return BackboneEncoder(f"open_clip:{arch}", model.visual.eval(), latent_dim=latent_dim,
                           weights=weights, input_size=int(size))
