"""Generated photo folders for the page benchmark and the screenshots (no data needed).

Families of pictures, each a gradient sky with a few coloured shapes; a family's
members move, recolour and blur its shapes a little, so they are each other's
neighbours. Every fifth family is an "icon": shapes on a transparent background,
saved as RGBA PNG (the page shows them composited onto white). A few exact copies
make duplicates.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

NAMES = ["harbour", "meadow", "sunset", "city", "forest", "beach", "snow", "garden", "desert",
         "lake", "market", "bridge", "mountain", "river", "station", "library", "street", "field",
         "island", "canyon"]


def _family(rng) -> dict:
    return {"sky": rng.integers(0, 256, (2, 3)), "shapes": [
        (int(rng.integers(0, 3)), rng.uniform(0.1, 0.9, 2), rng.uniform(0.12, 0.35),
         tuple(int(c) for c in rng.integers(0, 256, 3))) for _ in range(int(rng.integers(2, 5)))]}


def _draw(fam: dict, rng, size: tuple[int, int], icon: bool) -> Image.Image:
    w, h = size
    if icon:
        img = Image.new("RGBA", size, (0, 0, 0, 0))
    else:
        t = np.linspace(0, 1, h)[:, None, None]
        sky = (fam["sky"][0] * (1 - t) + fam["sky"][1] * t) * np.ones((1, w, 1))
        img = Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8)).convert("RGBA")
    draw = ImageDraw.Draw(img)
    for kind, centre, radius, colour in fam["shapes"]:
        cx, cy = (centre + rng.normal(0, 0.03, 2)) * (w, h)
        r = radius * min(w, h) * rng.uniform(0.9, 1.1)
        col = tuple(int(np.clip(c + rng.normal(0, 12), 0, 255)) for c in colour) + (255,)
        box = [cx - r, cy - r, cx + r, cy + r]
        if kind == 0:
            draw.ellipse(box, fill=col)
        elif kind == 1:
            draw.rectangle(box, fill=col)
        else:
            draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=col)
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.2)))


def make_photos(root, n_images: int, *, families: int = 100, size=(640, 480), duplicates: int = 10,
                seed: int = 0) -> Path:
    """Write ``n_images`` pictures in ``families`` sub-folders of ``root``; returns ``root``.

    JPEG photos of ``size`` pixels (quality 85), RGBA PNG icons half that size, and
    ``duplicates`` byte-identical copies of the first pictures (``copy-of-*.jpg``).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    fams = [_family(rng) for _ in range(families)]
    written = []
    for i in range(n_images - duplicates):
        f = i % families
        icon = f % 5 == 4
        folder = root / f"{NAMES[f % len(NAMES)]}-{f:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        img = _draw(fams[f], rng, (size[0] // 2, size[0] // 2) if icon else size, icon)
        if icon:
            path = folder / f"icon-{i:05d}.png"
            img.save(path)
        else:
            path = folder / f"photo-{i:05d}.jpg"
            img.convert("RGB").save(path, quality=85)
        written.append(path)
    for k in range(min(duplicates, len(written))):
        src = written[k]
        shutil.copyfile(src, src.with_name(f"copy-of-{src.name}"))
    return root
