"""Known pretrained ONNX models and their cache: ``imsim models fetch NAME`` / ``list``.

A model lives in ``$IMSIM_HOME/models/NAME/`` (``IMSIM_HOME`` as in
:func:`imsim.collection.home.home`): its ``.onnx`` towers, its tokenizer and the
``image.onnx.json`` that tells the ``onnx:`` encoder how to feed it (written last, so a
folder without it is not a usable model). Each file is downloaded to a temporary file
beside its place and renamed there only once complete and, where a SHA-256 is pinned,
verified: an interrupted or offline fetch leaves nothing half-written. Offline, the
error says which file to put where; ``fetch`` run again then only checks them.

``--encoder onnx:NAME`` uses a fetched model by its name.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

MIRROR_ENV = "IMSIM_MODELS_MIRROR"  # another host serving the same paths (a local mirror)
_HF = "https://huggingface.co"
CONFIG = "image.onnx.json"


@dataclass(frozen=True)
class ModelFile:
    """One file of a model: where it goes in the model's folder, where it comes from."""

    name: str
    url: str  # path on the host: joined to https://huggingface.co or $IMSIM_MODELS_MIRROR
    sha256: str | None = None  # pinned digest; None: recorded at the first download


@dataclass(frozen=True)
class KnownModel:
    name: str
    about: str
    files: tuple
    config: dict = field(default_factory=dict)


# CLIP ViT-B/32 (OpenAI's weights) as exported to ONNX by Qdrant for fastembed: the image
# tower (pixel_values (N, 3, 224, 224) -> image_embeds (N, 512)), the text tower
# (input_ids, attention_mask (N, 77) -> text_embeds (N, 512)) and its tokenizer.json.
KNOWN = {
    "clip-vit-b32": KnownModel(
        name="clip-vit-b32",
        about="CLIP ViT-B/32 image and text towers (OpenAI weights, 512-d; ~600 MB); text search",
        files=(ModelFile("image.onnx", "/Qdrant/clip-ViT-B-32-vision/resolve/main/model.onnx"),
               ModelFile("text.onnx", "/Qdrant/clip-ViT-B-32-text/resolve/main/model.onnx"),
               ModelFile("tokenizer.json", "/Qdrant/clip-ViT-B-32-text/resolve/main/tokenizer.json")),
        config={"input_size": 224, "mean": [0.48145466, 0.4578275, 0.40821073],
                "std": [0.26862954, 0.26130258, 0.27577711], "output": "image_embeds",
                "text": {"model": "text.onnx", "tokenizer": "tokenizer.json", "context_length": 77,
                         "output": "text_embeds"}}),
}


def models_dir() -> Path:
    """``$IMSIM_HOME/models``: where fetched models are kept."""
    from .._io import data_home as home

    return home() / "models"


def url_of(f: ModelFile) -> str:
    return (os.environ.get(MIRROR_ENV) or _HF).rstrip("/") + f.url


def image_model(name: str) -> Path | None:
    """The fetched image tower of ``name``, or None when it is not (completely) cached."""
    folder = models_dir() / name
    model = KNOWN[name]
    if (folder / CONFIG).is_file() and all((folder / f.name).is_file() for f in model.files):
        return folder / "image.onnx"
    return None


def _known(name: str) -> KnownModel:
    if name not in KNOWN:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(KNOWN)}")
    return KNOWN[name]


def fetch(name: str, *, progress: bool | None = None) -> Path:
    """Download ``name``'s files into its cache folder; returns the image tower's path.

    Files already there are kept when they match their pinned SHA-256 (or have none).
    Raises OSError with one line saying which files to put where when a download fails.
    """
    from .._io import atomic_path, sha256_file, write_text_atomic
    from ..datasets.download import fetch as download
    from ..datasets.download import http_reason

    model = _known(name)
    folder = models_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    sums = {}
    for f in model.files:
        target = folder / f.name
        if target.is_file() and (f.sha256 is None or sha256_file(target) == f.sha256):
            sums[f.name] = sha256_file(target)
            continue
        try:
            with atomic_path(target) as tmp:
                download(url_of(f), tmp, f"{name}/{f.name}")
                got = sha256_file(tmp)
                if f.sha256 is not None and got != f.sha256:
                    raise OSError(f"{url_of(f)} has SHA-256 {got[:12]}..., not the pinned "
                                  f"{f.sha256[:12]}...; nothing was kept")
        except OSError as exc:
            missing = [g for g in model.files if not (folder / g.name).is_file()]
            where = ", ".join(f"{g.name} from {url_of(g)}" for g in missing)
            raise OSError(f"cannot download {name} ({http_reason(exc)}): put {where} into "
                          f"{folder}/ and run `imsim models fetch {name}` again") from None
        sums[f.name] = got
    write_text_atomic(folder / "SHA256SUMS", "".join(f"{d}  {n}\n" for n, d in sums.items()))
    write_text_atomic(folder / CONFIG, json.dumps(model.config, indent=1) + "\n")
    return folder / "image.onnx"


@dataclass(frozen=True)
class Cached:
    name: str
    folder: Path
    complete: bool
    bytes: int
    about: str


def cached() -> list[Cached]:
    """Every model folder in :func:`models_dir` (known models first), with its state."""
    root = models_dir()
    names = list(KNOWN) + sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in KNOWN) \
        if root.is_dir() else list(KNOWN)
    out = []
    for n in names:
        folder = root / n
        if not folder.is_dir():
            continue
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        complete = image_model(n) is not None if n in KNOWN else (folder / CONFIG).is_file()
        out.append(Cached(n, folder, complete, size, KNOWN[n].about if n in KNOWN else ""))
    return out
