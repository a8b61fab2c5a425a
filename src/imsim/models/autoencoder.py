"""The convolutional autoencoder: images -> a small latent vector -> images.

Encoder: ``n_layers`` conv blocks (Conv2d -> BatchNorm -> ReLU; the first two halve
height and width, by 2x2 max-pooling after them or, with ``downsample="stride"``, by a
stride-2 convolution) -> flatten -> a hidden dense layer (``hidden_dim``, optional) ->
one linear layer to the latent vector (no activation, so the latent space is not clipped).
The decoder mirrors it: dense layers -> reshape -> conv blocks in reverse order, where a block that pooled in the encoder becomes a stride-2
transposed convolution, the last one producing the image channels -> sigmoid, so the
output is in [0, 1] like the scaled input pixels.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from .._validation import check_int, check_positive_int

N_POOLED = 2  # the first two blocks halve height and width
DOWNSAMPLES = ("pool", "stride")


@dataclass
class AutoencoderConfig:
    """Architecture of a :class:`ConvAutoencoder`.

    The defaults are the configuration measured in ``benchmarks/reduce.py``
    (MNIST, latent 10: validation MSE below 0.0100 in under 8 minutes on 2 CPU cores).
    """

    input_shape: tuple[int, int, int] = (28, 28, 1)  # (height, width, channels)
    n_layers: int = 3  # conv blocks in the encoder (and in the decoder)
    kernel_size: int = 3  # square kernels, odd sizes keep the image centred
    filters: int | list[int] = field(default_factory=lambda: [16, 32, 64])  # per block
    latent_dim: int = 10  # length of the latent vector
    batch_norm: bool = True  # BatchNorm after every hidden conv
    hidden_dim: int = 512  # a hidden dense layer on each side of the latent; 0 = none
    # how the first two encoder blocks halve height and width: "pool" (conv, then 2x2
    # max-pooling) or "stride" (the conv itself has stride 2: 4x fewer multiply-adds)
    downsample: str = "pool"

    def __post_init__(self):
        shape = tuple(int(v) for v in self.input_shape)
        if len(shape) == 2:
            shape = (*shape, 1)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"input_shape must be (height, width, channels), got {self.input_shape}")
        self.input_shape = shape
        for name in ("n_layers", "kernel_size", "latent_dim"):
            check_positive_int(getattr(self, name), name)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")
        check_int(self.hidden_dim, "hidden_dim", low=0)
        if self.downsample not in DOWNSAMPLES:
            raise ValueError(f"downsample must be one of {DOWNSAMPLES}, got {self.downsample!r}")
        filters = self.filters
        if isinstance(filters, int):
            filters = [filters] * self.n_layers
        filters = [int(f) for f in filters]
        if len(filters) != self.n_layers:
            raise ValueError(f"filters lists {len(filters)} values for n_layers={self.n_layers}")
        if min(filters) < 1:
            raise ValueError(f"filters must be positive, got {filters}")
        self.filters = filters
        h, w, _ = shape
        factor = 2 ** min(self.n_layers, N_POOLED)
        if h % factor or w % factor:
            raise ValueError(
                f"input of {h}x{w} pixels cannot be pooled {min(self.n_layers, N_POOLED)} "
                f"times by 2: height and width must be multiples of {factor}"
            )

    @property
    def bottleneck_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the last encoder block's output."""
        h, w, _ = self.input_shape
        factor = 2 ** min(self.n_layers, N_POOLED)
        return self.filters[-1], h // factor, w // factor

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "AutoencoderConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _block(c_in: int, c_out: int, k: int, bn: bool, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=not bn),
            *([nn.BatchNorm2d(c_out)] if bn else []), nn.ReLU(inplace=True)]


def _up_block(c_in: int, c_out: int, k: int, bn: bool, last: bool) -> list[nn.Module]:
    conv = nn.ConvTranspose2d(c_in, c_out, k, stride=2, padding=k // 2, output_padding=1,
                              bias=last or not bn)
    if last:
        return [conv]
    return [conv, *([nn.BatchNorm2d(c_out)] if bn else []), nn.ReLU(inplace=True)]


def _dense(n_in: int, n_out: int, bn: bool) -> list[nn.Module]:
    return [nn.Linear(n_in, n_out, bias=not bn), *([nn.BatchNorm1d(n_out)] if bn else []),
            nn.ReLU(inplace=True)]


def build_encoder(config: AutoencoderConfig) -> nn.Sequential:
    """Images (N, C, H, W) float in [0, 1] -> latents (N, latent_dim)."""
    c = config.input_shape[2]
    k, bn = config.kernel_size, config.batch_norm
    layers: list[nn.Module] = []
    stride = config.downsample == "stride"
    for i, f in enumerate(config.filters):
        layers += _block(c, f, k, bn, stride=2 if stride and i < N_POOLED else 1)
        if i < N_POOLED and not stride:
            layers.append(nn.MaxPool2d(2))
        c = f
    ch, h, w = config.bottleneck_shape
    layers.append(nn.Flatten())
    n_flat = ch * h * w
    if config.hidden_dim:
        layers += _dense(n_flat, config.hidden_dim, bn)
        n_flat = config.hidden_dim
    layers.append(nn.Linear(n_flat, config.latent_dim))
    return nn.Sequential(*layers)


def build_decoder(config: AutoencoderConfig) -> nn.Sequential:
    """Latents (N, latent_dim) -> images (N, C, H, W) in [0, 1]."""
    k, bn = config.kernel_size, config.batch_norm
    ch, h, w = config.bottleneck_shape
    layers: list[nn.Module] = []
    n_in = config.latent_dim
    if config.hidden_dim:
        layers += _dense(n_in, config.hidden_dim, bn)
        n_in = config.hidden_dim
    layers += [*_dense(n_in, ch * h * w, bn), nn.Unflatten(1, (ch, h, w))]
    filters = config.filters
    n_out_channels = config.input_shape[2]
    # the decoder block that mirrors encoder block i maps filters[i] -> filters[i-1]
    # (-> image channels for i = 0) and upsamples where block i pooled
    for i in reversed(range(config.n_layers)):
        c_out = filters[i - 1] if i > 0 else n_out_channels
        if i < N_POOLED:
            layers += _up_block(filters[i], c_out, k, bn, last=i == 0)
        else:
            layers += _block(filters[i], c_out, k, bn)
    layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


class ConvAutoencoder(nn.Module):
    """Convolutional autoencoder built from an :class:`AutoencoderConfig`.

    ``forward(x)`` takes float images of shape (N, C, H, W) scaled to [0, 1] (see
    :func:`imsim.models.to_tensor`) and returns reconstructions of the same shape and
    range. ``encode(x)`` returns the latents, shape (N, latent_dim); ``decode(z)``
    maps latents back to images.
    """

    architecture = "ConvAutoencoder"

    def __init__(self, config: AutoencoderConfig | None = None):
        super().__init__()
        self.config = config if config is not None else AutoencoderConfig()
        self.encoder = build_encoder(self.config)
        self.decoder = build_decoder(self.config)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.config.input_shape

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def config_dict(self) -> dict:
        """What a checkpoint stores to rebuild this model."""
        return self.config.to_dict()

    @classmethod
    def from_config_dict(cls, d: dict) -> "ConvAutoencoder":
        return cls(AutoencoderConfig.from_dict(d))


def fit_autoencoder(images, model_config: AutoencoderConfig | None = None,
                    train_config=None, *, progress: bool = True, callback=None):
    """Build a :class:`ConvAutoencoder` for ``images`` and train it: the one-call way.

    Parameters
    ----------
    images : ImageSet or ndarray of shape (N, H, W) or (N, H, W, C), dtype uint8
    model_config : AutoencoderConfig, optional
        Architecture; its ``input_shape`` is replaced by the images' shape.
    train_config : TrainConfig, optional
        ``train_config.seed`` also seeds the weight initialisation, so the same seed
        gives the same weights.
    progress, callback
        As :func:`imsim.models.train`.

    Returns
    -------
    model : ConvAutoencoder
        In eval mode, holding the weights of the best validation epoch.
    history : History
    """
    from dataclasses import replace

    from .training import TrainConfig, train

    pixels = model_pixels(images)
    shape = pixels.shape[1:] if pixels.ndim == 4 else (*pixels.shape[1:], 1)
    model_config = replace(model_config or AutoencoderConfig(), input_shape=shape)
    train_config = train_config or TrainConfig()
    torch.manual_seed(train_config.seed)
    model = ConvAutoencoder(model_config)
    history = train(model, pixels, pixels, train_config, loss="mse", progress=progress,
                    callback=callback)
    return model, history


def model_pixels(images, input_shape=None) -> np.ndarray:
    """The uint8 pixels of ``images`` (ImageSet or array), checked for a model's shape.

    Parameters
    ----------
    images : ImageSet or ndarray of shape (N, H, W) or (N, H, W, C), dtype uint8
    input_shape : (H, W, C), optional
        The shape a model was built for; other images are rejected
        ("model expects 28x28x1 images, got 32x32x3").

    Returns
    -------
    ndarray of shape (N, H, W) or (N, H, W, C), dtype uint8
    """
    pixels = getattr(images, "images", images)
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim not in (3, 4):
        raise TypeError(f"images must be uint8 of shape (N, H, W) or (N, H, W, C), got dtype "
                        f"{pixels.dtype} shape {pixels.shape}")
    if input_shape is not None:
        shape = pixels.shape[1:] if pixels.ndim == 4 else (*pixels.shape[1:], 1)
        if tuple(shape) != tuple(input_shape):
            raise ValueError(f"model expects {'x'.join(map(str, input_shape))} images, got "
                             f"{'x'.join(map(str, shape))}")
    return pixels


class InferenceEncoder(nn.Sequential):
    """The encoder of a :class:`ConvAutoencoder`, folded for inference.

    Made by :func:`inference_encoder`. ``encode(x)`` (= ``forward``) maps a float
    tensor (N, C, H, W) in [0, 1] to latents (N, latent_dim), as ``model.encode``.
    """

    def __init__(self, layers, input_shape, latent_dim: int):
        super().__init__(*layers)
        self.input_shape = tuple(input_shape)
        self.latent_dim = int(latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)


def inference_encoder(model: ConvAutoencoder) -> "InferenceEncoder":
    """A copy of ``model.encoder`` for inference only, about 1.5x faster on CPUs.

    Each BatchNorm is folded into the convolution or linear layer before it (exact
    in eval mode, up to float rounding: ~1e-7), and 2x2 max-pooling moves before
    its ReLU (the two commute exactly), so ReLU touches 4x fewer values.

    Building it costs a few milliseconds (copies of the layers): build it once and
    pass it to :func:`imsim.embed.encode` in place of the model when encoding one
    image at a time. It is a snapshot: later training of ``model`` does not reach it.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    model.eval()
    layers, out, i = list(model.encoder), [], 0
    while i < len(layers):
        layer, nxt = layers[i], layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d):
            out.append(fuse_conv_bn_eval(layer, nxt))
        elif isinstance(layer, nn.Linear) and isinstance(nxt, nn.BatchNorm1d):
            out.append(fuse_linear_bn_eval(layer, nxt))
        elif isinstance(layer, nn.ReLU) and isinstance(nxt, nn.MaxPool2d):
            out += [nxt, nn.ReLU(inplace=True)]
        else:
            out.append(layer)
            i += 1
            continue
        i += 2
    return InferenceEncoder(out, model.input_shape, model.latent_dim).eval()


@torch.inference_mode()
def reconstruct(model: ConvAutoencoder, images, *, batch_size: int = 1024) -> np.ndarray:
    """The autoencoder's reconstructions of ``images``, as pixels.

    Parameters
    ----------
    model : ConvAutoencoder
    images : ImageSet or ndarray of shape (N, H, W) or (N, H, W, C), dtype uint8

    Returns
    -------
    ndarray of the same shape as the input pixels, dtype uint8
    """
    from .training import to_tensor

    pixels = model_pixels(images, model.input_shape)
    model.eval()
    device = next(model.parameters()).device
    out = np.empty_like(pixels)
    for start in range(0, len(pixels), batch_size):
        rec = model(to_tensor(pixels[start:start + batch_size], device))
        rec = (rec * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        out[start:start + len(rec)] = rec.reshape((len(rec), *pixels.shape[1:]))
    return out
