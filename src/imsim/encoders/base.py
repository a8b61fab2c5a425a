"""The one encoder interface and its on-disk form.

An encoder turns the collection's uint8 images (N, H, W[, C]) into float32 vectors
(N, dim). ``fit`` learns whatever it needs from the folder (a PCA, a network) and
``save``/``load`` keep it in one folder: ``encoder.json`` (name and options),
``encoder.npz`` (arrays) and, for networks, their weights.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SPEC_FILE, ARRAYS_FILE = "encoder.json", "encoder.npz"


class Encoder:
    """Base class: images -> vectors.

    Attributes
    ----------
    name : str
        The registry name (``thumbnail``, ``features``, ``contrastive``,
        ``autoencoder``, ``torchscript``, ``torchvision:NAME``, ``open_clip:NAME``).
    latent_dim : int or None
        Output length requested (PCA or network width); None: the natural length.
    train_seconds : float
        Wall time ``fit`` spent (0 for encoders that learn nothing).
    note : str
        One line on what ``fit`` did (steps, PCA size, why training was skipped).
    """

    name = "encoder"
    learns = False  # trains a network on the folder

    def __init__(self, latent_dim: int | None = None):
        self.latent_dim = None if latent_dim is None else int(latent_dim)
        self.train_seconds = 0.0
        self.note = ""

    # -- the interface ------------------------------------------------------------

    def fit(self, pixels: np.ndarray, *, seed: int = 0, progress: bool = False) -> "Encoder":
        return self

    def encode(self, pixels: np.ndarray, *, progress: bool = False) -> np.ndarray:
        raise NotImplementedError

    def options(self) -> dict:
        """JSON-ready options that ``load`` needs besides the arrays."""
        return {}

    def record(self) -> dict:
        """JSON-ready facts the collection's manifest records (an ONNX model's SHA-256)."""
        return {}

    def arrays(self) -> dict:
        """Named numpy arrays saved in ``encoder.npz``."""
        return {}

    def _restore(self, folder: Path, arrays: dict) -> None:
        """Set the fitted state back from ``arrays`` (and files in ``folder``)."""

    def _save_files(self, folder: Path) -> None:
        """Write weights besides the arrays (networks)."""

    # -- persistence --------------------------------------------------------------

    def spec(self) -> dict:
        return {"name": self.name, "latent_dim": self.latent_dim, **self.options()}

    def save(self, folder) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = self.arrays()
        if arrays:
            with open(folder / ARRAYS_FILE, "wb") as f:
                np.savez(f, **arrays)
        self._save_files(folder)
        (folder / SPEC_FILE).write_text(json.dumps(self.spec(), indent=1) + "\n", encoding="utf-8")


def read_spec(folder) -> dict | None:
    """The ``encoder.json`` of ``folder``, or None (an autoencoder checkpoint folder)."""
    path = Path(folder) / SPEC_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        from .._validation import DataFormatError

        raise DataFormatError(f"cannot read {path}: {exc}") from None


def read_arrays(folder) -> dict:
    path = Path(folder) / ARRAYS_FILE
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
