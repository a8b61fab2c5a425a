"""Image folders: walking a folder, and reading every image in it.

Every photo is decoded by :func:`imsim.datasets.image.decode_image` (the one decoding
path, with its byte and pixel caps), so a folder, a query image and an upload give
the same pixels: EXIF orientation applied, converted to grayscale (``L``) or RGB,
resized with bilinear interpolation. :func:`walk_folder` lists what it leaves out
and why (other file types, FIFOs and devices, broken links, symlink loops,
unreadable folders), so a hostile or damaged folder is reported file by file
instead of hanging or crashing the run.
"""
from __future__ import annotations

import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._progress import progress
from .._text import safe_name
from .._validation import UnreadableImageError
from ._regular import file_kind
from .image import decode_image, load_image, target_size
from .imageset import ImageSet

__all__ = ["SUPPORTED_SUFFIXES", "FolderListing", "walk_folder", "scan_folder", "display_path",
           "load_image", "load_folder", "convert_images"]

SUPPORTED_SUFFIXES = frozenset({
    ".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff",
})

UNSUPPORTED = "not a supported image type"


@dataclass
class FolderListing:
    """What :func:`walk_folder` found.

    Attributes
    ----------
    files : list of Path
        Regular image files (``root / relative``), sorted by the relative POSIX path.
    skipped : list of (str, str)
        ``(relative path, reason)`` of every other non-hidden entry, sorted: files of
        another type, FIFOs and devices, broken links, symlink loops, symlinked
        folders (not followed), unreadable folders, names that are not UTF-8 (shown
        with ``\\xNN`` escapes).
    """

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def display_path(rel: str) -> str:
    """``rel`` with bytes that are not UTF-8 shown as ``\\xNN`` (a str that encodes)."""
    try:
        rel.encode("utf-8")
        return rel
    except UnicodeEncodeError:
        return os.fsencode(rel).decode("utf-8", "backslashreplace")


def _check_root(root) -> Path:
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"image folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"expected a folder of images, got a file: {root}")
    return root


def _is_collection_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "collection.json")) and \
        os.path.isdir(os.path.join(path, "versions"))


def _file_reason(full: str) -> str | None:
    """Why the entry ``full`` cannot be read as an image file, or None when it can."""
    try:
        st = os.stat(full)
    except FileNotFoundError:
        return "broken symbolic link" if os.path.islink(full) else "vanished during the scan"
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            return "symbolic link loop"
        return f"cannot read file: {exc.strerror or exc}"
    if not stat.S_ISREG(st.st_mode):
        return f"not a regular file ({file_kind(st.st_mode)})"
    return None


def walk_folder(root, *, exclude=()) -> FolderListing:
    """Image files under ``root``, recursively, and every entry left out with its reason.

    Files are kept when their suffix (any case) is in :data:`SUPPORTED_SUFFIXES` and
    they are regular files (a symlink to one is followed). Hidden files and folders
    (names starting with ``.``) are left out silently; symlinked folders are not
    followed (no cycles); folders in ``exclude`` and imsim collection folders (a
    ``collection.json`` beside ``versions/``) are never entered, so a collection kept
    inside its photo folder is not indexed into itself. Nothing is opened: the
    checks use ``stat`` only, so a FIFO cannot block the walk.

    Returns
    -------
    FolderListing
    """
    root = _check_root(root)
    excluded = set()
    for e in exclude:
        try:
            st = os.stat(e)
            excluded.add((st.st_dev, st.st_ino))
        except OSError:
            pass
    listing = FolderListing()
    base = os.fspath(root)

    def rel_of(path: str) -> str:
        return Path(os.path.relpath(path, base)).as_posix()

    def unreadable_folder(exc: OSError) -> None:
        listing.skipped.append((display_path(rel_of(exc.filename)),
                                f"cannot read folder: {exc.strerror or exc}"))

    found = []
    for dirpath, dirnames, filenames in os.walk(base, onerror=unreadable_folder):
        keep = []
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if d.startswith("."):
                continue
            if os.path.islink(full):
                listing.skipped.append((display_path(rel_of(full)),
                                        "symbolic link to a folder (not followed)"))
                continue
            try:
                st = os.stat(full)
            except OSError:
                st = None
            if (st is not None and (st.st_dev, st.st_ino) in excluded) or _is_collection_dir(full):
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            if name.startswith("."):
                continue
            full = os.path.join(dirpath, name)
            rel = rel_of(full)
            shown = display_path(rel)
            suffix = Path(name).suffix.lower()
            if shown != rel:
                reason = "file name is not valid UTF-8 (rename the file)"
            elif suffix not in SUPPORTED_SUFFIXES:
                reason = f"{UNSUPPORTED} ({suffix or 'no suffix'})"
            else:
                reason = _file_reason(full)
            if reason is None:
                found.append((rel, Path(full)))
            else:
                listing.skipped.append((shown, reason))
    found.sort(key=lambda item: item[0])
    listing.files = [p for _, p in found]
    listing.skipped.sort()
    return listing


def scan_folder(root) -> list[Path]:
    """Image files under ``root``, recursively, in a deterministic order.

    The ``files`` of :func:`walk_folder` (which also says what it left out and why).

    Returns
    -------
    list of Path
        ``root / relative`` for each file, sorted by the relative POSIX path.
    """
    return walk_folder(root).files


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
    root = _check_root(root)
    listing = walk_folder(root)
    files = listing.files
    if not files:
        raise ValueError(f"no images found in {root} (looked recursively for "
                         f"{', '.join(sorted(SUPPORTED_SUFFIXES))})")
    target = target_size(size)
    rel_paths = [p.relative_to(root).as_posix() for p in files]
    classes = sorted({r.split("/", 1)[0] for r in rel_paths if "/" in r}) if labels_from_subdirs else []
    class_index = {c: i for i, c in enumerate(classes)}

    images, paths, labels, skipped = [], [], [], []

    def skip(rel: str, reason: str) -> None:
        warnings.warn(f"skipping {safe_name(rel)}: {safe_name(reason)}", stacklevel=3)
        skipped.append((rel, reason))

    for rel, reason in listing.skipped:
        if not reason.startswith(UNSUPPORTED):  # other files are not images: no warning
            skip(rel, reason)

    for path, rel in zip(progress(files, desc="reading images", unit="img"), rel_paths):
        if labels_from_subdirs and "/" not in rel:
            skip(rel, "not in a class sub-folder")
            continue
        try:
            pixels = decode_image(path, size=target, color=color).pixels
        except UnreadableImageError as exc:
            skip(rel, exc.reason)
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
    target = target_size(size)
    if target is None or (images.shape[2], images.shape[1]) == target:
        return images
    from PIL import Image

    out = np.empty((len(images), target[1], target[0], *images.shape[3:]), dtype=np.uint8)
    for i, pixels in enumerate(progress(images, desc="resizing", unit="img")):
        out[i] = np.asarray(Image.fromarray(pixels).resize(target, Image.Resampling.BILINEAR))
    return out
