"""Benchmark folders of real pictures whose truth is known from their names.

    .venv/bin/python benchmarks/real_folders.py                    # build all, print the table
    .venv/bin/python benchmarks/real_folders.py --measure          # and index each, recall@5 etc.

Each folder is built once into ``CACHE/NAME/images/`` (deterministic, seeded) with its
truth in ``CACHE/NAME/truth.json``: ``picture`` (relpath -> picture id: files with one id
are versions of one picture, for recall@5), ``duplicate`` (relpath -> group id: files a
user would call duplicates of each other; a unique id means no duplicate) and ``tier``
(how a file came to be: original, identical, same pixels, edited: ...).

* ``gnome``: the raster wallpapers of Debian's gnome-backgrounds (4096 px WebP; SVGs and
  XMLs left out). Each design ships as ``NAME-l`` and ``NAME-d`` (light and dark): the two
  are versions of one picture for recall@5 but different pictures for deleting, so every
  file is its own duplicate group.
* ``plasma``: Debian's plasma-workspace-wallpapers (KDE), the regular files only (the
  other resolutions are symbolic links to one file): ``NAME/contents/images/WxH`` (a
  landscape picture and often a portrait one, reframed from it), ``images_dark/`` (a dark
  version) and ``screenshot`` (a small preview). All files of one NAME are versions of
  one picture; ``images/`` and the screenshot are duplicates, ``images_dark/`` is its own
  duplicate group (another palette, as GNOME's).
* ``mate``: Debian's mate-backgrounds and the raster pictures of desktop-base, with
  transparent desktop overlays and white logos on transparent canvases among photographs.
  One picture and one duplicate group: the elephants at three sizes, the Debian logo at
  three sizes (and the logo with its version number at three), each desktop-base theme's
  4:3 and 16:9 boot screens (reframed). Versions only (other palettes or a logo more):
  the four Ubuntu MATE colourings, the light and dark MATE stripes, the lines theme's login
  screen with and without its logo. The three logo files that are wholly transparent are
  left out; everything else is unique.
* ``tux``: tuxpaint-stamps-default's PNG stamps, topic folders kept. ``X_mirror.png``
  and ``X.png`` (mirror images drawn by the artists) are one picture and duplicates, as
  are byte-identical files (SHA-256); everything else is unique.
* ``icons``: adwaita-icon-theme's PNG icons (``16x16/actions/foo.png``). One icon drawn
  at several sizes is one picture and one duplicate group; the id is the path without
  the size folder (``actions/foo``), so ``-symbolic`` icons are their own names.
* ``photos-dev`` (for tuning): scikit-image's bundled colour photographs (astronaut,
  coffee, chelsea, rocket, hubble_deep_field, immunohistochemistry, retina, motorcycle),
  each as an original JPEG and 3-5 versions made with Pillow, seeded, the edit types dealt
  round so each comes up about equally often: crops of 50-85 % of the area
  with another aspect ratio (portrait crops of landscape photos included), resizes to
  15-50 %, darker (x0.3-0.6 or gamma) and lighter (x1.4-2.0) versions, JPEG quality 25-40,
  a horizontal flip, a 3-8 degree rotation with the borders cropped, sometimes two edits
  at once, a lossless PNG re-save of the original (tier "same pixels") and a byte copy
  under another name (tier "identical"); the motorcycle also has the stereo pair's other
  view (tier "other shot"). Names say the picture: ``astronaut_v3_crop.jpg``.
* ``photos-dev-b``, ``photos-dev-c`` (for tuning): the same photographs in other versions
  (other seeds), so a rule is tried on more than one draw of the edits.
* ``photos-eval`` (held out: never tune on it): the same recipe, another seed, other
  sources: scikit-learn's china and flower, matplotlib's Grace Hopper and MRI slice, and
  scikit-image's greyscale photographs (camera, moon, coins, page, text, clock, grass,
  gravel, brick), kept grey.
* ``distinct``: the original of every photo of the two photo folders and the light
  gnome wallpapers (the flat grey ``vnc`` left out): a folder with no duplicates at all,
  for the share of a clean folder that gets flagged.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

FORMAT = 1  # bump when a recipe changes: cached folders of another format are rebuilt
NAMES = ("gnome", "plasma", "mate", "tux", "icons", "photos-dev", "photos-dev-b", "photos-dev-c",
         "photos-eval", "distinct")
GNOME = Path("/usr/share/backgrounds/gnome")
PLASMA = Path("/usr/share/wallpapers")
MATE = Path("/usr/share/backgrounds/mate")
DESKTOP_BASE = Path("/usr/share/desktop-base")
TUX = Path("/usr/share/tuxpaint/stamps")
ICONS = Path("/usr/share/icons/Adwaita")
RASTER = (".webp", ".jpg", ".jpeg", ".png")
SEEDS = {"photos-dev": 31, "photos-dev-b": 33, "photos-dev-c": 34, "photos-eval": 47}
EDITS = ("crop", "resize", "dark", "light", "jpeg", "flip", "rotate", "png", "copy")
DEV = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
       "immunohistochemistry", "retina", "motorcycle")
EVAL = ("china", "flower", "grace_hopper", "mri", "camera", "moon", "coins", "page", "text",
        "clock", "grass", "gravel", "brick")
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class RealFolder:
    name: str
    path: Path                 # the folder of image files (what ``imsim index`` is given)
    picture: dict[str, str]    # relpath -> picture id (versions of one picture share it)
    duplicate: dict[str, str]  # relpath -> duplicate-group id (unique id: no duplicate)
    note: str                  # where it comes from, files, true duplicate pairs
    tier: dict[str, str] = field(default_factory=dict)  # relpath -> how the file was made


# -- truth ---------------------------------------------------------------------------

def _pairs(ids: dict[str, str]) -> set[tuple[str, str]]:
    groups: dict[str, list[str]] = {}
    for rel, g in sorted(ids.items()):
        groups.setdefault(g, []).append(rel)
    return {p for g in groups.values() for p in combinations(g, 2)}


def duplicate_pairs(f: RealFolder) -> set[tuple[str, str]]:
    """Sorted relpath pairs a user would call duplicates."""
    return _pairs(f.duplicate)


def version_pairs(f: RealFolder) -> set[tuple[str, str]]:
    """Sorted relpath pairs that are versions of one picture."""
    return _pairs(f.picture)


def _counts(picture: dict[str, str]) -> tuple[int, int, int]:
    """(files, pictures, pictures with versions)."""
    n = Counter(picture.values())
    return len(picture), len(n), sum(c > 1 for c in n.values())


def _note(source: str, picture: dict, duplicate: dict) -> str:
    files, pictures, multi = _counts(picture)
    return (f"{source}: {files} files, {pictures} pictures ({multi} with versions), "
            f"{len(_pairs(duplicate))} true duplicate pairs")


# -- availability --------------------------------------------------------------------

def available() -> dict[str, str]:
    """Folder name -> why it cannot be built ("" when it can)."""
    def some(root: Path, pattern: str, pkg: str) -> str:
        return "" if root.is_dir() and next(root.glob(pattern), None) else f"apt-get install {pkg}"
    try:
        import skimage.data as d
        d.astronaut()
        dev = ""
    except Exception as e:  # not installed, or its bundled files missing
        dev = f"pip install 'imsim[bench]' (scikit-image with its bundled data; {type(e).__name__})"
    try:
        import matplotlib.cbook  # noqa: F401
        from sklearn.datasets import load_sample_images  # noqa: F401
        ev = dev
    except ImportError as e:
        ev = f"pip install {e.name}"
    return {"gnome": some(GNOME, "*-l.webp", "gnome-backgrounds"),
            "plasma": some(PLASMA, "*/contents/images/*", "plasma-workspace-wallpapers"),
            "mate": (some(MATE, "*/*.jpg", "mate-backgrounds")
                     or some(DESKTOP_BASE, "*-theme/grub/*.png", "desktop-base")),
            "tux": some(TUX, "**/*.png", "tuxpaint-stamps-default"),
            "icons": some(ICONS, "*/*/*.png", "adwaita-icon-theme"),
            "photos-dev": dev, "photos-dev-b": dev, "photos-dev-c": dev, "photos-eval": ev,
            "distinct": dev or ev}


# -- the installed folders -----------------------------------------------------------

def _copy_tree(files: list[Path], root: Path, dest: Path) -> list[str]:
    rels = []
    for f in files:
        rel = f.relative_to(root).as_posix()
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dest / rel)
        rels.append(rel)
    return rels


def _gnome(dest: Path):
    files = sorted(p for p in GNOME.iterdir() if p.suffix.lower() in RASTER)
    rels = _copy_tree(files, GNOME, dest)
    picture = {r: Path(r).stem.removesuffix("-l").removesuffix("-d") for r in rels}
    return picture, {r: r for r in rels}, {r: "original" for r in rels}, str(GNOME)


def _plasma(dest: Path):
    def linked(p: Path) -> bool:  # the file, or a folder on its way, is a symbolic link
        return any((PLASMA / q).is_symlink() for q in [p.relative_to(PLASMA), *p.relative_to(PLASMA).parents]
                   if str(q) != ".")

    files = sorted(p for p in PLASMA.glob("*/contents/**/*")
                   if p.suffix.lower() in RASTER and p.is_file() and not linked(p))
    rels = _copy_tree(files, PLASMA, dest)
    picture = {r: r.split("/", 1)[0] for r in rels}
    duplicate = {r: picture[r] + ("/dark" if "/images_dark/" in r else "") for r in rels}
    tier = {r: "dark" if "/images_dark/" in r else "screenshot" if "/screenshot" in r
            else "original" for r in rels}
    return picture, duplicate, tier, str(PLASMA)


def _mate(dest: Path):
    files = [p for p in sorted(MATE.rglob("*")) if p.suffix.lower() in RASTER and p.is_file()]
    base = [p for p in sorted(DESKTOP_BASE.rglob("*")) if p.suffix.lower() in RASTER
            and p.is_file() and not p.is_symlink() and not p.name.startswith("logo-text-")]
    base += sorted(DESKTOP_BASE.glob("debian-logos/logo-text-version-*.png"))
    rels = [f"mate/{r}" for r in _copy_tree(files, MATE, dest / "mate")]
    rels += [f"desktop-base/{r}" for r in _copy_tree(base, DESKTOP_BASE, dest / "desktop-base")]
    picture, duplicate = {}, {}
    for r in rels:
        stem, parts = Path(r).stem, r.split("/")
        if stem.startswith("Elephants"):
            pic = dup = "Elephants"
        elif stem.startswith("logo-"):  # logo-64 / logo-text-version-128: the size dropped
            pic = dup = stem.rsplit("-", 1)[0]
        elif parts[-2] == "grub":  # a theme's 4:3 and 16:9 boot screens
            pic = dup = parts[1]
        elif stem.startswith("Ubuntu-Mate-"):
            pic, dup = "Ubuntu-Mate", r
        elif stem.startswith("MATE-Stripes-"):
            pic, dup = "MATE-Stripes", r
        elif parts[-2] == "login":  # sddm-preview and sddm-preview-nologo
            pic, dup = f"{parts[1]}/login", r
        else:
            pic = dup = r
        picture[r], duplicate[r] = pic, dup
    return picture, duplicate, {r: "original" for r in rels}, f"{MATE} and {DESKTOP_BASE}"


def _tux(dest: Path):
    files = sorted(TUX.rglob("*.png"))
    rels = _copy_tree(files, TUX, dest)
    parent = {r: r for r in rels}  # union-find, the smallest relpath names a group

    def find(r):
        while parent[r] != r:
            r = parent[r]
        return r

    def union(a, b):
        a, b = find(a), find(b)
        parent[max(a, b)] = min(a, b)

    by_sha: dict[str, str] = {}
    for r in rels:
        if r.endswith("_mirror.png") and r.removesuffix("_mirror.png") + ".png" in parent:
            union(r, r.removesuffix("_mirror.png") + ".png")
        sha = hashlib.sha256((dest / r).read_bytes()).hexdigest()
        if sha in by_sha:
            union(r, by_sha[sha])
        by_sha.setdefault(sha, r)
    ids = {r: find(r) for r in rels}
    tier = {r: "mirror" if r.endswith("_mirror.png") and ids[r] != r else "original" for r in rels}
    return ids, dict(ids), tier, str(TUX)


def _icons(dest: Path):
    files = sorted(ICONS.glob("*/*/*.png"))
    rels = _copy_tree(files, ICONS, dest)
    ids = {r: r.split("/", 1)[1].removesuffix(".png") for r in rels}
    # duplicates: one icon at several sizes, an icon's right-to-left mirror (-rtl), and
    # files with the same bytes under other names (aliases such as folder = inode-directory)
    parent = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    def stem(name):
        return name.replace("-symbolic-rtl", "-symbolic").replace("-rtl-symbolic", "-symbolic") \
            .removesuffix("-rtl")

    by_sha: dict[str, str] = {}
    for r in rels:
        a, b = find(ids[r]), find(stem(ids[r]))
        parent[max(a, b)] = min(a, b)
        sha = hashlib.sha256((dest / r).read_bytes()).hexdigest()
        if sha in by_sha:
            a, b = find(ids[r]), find(ids[by_sha[sha]])
            parent[max(a, b)] = min(a, b)
        by_sha.setdefault(sha, r)
    duplicate = {r: find(ids[r]) for r in rels}
    return ids, duplicate, {r: "size " + r.split("/")[0] for r in rels}, str(ICONS)


# -- photographs and their versions --------------------------------------------------

def _source(name: str):
    """A photo's original: the path of a JPEG file to copy, or a PIL image."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_images
        return next(Path(f) for f in load_sample_images().filenames if Path(f).stem == name)
    if name == "grace_hopper":
        from matplotlib import cbook
        return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    if name == "mri":  # 256 x 256 uint16 slice, matplotlib's image demo
        from matplotlib import cbook
        raw = gzip.decompress(Path(cbook.get_sample_data("s1045.ima.gz", asfileobj=False)).read_bytes())
        a = np.frombuffer(raw, np.uint16).reshape(256, 256).astype(np.float32)
        return Image.fromarray((a / a.max() * 255).astype(np.uint8))
    import skimage.data as d
    jpg = Path(d.__file__).parent / f"{name}.jpg"
    if jpg.is_file():  # rocket, hubble_deep_field, retina ship as JPEG
        return jpg
    if name == "motorcycle":
        return Image.fromarray(d.stereo_motorcycle()[0])
    return Image.fromarray(getattr(d, name)())


def _crop(im, rng):
    w, h = im.size
    r = w / h
    if w > h and rng.random() < 0.4:  # portrait crop of a landscape photo
        r2 = rng.uniform(0.62, 0.8)
        a = float(np.clip(r2 / r, 0.5, 0.85))
    else:  # another aspect: w/h * f with a <= f <= 1/a keeps the crop inside
        a = rng.uniform(0.5, 0.85)
        f = a ** rng.uniform(0.6, 1.0)
        r2 = r * (f if rng.random() < 0.5 else 1 / f)
    ch = min(h, np.sqrt(a * w * h / r2))
    cw = min(w, r2 * ch)
    x, y = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
    return im.crop((round(x), round(y), round(x + cw), round(y + ch)))


def _resize(im, rng):
    s = max(rng.uniform(0.15, 0.5), 32 / min(im.size))
    return im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.Resampling.LANCZOS)


def _dark(im, rng):
    if rng.random() < 0.5:
        return ImageEnhance.Brightness(im).enhance(rng.uniform(0.3, 0.6))
    g = rng.uniform(1.8, 2.6)
    return im.point([round(255 * (i / 255) ** g) for i in range(256)] * len(im.getbands()))


def _rotate(im, rng):
    deg = rng.uniform(3, 8) * rng.choice([-1, 1])
    t = np.radians(abs(deg))
    s = 1 / (np.cos(t) + max(im.width / im.height, im.height / im.width) * np.sin(t))
    out = im.rotate(deg, Image.Resampling.BICUBIC)
    cw, ch = im.width * s, im.height * s
    x, y = (im.width - cw) / 2, (im.height - ch) / 2  # the largest centred box of one aspect
    return out.crop((int(np.ceil(x)), int(np.ceil(y)), int(x + cw), int(y + ch)))


PIXEL = {"crop": _crop, "resize": _resize, "dark": _dark,
         "light": lambda im, rng: ImageEnhance.Brightness(im).enhance(rng.uniform(1.4, 2.0)),
         "flip": lambda im, rng: ImageOps.mirror(im), "rotate": _rotate,
         "jpeg": lambda im, rng: im}  # saved at quality 25-40


def _plan(rng, n: int) -> list[list[str]]:
    """Edits of each version of n photos: every edit type comes round evenly."""
    pool: list[str] = []
    plans = []
    for _ in range(n):
        chosen: list[str] = []
        for _ in range(int(rng.integers(3, 6))):
            while not any(e not in chosen for e in pool):
                pool.extend(str(e) for e in rng.permutation(EDITS))
            chosen.append(next(e for e in pool if e not in chosen))
            pool.remove(chosen[-1])
        plans.append(chosen)
    return plans


def _photos(dest: Path, names: tuple[str, ...], seed: int):
    rng = np.random.default_rng(seed)
    picture, tier = {}, {}
    for name, plan in zip(names, _plan(rng, len(names))):
        src = _source(name)
        orig = dest / f"{name}.jpg"
        if isinstance(src, Path):
            shutil.copyfile(src, orig)
        else:
            src.convert("L" if src.mode == "L" else "RGB").save(orig, quality=92)
        picture[orig.name], tier[orig.name] = name, "original"
        with Image.open(orig) as im:
            base = im.convert("L" if im.mode == "L" else "RGB")
        for v, edit in enumerate(plan, 1):
            edits = [edit]
            if edit in PIXEL and rng.random() < 0.3:  # two edits at once
                second = [e for e in PIXEL if e != edit and {e, edit} != {"dark", "light"}]
                edits.append(str(rng.choice(second)))
            rel = f"{name}_v{v}_{'-'.join(edits)}.{'png' if edit == 'png' else 'jpg'}"
            picture[rel] = name
            if edit == "copy":
                shutil.copyfile(orig, dest / rel)
                tier[rel] = "identical"
            elif edit == "png":
                base.save(dest / rel)
                tier[rel] = "same pixels"
            else:
                im = base
                for e in edits:
                    im = PIXEL[e](im, rng)
                im.save(dest / rel, quality=int(rng.integers(25, 41)) if "jpeg" in edits else 90)
                tier[rel] = "edited: " + "+".join(edits)
        if name == "motorcycle":  # the stereo pair's other view: another shot of one scene
            import skimage.data as d
            rel = f"{name}_v{len(plan) + 1}_stereo.jpg"
            Image.fromarray(d.stereo_motorcycle()[1]).save(dest / rel, quality=90)
            picture[rel], tier[rel] = name, "other shot"
    source = "scikit-image data" if names == DEV else "scikit-learn, matplotlib, scikit-image (grey)"
    # another shot of a scene is the same picture to search for, not a duplicate to delete
    duplicate = {r: (r if tier[r] == "other shot" else p) for r, p in picture.items()}
    return picture, duplicate, tier, f"{source}, seed {seed}"


def _distinct(dest: Path, cache: Path):
    picture, sources = {}, []
    for name in ("photos-dev", "photos-eval"):
        f = build(name, cache)
        for rel, t in sorted(f.tier.items()):
            if t == "original":
                shutil.copyfile(f.path / rel, dest / rel)
                picture[rel] = rel
        sources.append(name)
    if not available()["gnome"]:
        for p in sorted(GNOME.glob("*-l.webp")):
            if p.stem != "vnc-l":  # a flat grey square, no photo
                shutil.copyfile(p, dest / p.name)
                picture[p.name] = p.name
        sources.append("gnome light")
    return picture, dict(picture), {r: "original" for r in picture}, "originals of " + ", ".join(sources)


# -- building ------------------------------------------------------------------------

def _load(name: str, cache: Path) -> RealFolder | None:
    try:
        t = json.loads((cache / name / "truth.json").read_text())
    except (OSError, ValueError):
        return None
    images = cache / name / "images"
    if t.get("format") != FORMAT or not all((images / r).is_file() for r in t["picture"]):
        return None
    return RealFolder(name, images, t["picture"], t["duplicate"], t["note"], t.get("tier", {}))


def build(name: str, cache: Path) -> RealFolder:
    """The folder ``name``, built into ``cache/name`` unless it is there already."""
    if name not in NAMES:
        raise ValueError(f"unknown folder {name!r}; known: {', '.join(NAMES)}")
    cache = Path(cache)
    found = _load(name, cache)
    if found is not None:
        return found
    why = available()[name]
    if why:
        raise RuntimeError(f"folder {name} cannot be built: needs {why}")
    tmp = cache / f"{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    (images := tmp / "images").mkdir(parents=True)
    make = {"gnome": _gnome, "plasma": _plasma, "mate": _mate, "tux": _tux, "icons": _icons,
            "distinct": lambda d: _distinct(d, cache),
            "photos-dev": lambda d: _photos(d, DEV, SEEDS[name]),
            "photos-dev-b": lambda d: _photos(d, DEV, SEEDS[name]),
            "photos-dev-c": lambda d: _photos(d, DEV, SEEDS[name]),
            "photos-eval": lambda d: _photos(d, EVAL, SEEDS[name])}[name]
    picture, duplicate, tier, source = make(images)
    note = _note(source, picture, duplicate)
    (tmp / "truth.json").write_text(json.dumps(
        {"format": FORMAT, "name": name, "note": note, "picture": picture,
         "duplicate": duplicate, "tier": tier}, indent=1, sort_keys=True))
    shutil.rmtree(cache / name, ignore_errors=True)
    os.replace(tmp, cache / name)
    return _load(name, cache)


# -- measuring with imsim ------------------------------------------------------------

def recall_at_5(collection_path, folder: RealFolder) -> float:
    """Mean, over files whose picture has other versions, of the share of those versions
    (up to 5) in the top 5 of ``Collection.query(file, n=5)`` (the file itself left out)."""
    from imsim import Collection

    count = Counter(folder.picture.values())
    scores = []
    with Collection.open(collection_path) as c:
        for rel, pic in sorted(folder.picture.items()):
            if count[pic] > 1:
                hits = c.query(folder.path / rel, n=5).hits
                found = sum(folder.picture.get(h.relpath) == pic for h in hits)
                scores.append(found / min(count[pic] - 1, 5))
    return float(np.mean(scores)) if scores else float("nan")


def duplicate_scores(collection_path, folder: RealFolder) -> tuple[float, float, float]:
    """(precision, recall, share of files flagged) of ``Collection.duplicates()`` at its
    default threshold against ``duplicate_pairs``."""
    from imsim import Collection

    with Collection.open(collection_path) as c:
        groups = c.duplicates().relpaths
    found = {p for g in groups for p in combinations(sorted(g), 2)}
    true = duplicate_pairs(folder)
    flagged = sum(len(g) for g in groups) / len(folder.picture)
    prec = len(found & true) / len(found) if found else float("nan")
    rec = len(found & true) / len(true) if true else float("nan")
    return prec, rec, flagged


def index(folder: RealFolder, encoder: str, home: Path) -> Path:
    """Index ``folder`` afresh with ``imsim index --encoder ENCODER``; the collection's path."""
    coll = home / "collections" / f"{folder.name}-{encoder}"
    shutil.rmtree(coll, ignore_errors=True)
    env = dict(os.environ, IMSIM_HOME=str(home),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-m", "imsim", "index", str(folder.path), "-c", str(coll),
                           "--encoder", encoder], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"imsim index {folder.path} --encoder {encoder} failed:\n{done.stderr[-2000:]}")
    return coll


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/imsim-real"))
    ap.add_argument("--only", nargs="*", choices=NAMES, default=list(NAMES))
    ap.add_argument("--measure", nargs="*", metavar="ENCODER",
                    help="index each folder with these encoders (default: thumbnail features)")
    args = ap.parse_args(argv)
    why = available()
    folders = []
    print(f"{'folder':<12} {'files':>6} {'pictures':>8} {'w/ versions':>11} {'dup pairs':>9}  source")
    for name in args.only:
        if why[name]:
            print(f"{name:<12} unavailable: {why[name]}")
            continue
        f = build(name, args.cache)
        files, pictures, multi = _counts(f.picture)
        print(f"{name:<12} {files:>6} {pictures:>8} {multi:>11} "
              f"{len(duplicate_pairs(f)):>9}  {f.note.split(':')[0]}")
        folders.append(f)
    if args.measure is None:
        return
    encoders = args.measure or ["thumbnail", "features"]
    print(f"\n{'folder':<12} {'encoder':<10} {'recall@5':>8} {'dup P':>6} {'dup R':>6} {'flagged':>7}")
    for f in folders:
        for enc in encoders:
            coll = index(f, enc, args.cache / "home")
            r = recall_at_5(coll, f)
            p, rc, fl = duplicate_scores(coll, f)
            print(f"{f.name:<12} {enc:<10} {r:>8.3f} {p:>6.3f} {rc:>6.3f} {fl:>7.1%}", flush=True)


if __name__ == "__main__":
    main()
