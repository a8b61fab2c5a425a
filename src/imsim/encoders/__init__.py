"""Encoders: images -> vectors, chosen by name (``imsim index --encoder NAME``).

==========================  ===============================================================
``thumbnail``               the floor: 16 x 16 pixels, mean removed, unit norm; no training
``features``                hand-crafted features robust to crops, exposure, flips, JPEG
``contrastive``             a small CNN trained on the folder to find versions of one picture
                            (SimCLR's NT-Xent over imsim's augmentations)
``autoencoder``             the convolutional autoencoder (imsim's original collection model)
``torchscript``             a TorchScript image model, ``--weights model.pt``
``torchvision:NAME``        a torchvision classifier's pooled features (resnet18, resnet50,
                            mobilenet_v3_small, mobilenet_v3_large, efficientnet_b0, ...),
                            ``--weights FILE`` or torchvision's hub download
``open_clip:NAME``          an OpenCLIP image tower, ``--weights FILE`` (needs open_clip)
``onnx:FILE``               any image model exported to ONNX, run by ONNX Runtime (settings in
                            ``FILE.json``; a CLIP text tower there enables text search);
                            ``onnx:NAME`` for a model fetched by ``imsim models fetch NAME``
``auto``                    the best encoder for the folder's size (see :func:`choose`)
==========================  ===============================================================

:func:`make_encoder` builds one by name, :func:`load_encoder` reads a saved one,
:func:`choose` resolves ``auto``.
"""
from __future__ import annotations

from pathlib import Path

from .base import Encoder, read_spec

SIMPLE = ("thumbnail", "features", "contrastive", "autoencoder", "torchscript")
FAMILIES = ("torchvision", "open_clip")
NAMES = ("auto",) + SIMPLE + tuple(f"{f}:NAME" for f in FAMILIES) + ("onnx:FILE",)

# Below this many images nothing can be learned from the folder (not even a PCA):
# the floor encoder is used and the output says why.
MIN_IMAGES_TO_LEARN = 3
# The default for folders of at least MIN_IMAGES_TO_LEARN images, chosen by
# benchmarks/photos.py on its development folders (see the README's table).
DEFAULT = "features"


def choose(n_images: int) -> tuple[str, str]:
    """(encoder name, why) for ``--encoder auto`` on a folder of ``n_images``."""
    if n_images < MIN_IMAGES_TO_LEARN:
        return "thumbnail", (f"{n_images} image{' is' if n_images == 1 else 's are'} too few to "
                             f"learn from, a PCA or a network needs at least {MIN_IMAGES_TO_LEARN}; "
                             f"using the thumbnail floor")
    return DEFAULT, (f"chosen for {n_images:,} images: the best on benchmarks/photos.py; "
                     f"--encoder chooses another")


def check_name(name: str) -> str:
    """``name`` normalised, or a ValueError listing the valid names (FileNotFoundError for
    an ``onnx:FILE`` that is neither a file nor a fetched model)."""
    name = str(name).strip()
    family, _, arch = name.partition(":")
    if name in ("auto",) + SIMPLE or (family in FAMILIES and arch):
        return name
    if family == "onnx" and arch:
        from .onnx import resolve_model

        # the file by its absolute path (a fetched model's name by its file in the cache):
        # the name stays valid from another folder; a missing file is said before any scan
        return f"onnx:{resolve_model(arch)}"
    if name.startswith("thumbnail:whiten"):
        return "thumbnail:whiten"
    raise ValueError(f"unknown encoder {name!r}; valid encoders: {', '.join(NAMES)}")


def make_encoder(name: str, *, latent_dim: int | None = None, weights=None, size: int | None = None,
                 color: bool = True, steps: int | None = None) -> Encoder:
    """A new (unfitted) encoder by name.

    Parameters
    ----------
    name : str
        One of :data:`NAMES` (``auto`` must be resolved by :func:`choose` first).
    latent_dim : int, optional
        Output length (PCA dimensions, or the network's embedding width).
    weights : path-like, optional
        Weights file for ``torchscript``, ``torchvision:NAME`` and ``open_clip:NAME``.
    size, color
        The collection's image size and colour (networks are built for them).
    steps : int, optional
        Optimisation steps of a trained encoder (default: scaled to the folder).
    """
    name = check_name(name)
    if name.startswith("onnx:"):
        if weights is not None:
            raise ValueError("--weights is not for onnx:FILE encoders: the model is FILE")
        from .onnx import make_onnx

        return make_onnx(name, latent_dim=latent_dim)
    if weights is not None and name.split(":")[0] not in ("torchscript",) + FAMILIES:
        raise ValueError(f"--weights is for torchscript, torchvision:NAME and open_clip:NAME "
                         f"encoders, not {name}")
    if name in ("thumbnail", "thumbnail:whiten"):
        from .handcrafted import ThumbnailEncoder

        return ThumbnailEncoder(latent_dim, whiten=name.endswith("whiten"))
    if name == "features":
        from .handcrafted import FeaturesEncoder

        return FeaturesEncoder(latent_dim)
    if name == "contrastive":
        from .learned import ContrastiveEncoder

        return ContrastiveEncoder(latent_dim, size=size, color=color, steps=steps)
    if name == "autoencoder":
        from .learned import AutoencoderEncoder

        return AutoencoderEncoder(latent_dim, size=size, color=color)
    from .backbones import make_backbone

    return make_backbone(name, latent_dim=latent_dim, weights=weights)


def load_encoder(folder, *, input_shape=None) -> Encoder:
    """The fitted encoder saved in ``folder`` (an autoencoder checkpoint without
    ``encoder.json``, as collections wrote before encoders had names)."""
    folder = Path(folder)
    spec = read_spec(folder)
    if spec is None:
        from .learned import AutoencoderEncoder

        return AutoencoderEncoder.load_checkpoint(folder, input_shape)
    from .base import read_arrays

    options = {k: v for k, v in spec.items() if k not in ("name", "latent_dim")}
    name = spec["name"]
    if name == "features":
        options.setdefault("grid", 0)  # saved before the orientation grid: computed as then
    if name in ("thumbnail", "features"):
        from .handcrafted import FeaturesEncoder, ThumbnailEncoder

        enc = (ThumbnailEncoder if name == "thumbnail" else FeaturesEncoder)(spec.get("latent_dim"),
                                                                             **options)
    elif name == "contrastive":
        from .learned import ContrastiveEncoder

        enc = ContrastiveEncoder(spec.get("latent_dim"), **options)
    elif name == "autoencoder":
        from .learned import AutoencoderEncoder

        return AutoencoderEncoder.load_checkpoint(folder, input_shape)
    elif name.startswith("onnx:"):
        from .onnx import load_saved

        enc = load_saved(folder, spec)
    else:
        from .backbones import make_backbone

        enc = make_backbone(name, latent_dim=spec.get("latent_dim"), weights=folder / options["file"],
                            saved=True)
    enc._restore(folder, read_arrays(folder))
    return enc


def same_encoder(asked: str, recorded: dict) -> bool:
    """Whether the encoder ``asked`` (a checked name) is the one recorded in a collection's
    ``manifest["encoder"]``: the same name, or for ``onnx:`` the same model file's bytes."""
    name = str(recorded.get("name", "autoencoder"))
    if asked.startswith("onnx:") and name.startswith("onnx:"):
        from .onnx import check_same_model

        return check_same_model(asked, recorded)
    return asked == name


def describe(name: str, recorded: dict | None = None) -> str:
    """An encoder's name for a refusal line (an ``onnx:`` model with its SHA-256)."""
    if name.startswith("onnx:"):
        from .onnx import describe_model

        return describe_model(name, recorded)
    return name


__all__ = ["Encoder", "same_encoder", "describe", "NAMES", "DEFAULT", "choose", "check_name", "make_encoder", "load_encoder"]
