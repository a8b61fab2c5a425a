"""Named data sets (``mnist``, ``fashion-mnist``, ``digits``, ``cifar10``) and
:func:`open_images`, the one way in for every command that takes "a data set".

Where a split of a named set comes from, in order:

1. ``data_dir`` (``--data-dir``), when it holds the files, directly or in a
   ``<name>/`` sub-folder;
2. the user cache ``$IMSIM_CACHE/<name>/`` (default ``~/.cache/imsim/<name>/``);
3. a download from the public mirrors, tried in order, into that cache folder.
   Each file is written to a temporary name beside its final one and renamed only
   once its checksum matches, so an interrupted or corrupted download never stays.

``digits`` is the 8x8 set that ships inside scikit-learn: always available offline.

Checksums. MNIST is verified by the SHA-256 of each file's *decompressed* content:
mirrors (and ../shared/datasets/mnist) re-compress the files, so the .gz bytes
differ while the content is the original. Fashion-MNIST and CIFAR-10 are verified
by the MD5 of the archives exactly as their authors publish them (the Zalando
repository and the CIFAR page list these sums); no SHA-256 of their content was
available to check here. Files found in ``data_dir`` or the cache are not hashed
again: the idx and batch readers validate their structure on every load.

Mirrors. :data:`MIRRORS` maps each set to its base URLs; the environment variable
``IMSIM_<NAME>_MIRROR`` (e.g. ``IMSIM_MNIST_MIRROR``, ``IMSIM_FASHION_MNIST_MIRROR``)
replaces that list with comma-separated base URLs of its own.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import atomic_path
from .._validation import DataFormatError, ImsimError
from ._readers import _CIFAR_BATCHES, load_cifar_parts, load_digits
from .download import ChecksumError, fetch, http_reason, verify
from .folder import SUPPORTED_SUFFIXES, convert_images, load_folder, load_image
from .idx import read_imageset
from .imageset import ImageSet

__all__ = [
    "DATASETS", "MIRRORS", "SPLITS", "DatasetInfo", "DatasetUnavailableError", "ChecksumError",
    "load_dataset", "open_images", "has_splits", "locate", "dataset_info", "cache_root",
    "mirrors",
]

SPLITS = ("train", "test")
CACHE_ENV = "IMSIM_CACHE"


class DatasetUnavailableError(ImsimError, OSError):
    """A named data set is neither on disk nor downloadable (offline, bad checksum)."""


@dataclass(frozen=True)
class DatasetInfo:
    """What imsim knows about one named data set.

    ``files[split]`` are the names on the mirrors; ``checksums[file]`` is
    ``(kind, hex)`` with kind ``"content-sha256"`` (SHA-256 of the gunzipped
    bytes) or ``"md5"`` (MD5 of the file as published).
    """

    name: str
    description: str
    image_shape: tuple[int, ...]
    sizes: dict[str, int]
    classes: tuple[str, ...]
    layout: str  # "idx", "cifar" or "sklearn"
    files: dict[str, tuple[str, ...]]
    checksums: dict[str, tuple[str, str]]
    download_mb: float
    homepage: str


_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
_CIFAR_FOLDER = "cifar-10-batches-py"
_DIGITS = 10

DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist", description="handwritten digits 0-9 (LeCun et al. 1998)",
        image_shape=(28, 28), sizes={"train": 60000, "test": 10000},
        classes=tuple(str(d) for d in range(_DIGITS)), layout="idx", files=_IDX_FILES,
        checksums={
            "train-images-idx3-ubyte.gz": ("content-sha256", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
            "train-labels-idx1-ubyte.gz": ("content-sha256", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
            "t10k-images-idx3-ubyte.gz": ("content-sha256", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
            "t10k-labels-idx1-ubyte.gz": ("content-sha256", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        },
        download_mb=11.6, homepage="http://yann.lecun.com/exdb/mnist/"),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist", description="Zalando clothing images, 10 classes (Xiao et al. 2017)",
        image_shape=(28, 28), sizes={"train": 60000, "test": 10000},
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"),
        layout="idx", files=_IDX_FILES,
        # MD5 of the .gz files as published in the fashion-mnist README
        checksums={
            "train-images-idx3-ubyte.gz": ("md5", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            "train-labels-idx1-ubyte.gz": ("md5", "25c81989df183df01b3e8a0aad5dffbe"),
            "t10k-images-idx3-ubyte.gz": ("md5", "bef4ecab320f06d8554ea6380940ec79"),
            "t10k-labels-idx1-ubyte.gz": ("md5", "bb300cfdad3c16e7a12a480ee83cd310"),
        },
        download_mb=30.9, homepage="https://github.com/zalandoresearch/fashion-mnist"),
    "digits": DatasetInfo(
        name="digits", description="8x8 handwritten digits shipped with scikit-learn (UCI)",
        image_shape=(8, 8), sizes={"train": 1442, "test": 355},
        classes=tuple(str(d) for d in range(_DIGITS)), layout="sklearn", files={}, checksums={},
        download_mb=0.0, homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html"),
    "cifar10": DatasetInfo(
        name="cifar10", description="32x32 colour photos, 10 classes (Krizhevsky 2009)",
        image_shape=(32, 32, 3), sizes={"train": 50000, "test": 10000},
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"),
        layout="cifar", files={"train": (_CIFAR_ARCHIVE,), "test": (_CIFAR_ARCHIVE,)},
        # MD5 published on https://www.cs.toronto.edu/~kriz/cifar.html (170,498,071 bytes)
        checksums={_CIFAR_ARCHIVE: ("md5", "c58f30108f718f92721af3b95e74349a")},
        download_mb=170.5, homepage="https://www.cs.toronto.edu/~kriz/cifar.html"),
}

MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
    "cifar10": ["https://www.cs.toronto.edu/~kriz/"],
}

_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
            "cifar-10": "cifar10", "cifar_10": "cifar10"}


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of a named set; ValueError naming the known ones."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[key]


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    return split


def cache_root(cache_dir=None) -> Path:
    """The cache folder: ``cache_dir``, else ``$IMSIM_CACHE``, else ``~/.cache/imsim``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "imsim"


def mirrors(name: str) -> list[str]:
    """Base URLs tried in order for ``name``: ``$IMSIM_<NAME>_MIRROR`` or :data:`MIRRORS`."""
    info = dataset_info(name)
    env = os.environ.get(f"IMSIM_{info.name.upper().replace('-', '_')}_MIRROR")
    if env:
        return [u.strip() for u in env.split(",") if u.strip()]
    return list(MIRRORS.get(info.name, []))


# ---------------------------------------------------------------- finding files

def _idx_variants(gz_name: str) -> tuple[str, ...]:
    """Names one idx file goes by: as downloaded, gunzipped, and with the '.idx'
    spelling that some unzip tools produce (``train-images.idx3-ubyte``)."""
    plain = gz_name[:-3]
    dotted = plain.replace("-idx", ".idx")
    return gz_name, plain, dotted, dotted + ".gz"


def _find_in(info: DatasetInfo, split: str, directory: Path):
    """What the loader needs for ``split`` inside ``directory``, or None."""
    if info.layout == "idx":
        found = []
        for gz_name in info.files[split]:
            path = next((directory / v for v in _idx_variants(gz_name)
                         if (directory / v).is_file()), None)
            if path is None:
                return None
            found.append(path)
        return tuple(found)
    for folder in (directory / _CIFAR_FOLDER, directory):
        if all((folder / b).is_file() for b in _CIFAR_BATCHES[split]):
            return folder
    archive = directory / _CIFAR_ARCHIVE
    return archive if archive.is_file() else None


def _find_local(info: DatasetInfo, split: str, data_dir, cache_dir):
    """(source, directory, what) for the first place holding ``split``, or None."""
    places = []
    if data_dir is not None:
        base = Path(data_dir).expanduser()
        if not base.is_dir():
            raise FileNotFoundError(f"data directory not found: {base}")
        places += [("data dir", base), ("data dir", base / info.name)]
    places.append(("cache", cache_root(cache_dir) / info.name))
    for source, directory in places:
        if directory.is_dir():
            what = _find_in(info, split, directory)
            if what is not None:
                return source, directory, what
    return None


def locate(name: str, split: str = "train", *, data_dir=None, cache_dir=None) -> tuple[str, Path | None]:
    """Where :func:`load_dataset` would take ``split`` of ``name`` from, without loading.

    Returns
    -------
    source : {"data dir", "cache", "built in", "download"}
    path : Path or None
        The folder holding the files; for "download", the cache folder the files
        would go to; None for "built in".
    """
    info = dataset_info(name)
    _check_split(split)
    if info.layout == "sklearn":
        return "built in", None
    found = _find_local(info, split, data_dir, cache_dir)
    if found is not None:
        return found[0], found[1]
    return "download", cache_root(cache_dir) / info.name


# ---------------------------------------------------------------- downloading

def _missing_message(info: DatasetInfo, split: str, data_dir, cache_dir, problem: str) -> str:
    files = info.files[split]
    names = " and ".join(files) if len(files) <= 2 else ", ".join(files)
    urls = mirrors(info.name)
    origin = f" (from {urls[0]})" if urls else ""
    looked = f"not in {Path(data_dir).expanduser()}, " if data_dir is not None else ""
    cache = cache_root(cache_dir) / info.name
    return (f"{info.name} {split} split {looked}not in the cache and {problem}. "
            f"Put {names}{origin} in {cache}, or in a folder passed as --data-dir "
            f"(data_dir=).")


def _download(info: DatasetInfo, split: str, data_dir, cache_dir) -> None:
    """Fetch the files of ``split`` missing from the cache; verified before renaming."""
    import http.client
    cache = cache_root(cache_dir) / info.name
    urls = mirrors(info.name)
    new_dirs = [d for d in (cache, *cache.parents) if not d.exists()]  # deepest first
    for file_name in info.files[split]:
        if (cache / file_name).is_file():
            continue
        failures = []
        for base in urls:
            url = base.rstrip("/") + "/" + file_name
            try:
                with atomic_path(cache / file_name) as tmp:
                    fetch(url, tmp, desc=file_name)
                    verify(tmp, info.checksums[file_name])
                break
            except (OSError, ValueError, http.client.HTTPException) as exc:
                # unreachable, HTTP error, cut connection or ChecksumError: next mirror
                failures.append(f"{url}: {http_reason(exc)}")
        else:
            for d in new_dirs:  # a failed download leaves no trace, not even folders
                if d.is_dir() and not any(d.iterdir()):
                    d.rmdir()
            problem = ("no download mirror is configured" if not urls else
                       "the download failed (" + "; ".join(failures) + ")")
            raise DatasetUnavailableError(_missing_message(info, split, data_dir, cache_dir, problem))


# ---------------------------------------------------------------- loading

def _idx_labels_sha256(labels: np.ndarray) -> str:
    """SHA-256 of the idx labels file that holds ``labels`` (the file's decompressed
    content: magic 2049, count, one byte per label)."""
    import hashlib
    import struct

    content = struct.pack(">ii", 2049, len(labels)) + np.asarray(labels, np.uint8).tobytes()
    return hashlib.sha256(content).hexdigest()


def _check_not_mnist(info: DatasetInfo, split: str, labels: np.ndarray, directory: Path) -> None:
    """Refuse MNIST's files given as Fashion-MNIST: the two sets share their file names.

    The labels file is compared with MNIST's (its known content SHA-256); 70 kB hashed,
    about a millisecond.
    """
    if info.name != "fashion-mnist" or labels is None:
        return
    labels_file = info.files[split][1]
    if _idx_labels_sha256(labels) == DATASETS["mnist"].checksums[labels_file][1]:
        raise DataFormatError(
            f"{directory} holds MNIST's digits, not Fashion-MNIST: the files have the same names "
            f"but these labels are MNIST's {labels_file}; pass -d mnist, or a folder with "
            f"Fashion-MNIST's files")


def _load_found(info: DatasetInfo, split: str, source: str, directory: Path, what) -> ImageSet:
    name = f"{info.name} {split} ({source} {directory})"
    if info.layout == "idx":
        loaded = read_imageset(*what, name=name)
        images, labels = loaded.images, loaded.labels
        _check_not_mnist(info, split, labels, directory)
    else:
        parts = load_cifar_parts(what, split)
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
    return ImageSet(images, labels=labels, name=name,
                    meta={"dataset": info.name, "split": split, "source": source,
                          "location": str(directory), "classes": list(info.classes)})


def load_dataset(name: str, split: str = "train", *, data_dir=None, cache_dir=None,
                 download: bool = True) -> ImageSet:
    """Load one split of a named data set.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist", "digits", "cifar10"}
    split : {"train", "test"}
    data_dir : str or path-like, optional
        A folder holding the set's files (the idx files, gzip'd or not; for cifar10
        ``cifar-10-batches-py/`` or ``cifar-10-python.tar.gz``), directly or in a
        ``<name>/`` sub-folder. Tried first.
    cache_dir : str or path-like, optional
        Cache root instead of ``$IMSIM_CACHE`` / ``~/.cache/imsim``; the set lives
        in ``<cache_dir>/<name>/``.
    download : bool
        Download missing files from the mirrors into the cache (checksums verified).

    Returns
    -------
    ImageSet
        images uint8 of shape (N, 28, 28) (mnist, fashion-mnist), (N, 8, 8)
        (digits) or (N, 32, 32, 3) (cifar10); int64 labels; ``name`` says where
        the set came from, ``meta`` holds dataset, split, source ("data dir",
        "cache", "download", "built in"), location and class names.

    Raises
    ------
    ValueError
        Unknown name or split.
    DatasetUnavailableError
        The files are not on disk and could not be downloaded (offline, every mirror
        failed or served a file with the wrong checksum); the message names the
        files and where to put them.
    DataFormatError
        A file on disk is damaged (truncated, wrong magic, ...).
    """
    info = dataset_info(name)
    _check_split(split)
    if info.layout == "sklearn":
        return load_digits(split, DATASETS["digits"].classes)
    found = _find_local(info, split, data_dir, cache_dir)
    if found is not None:
        return _load_found(info, split, *found)
    if not download:
        raise DatasetUnavailableError(
            _missing_message(info, split, data_dir, cache_dir, "downloads are turned off"))
    _download(info, split, data_dir, cache_dir)
    cache = cache_root(cache_dir) / info.name
    return _load_found(info, split, "download", cache, _find_in(info, split, cache))


# ---------------------------------------------------------------- any source

def _is_catalog_name(spec) -> bool:
    if not isinstance(spec, str):  # a Path always means a file or folder
        return False
    key = spec.strip().lower()
    return _ALIASES.get(key, key) in DATASETS


def _idx_pair_in(directory: Path, split: str):
    return _find_in(DATASETS["mnist"], split, directory)


def has_splits(spec) -> bool:
    """True when ``spec`` names a source with train and test splits: a catalog name
    or a folder holding MNIST-style idx files."""
    if isinstance(spec, ImageSet):
        return False
    if _is_catalog_name(spec):
        return True
    path = Path(str(spec)).expanduser()
    return path.is_dir() and all(_idx_pair_in(path, s) is not None for s in SPLITS)


def open_images(spec, split: str = "train", *, data_dir=None, labels=None, size=None,
                color: bool | None = None) -> ImageSet:
    """Open "a data set" however the user named it: the one way in for every command.

    Parameters
    ----------
    spec : str, path-like or ImageSet
        * a catalog name (``mnist``, ``fashion-mnist``, ``digits``, ``cifar10``),
          loaded by :func:`load_dataset`; a catalog name given as a str wins over
          a same-named folder in the working directory (write ``./mnist`` or pass
          a Path for the folder);
        * an idx images file (gzip'd or not), with labels from ``labels``;
        * a folder holding MNIST-style idx files (``train-images-idx3-ubyte.gz``...);
        * a folder of images, read by :func:`~imsim.datasets.folder.load_folder`
          (recursively; labels from nothing);
        * one image file: a set of one image.
    split : {"train", "test"}
        For catalog names and idx folders; ignored otherwise.
    data_dir : str or path-like, optional
        Passed to :func:`load_dataset`.
    labels : str or path-like, optional
        idx labels file for an idx images ``spec``.
    size : int or (width, height), optional
        Resize every image (bilinear). Default: the source's own size, and 64x64
        for folders of images (photos rarely share a size).
    color : bool, optional
        True for RGB, False for grayscale; default: as stored (RGB for image folders).

    Returns
    -------
    ImageSet
    """
    if isinstance(spec, ImageSet):
        return _converted(spec, size, color)
    if labels is not None:
        path = Path(str(spec)).expanduser()
        if _is_catalog_name(spec) or path.is_dir() or path.suffix.lower() in SUPPORTED_SUFFIXES:
            raise ValueError("labels= (--labels) applies to an idx images file only, "
                             f"not to {spec!r}")
    if _is_catalog_name(spec):
        return _converted(load_dataset(spec, split, data_dir=data_dir), size, color)
    path = Path(str(spec)).expanduser()
    if path.is_dir():
        pair = _idx_pair_in(path, _check_split(split))
        if pair is not None:
            loaded = read_imageset(*pair, name=f"{path} {split}")
            return _converted(dataclasses.replace(
                loaded, meta={"source": "idx", "split": split, "location": str(path)}), size, color)
        return load_folder(path, size=64 if size is None else size,
                           color=True if color is None else color)
    if path.is_file():
        if path.suffix.lower() in SUPPORTED_SUFFIXES:
            pixels = load_image(path, size=size, color=True if color is None else color)
            return ImageSet(pixels[None], paths=[path.name], name=f"image {path}",
                            meta={"source": "image", "location": str(path.parent)})
        loaded = read_imageset(path, labels, name=str(path))
        return _converted(dataclasses.replace(loaded, meta={"source": "idx", "location": str(path)}),
                          size, color)
    raise FileNotFoundError(
        f"no data set, file or folder named {str(spec)!r}: expected one of "
        f"{', '.join(DATASETS)}, an idx images file or a folder of images")


def _converted(imageset: ImageSet, size, color) -> ImageSet:
    images = convert_images(imageset.images, size=size, color=color)
    if images is imageset.images:
        return imageset
    return dataclasses.replace(imageset, images=images)
