"""Image folders: the one place that decodes image files.

Every command that reads a photo (a folder scan, a query image, an upload) goes
through :func:`load_image`, so all of them see the same pixels: EXIF orientation
applied, converted to grayscale (``L``) or RGB, resized with bilinear interpolation.
Pillow's decompression-bomb guard stays on and truncated files are errors, so a
hostile or damaged file is skipped with a warning instead of hanging or crashing
the run.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np

from .._progress import progress
from .._validation import UnreadableImageError
from .imageset import ImageSet

__all__ = ["SUPPORTED_SUFFIXES", "scan_folder", "load_image", "load_folder", "convert_images"]

SUPPORTED_SUFFIXES = frozenset({
    ".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff",
})

# Modes that carry 16 or 32 bits per pixel: Pillow's own conversion to L clips them
# at 255 instead of scaling, which would turn a 16-bit scan white.
_WIDE_GRAY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _target_size(size) -> tuple[int, int] | None:
    """``size`` as Pillow's (width, height), or None to keep the image's own size."""
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        if size < 1:
            raise ValueError(f"size must be a positive number of pixels, got {size}")
        return int(size), int(size)
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in size):
        return int(size[0]), int(size[1])
    raise ValueError(f"size must be an int or a (width, height) pair of positive ints, got {size!r}")


def _describe(source) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", "<file object>"))


def _flatten_alpha(img):
    """Composite a transparent image onto white, as image viewers show it."""
    from PIL import Image

    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _to_mode(img, color: bool):
    """``img`` as an ``RGB`` (color) or ``L`` (gray) Pillow image."""
    from PIL import Image

    if img.mode in _WIDE_GRAY_MODES:
        wide = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        values = np.asarray(img, dtype=np.float64)
        # float images are either 0..1 (scientific TIFFs) or already 0..255
        if values.size and np.nanmax(values) <= 1.0:
            values = values * 255.0
        img = Image.fromarray(np.clip(np.rint(np.nan_to_num(values)), 0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        img = _flatten_alpha(img)
    target = "RGB" if color else "L"
    if img.mode not in ("L", "RGB"):
        # CMYK, YCbCr, palette, 1-bit...: Pillow converts each of them to RGB
        img = img.convert("RGB")
    return img if img.mode == target else img.convert(target)


def _decode(source, target: tuple[int, int] | None, color: bool) -> np.ndarray:
    """Decode ``source``; raise ValueError carrying only the reason on failure."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        raise ValueError("no such file")
    try:
        with Image.open(source) as img:
            if target is not None and img.format == "JPEG":
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still leaves at
                # least the target size (in either orientation): large photos decode
                # several times faster and the bilinear resize below does the rest.
                side = max(target)
                img.draft(None, (side, side))
            img = ImageOps.exif_transpose(img)
            img = _to_mode(img, color)
            if target is not None and img.size != target:
                img = img.resize(target, Image.Resampling.BILINEAR)
            return np.array(img, dtype=np.uint8)
    except UnidentifiedImageError:
        raise ValueError("not an image file that Pillow can decode") from None
    except Image.DecompressionBombError as exc:
        raise ValueError(f"refused as a possible decompression bomb ({exc})") from None
    except Exception as exc:  # noqa: BLE001
        # Pillow's format plugins raise many exception types on damaged input
        # (OSError, SyntaxError, struct.error, IndexError, ...): all mean "unreadable".
        raise ValueError(str(exc) or type(exc).__name__) from None


def load_image(source, *, size=None, color: bool = True) -> np.ndarray:
    """Decode one image file the way every imsim command does.

    Parameters
    ----------
    source : str, path-like, bytes or binary file object
        The encoded image (JPEG, PNG, WebP, BMP, GIF, TIFF; the first frame of an
        animation).
    size : int or (width, height), optional
        Resize to this size with bilinear interpolation; an int means a square.
        The aspect ratio is not kept. Default: the image's own size.
    color : bool
        True for RGB, False for 8-bit grayscale (ITU-R 601 luma, Pillow's ``L``).
        Transparent pixels are composited onto white first.

    Returns
    -------
    ndarray of shape (H, W, 3) if color else (H, W), dtype uint8
        After the EXIF orientation is applied, so (H, W) is the upright size.

    Raises
    ------
    UnreadableImageError
        (a ValueError) ``cannot read image X: reason`` for a missing, undecodable or
        truncated file, or one larger than Pillow's decompression-bomb limit.
    ValueError
        For a bad ``size``.
    """
    target = _target_size(size)
    try:
        return _decode(source, target, bool(color))
    except ValueError as exc:
        raise UnreadableImageError(f"cannot read image {_describe(source)}: {exc}") from None


def scan_folder(root) -> list[Path]:
    """Image files under ``root``, recursively, in a deterministic order.

    Files are kept when their suffix (any case) is in :data:`SUPPORTED_SUFFIXES`.
    Hidden files and folders (names starting with ``.``, such as macOS ``._x.jpg``
    resource forks) are left out, and symlinked folders are not followed (no cycles).

    Returns
    -------
    list of Path
        ``root / relative`` for each file, sorted by the relative POSIX path.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"image folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"expected a folder of images, got a file: {root}")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                found.append(Path(dirpath, name))
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def load_folder(root, *, size=64, color: bool = True,
                labels_from_subdirs: bool = False) -> ImageSet:
    """Read every image under ``root`` into one :class:`ImageSet`.

    Parameters
    ----------
    root : str or path-like
        Folder scanned by :func:`scan_folder`.
    size : int or (width, height) or None
        Every image is resized to this size (bilinear). None keeps the images' own
        size, which must then be the same for all of them.
    color : bool
        RGB images (N, H, W, 3) when True, grayscale (N, H, W) when False.
    labels_from_subdirs : bool
        Label each image by its first-level sub-folder (``root/cat/x.jpg`` -> "cat");
        labels are indices into ``meta["classes"]`` (sorted folder names). Images
        directly in ``root`` are then skipped.

    Returns
    -------
    ImageSet
        ``paths`` relative to ``root`` (POSIX separators), ids 0..N-1 in scan order,
        ``meta["skipped"]`` the list of ``(path, reason)`` for files that could not
        be read (each also reported by one warning), ``meta["root"]`` the folder.

    Raises
    ------
    ValueError
        The folder holds no image files, none of them could be read, or
        ``size=None`` and the images differ in size.
    """
    root = Path(root).expanduser()
    files = scan_folder(root)
    if not files:
        raise ValueError(f"no images found in {root} (looked recursively for "
                         f"{', '.join(sorted(SUPPORTED_SUFFIXES))})")
    target = _target_size(size)
    rel_paths = [p.relative_to(root).as_posix() for p in files]
    classes = sorted({r.split("/", 1)[0] for r in rel_paths if "/" in r}) if labels_from_subdirs else []
    class_index = {c: i for i, c in enumerate(classes)}

    images, paths, labels, skipped = [], [], [], []

    def skip(rel: str, reason: str) -> None:
        warnings.warn(f"skipping {rel}: {reason}", stacklevel=3)
        skipped.append((rel, reason))

    for path, rel in zip(progress(files, desc="reading images", unit="img"), rel_paths):
        if labels_from_subdirs and "/" not in rel:
            skip(rel, "not in a class sub-folder")
            continue
        try:
            pixels = _decode(path, target, bool(color))
        except ValueError as exc:
            skip(rel, str(exc))
            continue
        if images and pixels.shape != images[0].shape:
            raise ValueError(
                f"images in {root} differ in size: {paths[0]} is {_wh(images[0])}, {rel} is "
                f"{_wh(pixels)}; pass size (--size) to resize them all")
        images.append(pixels)
        paths.append(rel)
        if labels_from_subdirs:
            labels.append(class_index[rel.split("/", 1)[0]])
    if not images:
        first = f" (first: {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise ValueError(f"none of the {len(files)} image files in {root} could be read{first}")
    meta = {"source": "folder", "root": str(root), "skipped": skipped}
    if labels_from_subdirs:
        meta["classes"] = classes
    return ImageSet(np.stack(images), labels=np.asarray(labels, dtype=np.int64) if labels_from_subdirs else None,
                    paths=paths, name=f"folder {root}", meta=meta)


def _wh(pixels: np.ndarray) -> str:
    return f"{pixels.shape[1]}x{pixels.shape[0]}"


def convert_images(images, *, size=None, color: bool | None = None) -> np.ndarray:
    """Resize and/or change the colour of decoded images, as :func:`load_image` would.

    Parameters
    ----------
    images : ndarray of shape (N, H, W) or (N, H, W, 3), dtype uint8
    size : int or (width, height), optional
        Bilinear resize (Pillow); None keeps the size.
    color : bool, optional
        True gives RGB (gray is repeated in 3 channels), False gives grayscale with
        Pillow's ``L`` weights (299, 587, 114)/1000; None keeps the channels.

    Returns
    -------
    ndarray of shape (N, h, w) or (N, h, w, 3), dtype uint8
        ``images`` itself when nothing changes.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise ValueError(f"expected uint8 images of shape (N, H, W) or (N, H, W, 3), "
                         f"got {images.dtype} {images.shape}")
    if color is True and images.ndim == 3:
        images = np.repeat(images[..., None], 3, axis=-1)
    elif color is False and images.ndim == 4:
        rgb = images.astype(np.uint32)
        # Pillow's RGB -> L in fixed point, so converted arrays match decoded files
        luma = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16
        images = luma.astype(np.uint8)
    target = _target_size(size)
    if target is None or (images.shape[2], images.shape[1]) == target:
        return images
    from PIL import Image

    out = np.empty((len(images), target[1], target[0], *images.shape[3:]), dtype=np.uint8)
    for i, pixels in enumerate(progress(images, desc="resizing", unit="img")):
        out[i] = np.asarray(Image.fromarray(pixels).resize(target, Image.Resampling.BILINEAR))
    return out
