"""Encoders trained on the folder: the ``autoencoder`` and the ``contrastive`` CNN."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Encoder

# The collection autoencoder (unchanged from before encoders had names): a lighter
# network than the MNIST default, about 16 batches per epoch of 8..128 images.
_FILTERS = [16, 32, 32]
_MIN_VALIDATION = 20  # below this many images every image trains (no held-out split)
_BATCHES_PER_EPOCH, _MIN_BATCH, _MAX_BATCH = 16, 8, 128
_MIN_ONECYCLE_STEPS = 12


class AutoencoderEncoder(Encoder):
    """imsim's convolutional autoencoder, trained on the folder to reconstruct it.

    Saved as the autoencoder checkpoint it always was (no ``encoder.json``), so
    collections written before encoders had names open unchanged.
    """

    name = "autoencoder"
    learns = True

    def __init__(self, latent_dim: int | None = 32, *, size: int | None = 64, color: bool = True,
                 epochs: int = 5):
        super().__init__(latent_dim or 32)
        self.input_shape = (size or 64, size or 64, 3 if color else 1)
        self.epochs = int(epochs)
        self.model = self.history = self._fast = None

    def fit(self, pixels, *, seed: int = 0, progress: bool = False):
        from ..models import AutoencoderConfig, TrainConfig, fit_autoencoder

        config = AutoencoderConfig(input_shape=self.input_shape, latent_dim=self.latent_dim,
                                   filters=list(_FILTERS))
        batch = int(np.clip(len(pixels) // _BATCHES_PER_EPOCH, _MIN_BATCH, _MAX_BATCH))
        val_fraction = 0.1 if len(pixels) >= _MIN_VALIDATION else 0.0
        steps = self.epochs * -(-round(len(pixels) * (1 - val_fraction)) // batch)
        # torch's OneCycleLR divides by zero when its warm-up (a quarter) is under 2 steps
        schedule = "onecycle" if steps >= _MIN_ONECYCLE_STEPS else "constant"
        train_config = TrainConfig(epochs=self.epochs, seed=int(seed), batch_size=batch,
                                   val_fraction=val_fraction, schedule=schedule)
        self.model, self.history = fit_autoencoder(pixels, config, train_config, progress=progress)
        self._fast = None
        self.note = f"{self.epochs} epochs ({steps} steps of {batch} images)"
        return self

    def encode(self, pixels, *, progress: bool = False):
        from ..embed import encode as _encode
        from ..models import inference_encoder

        if self._fast is None:  # fold BatchNorm once, not per query
            self._fast = inference_encoder(self.model)
        return _encode(self._fast, pixels, progress=progress)

    def save(self, folder) -> None:
        from ..models import save_checkpoint

        save_checkpoint(Path(folder), self.model, history=self.history,
                        extra={"trained_by": "imsim.collection"})

    @classmethod
    def load_checkpoint(cls, folder, input_shape=None) -> "AutoencoderEncoder":
        from ..models import ConvAutoencoder, load_checkpoint

        ck = load_checkpoint(Path(folder), expect_input_shape=input_shape,
                             architecture=ConvAutoencoder.architecture)
        h, w, c = ck.input_shape
        enc = cls(ck.model.latent_dim, size=h, color=c == 3)
        enc.model, enc.history = ck.model, ck.history
        if enc.history is not None:
            enc.train_seconds = float(getattr(enc.history, "seconds", 0.0) or 0.0)
        return enc


class ContrastiveEncoder(Encoder):
    """A small CNN trained on the folder so that versions of one picture are close.

    SimCLR (Chen et al. 2020): two random augmentations of each image in a batch
    (:mod:`imsim.models.augment`: crops with other aspect ratios, flips, exposure,
    saturation, blur, rescaling, JPEG-like blocking) and the NT-Xent loss, for a
    number of optimisation steps scaled to the folder
    (:func:`imsim.models.contrastive.default_steps`). Vectors are unit length.
    """

    name = "contrastive"
    learns = True

    def __init__(self, latent_dim: int | None = None, *, size: int | None = 64, color: bool = True,
                 steps: int | None = None, width: int = 16, input_size: int = 32):
        super().__init__(latent_dim or 64)
        self.size, self.color = int(size or 64), bool(color)
        self.steps, self.width, self.input_size = steps, int(width), int(input_size)
        self.net = None

    def fit(self, pixels, *, seed: int = 0, progress: bool = False):
        from ..models.contrastive import ContrastiveConfig, default_steps, fit_contrastive

        steps = int(self.steps or default_steps(len(pixels)))
        config = ContrastiveConfig(dim=self.latent_dim, width=self.width, input_size=self.input_size,
                                   channels=3 if self.color else 1, steps=steps, seed=int(seed))
        self.net, info = fit_contrastive(pixels, config, progress=progress)
        self.note = f"{steps} steps of {info['batch']} pairs, final loss {info['loss']:.3f}"
        return self

    def encode(self, pixels, *, progress: bool = False):
        from ..models.contrastive import embed

        return embed(self.net, pixels, self.input_size)

    def options(self):
        return {"size": self.size, "color": self.color, "width": self.width,
                "input_size": self.input_size}

    def _save_files(self, folder):
        import torch

        torch.save(self.net.state_dict(), Path(folder) / "contrastive.pt")

    def _restore(self, folder, arrays):
        import torch

        from ..models.contrastive import ContrastiveNet

        self.net = ContrastiveNet(3 if self.color else 1, self.width, self.latent_dim)
        self.net.load_state_dict(torch.load(Path(folder) / "contrastive.pt", weights_only=True))
        self.net.eval()
