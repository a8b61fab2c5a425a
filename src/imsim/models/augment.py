"""Random edits of a batch of images, as a photo folder holds them (for contrastive training).

One call of :func:`augment` draws, per image: a crop of 35-100 % of the area with an
aspect ratio between 1:2 and 2:1, a horizontal flip (p = 0.5), a rotation of up to
10 degrees (all three as one affine resampling), a rescale through a coarser
resolution (p = 0.3), brightness x 0.5-1.6, contrast x 0.6-1.4, saturation x 0-1.6,
a Gaussian blur (p = 0.3) and sensor noise. JPEG re-encoding at low quality is done
by the caller with real JPEG (Pillow) once per image (:func:`jpeg_copies`), since a
JPEG coder in torch would only imitate it.
"""
from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F


def jpeg_copies(pixels: np.ndarray, quality: int = 30) -> np.ndarray:
    """Each uint8 image (N, H, W[, C]) re-encoded as a JPEG of ``quality`` and decoded."""
    from PIL import Image

    out = np.empty_like(pixels)
    for i, img in enumerate(pixels):
        buf = io.BytesIO()
        Image.fromarray(img.squeeze()).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        out[i] = np.asarray(Image.open(buf)).reshape(img.shape)
    return out


def augment(x: torch.Tensor, out_size: int, gen: torch.Generator) -> torch.Tensor:
    """A random edit of each image of ``x`` (B, C, H, W) in [0, 1] -> (B, C, out, out)."""
    b, c = x.shape[:2]

    def uniform(lo, hi, n=b):
        return lo + (hi - lo) * torch.rand(n, generator=gen)

    # crop (area, aspect ratio, position), flip and rotation as one affine grid
    area = uniform(0.35, 1.0)
    log_ratio = uniform(math.log(0.5), math.log(2.0))
    w = torch.sqrt(area * torch.exp(log_ratio)).clamp(max=1.0)
    h = torch.sqrt(area / torch.exp(log_ratio)).clamp(max=1.0)
    cx, cy = uniform(-1, 1) * (1 - w), uniform(-1, 1) * (1 - h)
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    angle = uniform(-10, 10) * math.pi / 180
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([w * flip * cos, -h * sin, cx], 1),
                         torch.stack([w * flip * sin, h * cos, cy], 1)], 1)
    grid = F.affine_grid(theta, (b, c, out_size, out_size), align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    # a coarser resolution on the way (a small original, resized up)
    coarse = torch.rand(b, generator=gen) < 0.3
    if coarse.any():
        low = max(4, out_size // int(2 + torch.randint(0, 3, (1,), generator=gen)))
        small = F.interpolate(y[coarse], size=(low, low), mode="bilinear", align_corners=False,
                              antialias=True)
        y[coarse] = F.interpolate(small, size=(out_size, out_size), mode="bilinear",
                                  align_corners=False)
    # exposure: brightness, contrast, saturation
    y = y * uniform(0.5, 1.6).view(b, 1, 1, 1)
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - mean) * uniform(0.6, 1.4).view(b, 1, 1, 1) + mean
    if c == 3:
        gray = y.mean(dim=1, keepdim=True)
        y = gray + (y - gray) * uniform(0.0, 1.6).view(b, 1, 1, 1)
    # blur
    blur = torch.rand(b, generator=gen) < 0.3
    if blur.any():
        k = torch.tensor([1.0, 2.0, 1.0]) / 4
        kernel = (k[:, None] * k[None, :]).expand(c, 1, 3, 3).contiguous()
        y[blur] = F.conv2d(F.pad(y[blur], (1, 1, 1, 1), mode="replicate"), kernel, groups=c)
    y = y + 0.02 * torch.randn(y.shape, generator=gen)
    return y.clamp(0, 1)
