"""A small CNN trained with SimCLR's NT-Xent loss to map versions of one picture together.

Chen, Kornblith, Norouzi, Hinton (2020), "A Simple Framework for Contrastive Learning
of Visual Representations": each step takes ``batch`` images, makes two random
edits of each (:mod:`imsim.models.augment`), and trains the network so that the two
edits of an image are nearer to each other (cosine) than to the 2 * batch - 2 others.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .augment import augment, jpeg_copies


@dataclass
class ContrastiveConfig:
    """Settings of :func:`fit_contrastive`.

    Attributes
    ----------
    dim : int
        Length of the (unit) output vectors.
    width : int
        Channels of the first convolution (then 2x and 4x).
    input_size : int
        Images are resized to input_size x input_size pixels before the network.
    channels : int
        3 (RGB) or 1 (gray).
    steps : int
        Optimisation steps (AdamW, cosine decay after a 5 % warm-up).
    batch : int
        Images per step (each seen twice); capped by the number of images.
    temperature : float
        NT-Xent temperature.
    lr : float
    seed : int
    """

    dim: int = 64
    width: int = 16
    input_size: int = 32
    channels: int = 3
    steps: int = 300
    batch: int = 64
    temperature: float = 0.2
    lr: float = 2e-3
    seed: int = 0


def default_steps(n_images: int) -> int:
    """Optimisation steps for a folder of ``n_images`` (batches of 64): ~25 passes over a
    200-image folder, ~2 over a 5,000-image one, 80 to 200 steps, so training stays
    within about a minute on two busy cores (benchmarks/photos.py)."""
    return int(np.clip(n_images // 25, 80, 200))


class ContrastiveNet(nn.Module):
    """conv-BN-ReLU x 5 (two stride-2), global average pooling, a 2-layer head, unit output."""

    def __init__(self, channels: int = 3, width: int = 32, dim: int = 64):
        super().__init__()

        def block(cin, cout, stride):
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]

        w = width
        self.features = nn.Sequential(*block(channels, w, 1), *block(w, 2 * w, 2), *block(2 * w, 2 * w, 1),
                                      *block(2 * w, 4 * w, 2), *block(4 * w, 4 * w, 1),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(4 * w, 4 * w), nn.ReLU(True), nn.Linear(4 * w, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.features(x)), dim=1)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss for unit vectors z1, z2 (B, d): row i of z1 and of z2 are a pair."""
    z = torch.cat([z1, z2])
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    b = len(z1)
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(b)])
    return F.cross_entropy(sim, target)


def _tensor(pixels: np.ndarray) -> torch.Tensor:
    # .float() copies, so a read-only array (a memory-mapped data set) is never written
    x = torch.from_numpy(np.require(pixels, requirements=["C", "W"])).float().div_(255)
    return (x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)).contiguous()


def fit_contrastive(pixels: np.ndarray, config: ContrastiveConfig, *, progress: bool = False):
    """Train a :class:`ContrastiveNet` on uint8 images (N, H, W[, C]).

    Returns
    -------
    (ContrastiveNet, dict)
        The network in eval mode and ``{"batch", "loss", "seconds"}`` (mean loss of
        the last 10 % of steps).
    """
    from .._progress import progress as progress_bar

    start = time.perf_counter()
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    x = _tensor(pixels)
    xj = _tensor(jpeg_copies(pixels))
    n = len(x)
    batch = max(2, min(config.batch, n))
    net = ContrastiveNet(config.channels, config.width, config.dim)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=1e-4)
    warm = max(1, config.steps // 20)

    def lr_at(step):
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, config.steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    losses = []
    net.train()
    for _ in progress_bar(range(config.steps), desc="contrastive training", unit="step",
                          show=None if progress else False):
        idx = torch.randperm(n, generator=gen)[:batch]
        use_jpeg = torch.rand(2, batch, generator=gen) < 0.3
        views = [augment(torch.where(use_jpeg[v].view(-1, 1, 1, 1), xj[idx], x[idx]),
                         config.input_size, gen) for v in range(2)]
        loss = nt_xent(net(views[0]), net(views[1]), config.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    net.eval()
    tail = losses[-max(1, len(losses) // 10):]
    return net, {"batch": batch, "loss": float(np.mean(tail)), "seconds": time.perf_counter() - start}


@torch.no_grad()
def embed(net: ContrastiveNet, pixels: np.ndarray, input_size: int, batch: int = 512) -> np.ndarray:
    """Unit vectors float32 (N, dim) of uint8 images (N, H, W[, C])."""
    out = []
    for i in range(0, len(pixels), batch):
        x = _tensor(pixels[i:i + batch])
        x = F.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False,
                          antialias=True)
        out.append(net(x).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, net.head[-1].out_features),
                                                                          dtype=np.float32)
