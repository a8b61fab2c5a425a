"""The benchmark folders of benchmarks/photos.py: pictures, each in several versions.

A *picture* is a real photograph (scikit-learn's two samples, matplotlib's portrait,
two relief maps rendered from matplotlib's elevation data) or a generated scene: a
sky gradient, hills with textured slopes, textured ground and shaded objects, blurred
like a lens. Each picture is saved as an original 4:3 JPEG (quality 90) and, for
80 % of the pictures, 2 to 5 *versions* made with Pillow (not with imsim's training
augmentations): a crop with another aspect ratio, a resize to 25-50 %, a dark or
light variant, a horizontal flip, JPEG quality 30, a small rotation (3-8 degrees,
borders cropped), sometimes two of them at once. The other 20 % are single pictures
that only distract. File names say the picture: ``p01234_v2_flip.jpg``.

Splits use disjoint seeds: ``dev`` folders are the ones thresholds and defaults were
tuned on; ``eval`` folders (the README's figures) are never looked at while tuning.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

W, H = 320, 240
SEEDS = {"dev": 1000, "eval": 2000}
VERSIONS = ("crop", "resize", "exposure", "flip", "jpeg30", "rotate")


def _noise(rng, h, w, octaves=4) -> np.ndarray:
    """Multi-octave value noise in [0, 1], shape (h, w)."""
    out = np.zeros((h, w), dtype=np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = 2 ** (o + 2)
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        img = Image.fromarray((grid * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
        out += amp * np.asarray(img, dtype=np.float32) / 255
        total += amp
        amp *= 0.55
    return out / total


def scene(rng: np.random.Generator, size: tuple[int, int] = (W, H)) -> Image.Image:
    """A generated landscape-like photograph, ``size`` (default W x H) RGB."""
    W, H = size  # noqa: N806 - the module's names, for another size
    palette = rng.random((6, 3)) * 255
    y = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    sky = palette[0] * (1 - y) + palette[1] * y
    img = np.broadcast_to(sky, (H, W, 3)).copy()
    x = np.arange(W)
    for layer in range(rng.integers(1, 4)):
        base = rng.uniform(0.3, 0.8) * H
        ridge = base + sum(rng.uniform(5, 40) * H / 240 * np.sin(x / W * np.pi * rng.uniform(1, 6) + rng.uniform(0, 6))
                           for _ in range(3))
        mask = np.arange(H)[:, None] > ridge[None, :]
        tex = _noise(rng, H, W)[..., None]
        colour = palette[2 + layer] * (0.6 + 0.8 * tex)
        img = np.where(mask[..., None], colour, img)
    img = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(2, 9)):
        cx, cy = rng.integers(0, W), rng.integers(H // 4, H)
        r = int(rng.integers(8, 60) * W // 320)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(3)
        box = [cx - r, cy - r, cx + r, cy + int(r * rng.uniform(0.4, 1.6))]
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rectangle(box, fill=colour)
        else:
            pts = [(int(cx + r * np.cos(a)), int(cy + r * np.sin(a)))
                   for a in np.sort(rng.uniform(0, 2 * np.pi, rng.integers(3, 7)))]
            draw.polygon(pts, fill=colour)
    arr = np.asarray(img, dtype=np.float32)
    arr *= 0.75 + 0.5 * _noise(rng, H, W, 3)[..., None]  # uneven light
    arr += rng.normal(0, 4, arr.shape)  # sensor noise
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2)))


def real_photos() -> list[Image.Image]:
    """The photographs that ship with scikit-learn and matplotlib, as W x H RGB."""
    import matplotlib
    from matplotlib import cm
    from sklearn.datasets import load_sample_images

    out = [Image.fromarray(a) for a in load_sample_images().images]
    data = Path(matplotlib.get_data_path()) / "sample_data"
    out.append(Image.open(data / "grace_hopper.jpg").convert("RGB"))
    for name, key in (("topobathy.npz", "topo"), ("jacksboro_fault_dem.npz", "elevation")):
        with np.load(data / name) as z:
            dem = np.asarray(z[key], dtype=np.float32)
        dem = (dem - dem.min()) / (np.ptp(dem) + 1e-6)
        out.append(Image.fromarray((cm.gist_earth(dem)[..., :3] * 255).astype(np.uint8)))
    return [_fit(im) for im in out]


def _fit(im: Image.Image) -> Image.Image:
    """Centre-crop to 4:3 and resize to W x H."""
    w, h = im.size
    if w / h > W / H:
        nw = int(h * W / H)
        im = im.crop(((w - nw) // 2, 0, (w - nw) // 2 + nw, h))
    else:
        nh = int(w * H / W)
        im = im.crop((0, (h - nh) // 2, w, (h - nh) // 2 + nh))
    return im.resize((W, H), Image.Resampling.LANCZOS)


def make_version(im: Image.Image, kind: str, rng: np.random.Generator) -> tuple[Image.Image, int]:
    """(edited picture, JPEG quality to save it with)."""
    w, h = im.size
    if kind == "crop":  # 55-85 % of the area, aspect ratio 1:1, 3:4 or 16:9
        ratio = float(rng.choice([1.0, 0.75, 16 / 9]))
        area = rng.uniform(0.55, 0.85) * w * h
        cw = int(min(w, np.sqrt(area * ratio)))
        ch = int(min(h, cw / ratio))
        x0, y0 = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        return im.crop((int(x0), int(y0), int(x0) + cw, int(y0) + ch)), 90
    if kind == "resize":
        s = rng.uniform(0.25, 0.5)
        return im.resize((max(8, int(w * s)), max(8, int(h * s))), Image.Resampling.BILINEAR), 90
    if kind == "exposure":
        f = rng.choice([rng.uniform(0.45, 0.7), rng.uniform(1.3, 1.7)])
        out = ImageEnhance.Brightness(im).enhance(f)
        return ImageEnhance.Contrast(out).enhance(rng.uniform(0.8, 1.2)), 90
    if kind == "flip":
        return im.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 90
    if kind == "jpeg30":
        return im, 30
    if kind == "rotate":
        angle = rng.choice([-1, 1]) * rng.uniform(3, 8)
        r = im.rotate(angle, resample=Image.Resampling.BILINEAR)
        m = int(np.ceil(np.tan(np.radians(abs(angle))) * max(w, h) / 2)) + 2
        return r.crop((m, m, w - m, h - m)), 90
    raise ValueError(kind)


def generate(folder: Path, n_files: int, split: str = "eval") -> dict[str, int]:
    """Write about ``n_files`` JPEGs into ``folder``; returns {file name: picture id}."""
    folder.mkdir(parents=True, exist_ok=True)
    base_seed = SEEDS[split]
    reals = real_photos() if split == "eval" else []  # the few real photos: evaluation only
    # plan: picture p has 1 + extra[p] files
    plan_rng = np.random.default_rng([base_seed, n_files])
    extras = []
    while sum(1 + e for e in extras) < n_files:
        extras.append(0 if plan_rng.random() < 0.2 else int(plan_rng.integers(2, 6)))

    def picture(p: int) -> dict[str, int]:
        rng = np.random.default_rng([base_seed, p])
        im = reals[p] if p < len(reals) else scene(rng)
        names = {}
        name = f"p{p:05d}_v0_original.jpg"
        im.save(folder / name, quality=90)
        names[name] = p
        kinds = rng.choice(VERSIONS, size=extras[p], replace=False)
        for v, kind in enumerate(kinds, 1):
            out, q = make_version(im, str(kind), rng)
            label = str(kind)
            if rng.random() < 0.25:  # two edits at once
                second = str(rng.choice([k for k in VERSIONS if k != kind and k != "flip"]))
                out, q2 = make_version(out, second, rng)
                q, label = min(q, q2), f"{kind}+{second}"
            name = f"p{p:05d}_v{v}_{label}.jpg"
            out.save(folder / name, quality=int(q))
            names[name] = p
        return names

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        out: dict[str, int] = {}
        for part in pool.map(picture, range(len(extras))):
            out.update(part)
    return out


def camera_folder(folder: Path, n_files: int, size: tuple[int, int] = (1024, 768),
                  seed: int = 3000) -> list[Path]:
    """Write ``n_files`` distinct camera-sized scenes (JPEG quality 90) into ``folder``, 100
    to a sub-folder: what the indexing-speed table of benchmarks/photos.py times."""
    def one(i: int) -> Path:
        path = folder / f"d{i // 100:03d}" / f"img{i:06d}.jpg"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            scene(np.random.default_rng([seed, i]), size).save(path, quality=90)
        return path

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(one, range(n_files)))
