"""The classes-as-clusters file: which images a classifier put in each class.

One line per class, written as::

    CLUSTER-1 { size: 3, 0, 4, 17}
    CLUSTER-2 { size: 0}

Cluster numbers are 1-based, image ids 0-based (rows of the images file), every
class has a line (size 0 allowed). The reader also takes the variants the
original programs wrote: 0-based cluster numbers (a file holding ``CLUSTER-0``
is read as 0-based), no spaces (``CLUSTER-0 {size:3,0,4,17}``) and no ``size:``
field (``CLUSTER-1 {0, 4, 17}``). Blank lines are skipped.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .._io import read_text_file, write_text_atomic
from .._validation import DataFormatError

__all__ = ["write_classes", "read_classes", "format_classes", "parse_classes"]

_LINE = re.compile(r"^\s*CLUSTER-(\d+)\s*\{(.*)\}\s*$", re.IGNORECASE)
_SIZE = re.compile(r"^\s*size\s*:\s*(\S*)\s*$", re.IGNORECASE)


def format_classes(labels, n_classes: int | None = None) -> str:
    """The file's text for ``labels`` (see :func:`write_classes`)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must have shape (N,), got {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer classes, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"classes must be 0-based (>= 0), found {labels.min()}")
    top = int(labels.max()) + 1 if labels.size else 0
    if n_classes is None:
        n_classes = top
    elif top > n_classes:
        raise ValueError(f"labels hold class {top - 1} but n_classes={n_classes}")
    order = np.argsort(labels, kind="stable")  # ids ascending within a class
    ends = np.cumsum(np.bincount(labels, minlength=n_classes))
    lines = []
    for c in range(n_classes):
        ids = order[(ends[c - 1] if c else 0):ends[c]]
        items = [f"size: {len(ids)}"] + [str(i) for i in ids]
        lines.append(f"CLUSTER-{c + 1} {{ {', '.join(items)}}}")
    return "\n".join(lines) + "\n"


def write_classes(path, labels, n_classes: int | None = None) -> Path:
    """Write the classes-as-clusters file, atomically.

    Parameters
    ----------
    path : str or Path
    labels : ndarray of shape (N,), int
        0-based class of every image; image ``i`` is row ``i`` of the images file.
    n_classes : int, optional
        Number of classes (default: largest label + 1); classes without images get
        a line with ``size: 0``.

    Returns
    -------
    Path written.
    """
    path = Path(path)
    write_text_atomic(path, format_classes(labels, n_classes))
    return path


def parse_classes(text: str, n_images: int | None = None, *, source: str = "<text>") -> np.ndarray:
    """Class of every image from the file's text (see :func:`read_classes`)."""
    entries = []  # (line number, cluster number, ids)
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        m = _LINE.match(raw)
        if m is None:
            raise DataFormatError(f"{source}:{lineno}: expected 'CLUSTER-<n> {{ size: <count>, "
                                  f"id, id, ...}}', found {raw.strip()[:60]!r}")
        number = int(m.group(1))
        body = [item.strip() for item in m.group(2).split(",")]
        if body and body[-1] == "":  # a trailing comma or an empty body
            body.pop()
        size = None
        if body:
            sm = _SIZE.match(body[0])
            if sm is not None:
                if not sm.group(1).isdigit():
                    raise DataFormatError(f"{source}:{lineno}: size must be a non-negative "
                                          f"integer, found {sm.group(1)!r}")
                size = int(sm.group(1))
                body = body[1:]
        bad = next((item for item in body if not item.isdigit()), None)
        if bad is not None:
            raise DataFormatError(f"{source}:{lineno}: image ids must be non-negative "
                                  f"integers, found {bad!r}")
        big = next((item for item in body if len(item.lstrip("0")) > 18), None)
        if big is not None:  # beyond int64 (and any real collection): refuse before converting
            raise DataFormatError(f"{source}:{lineno}: image id {big[:30]} is too large")
        ids = np.array([int(item) for item in body], dtype=np.int64)
        if size is not None and size != len(ids):
            raise DataFormatError(f"{source}:{lineno}: size says {size} images but "
                                  f"{len(ids)} ids follow")
        entries.append((lineno, number, ids))
    if not entries:
        raise DataFormatError(f"{source}: no CLUSTER lines found")

    first = 0 if any(number == 0 for _, number, _ in entries) else 1
    seen_class: dict[int, int] = {}
    for lineno, number, _ in entries:
        if number in seen_class:
            raise DataFormatError(f"{source}:{lineno}: CLUSTER-{number} appears again "
                                  f"(first on line {seen_class[number]})")
        seen_class[number] = lineno
    all_ids = np.concatenate([ids for _, _, ids in entries])
    n = int(all_ids.max()) + 1 if n_images is None and all_ids.size else (n_images or 0)
    if n_images is None and n - all_ids.size > 1_000_000:
        # every id 0..max must be listed once: a larger id means missing images (and
        # would make the label array as large as the id), so say so before allocating
        raise DataFormatError(f"{source}: ids go up to {n - 1} but only {all_ids.size} ids are "
                              f"listed, so some images are in no class")
    top = max(n, len(entries))
    for lineno, number, _ in entries:
        if number - first >= top:
            raise DataFormatError(f"{source}:{lineno}: CLUSTER-{number} is out of range: with "
                                  f"{n} images and {len(entries)} classes, class numbers go up "
                                  f"to {top - 1 + first}")
    labels = np.full(n, -1, dtype=np.int64)
    where = np.zeros(n, dtype=np.int64)  # line that placed each image
    for lineno, number, ids in entries:
        if ids.size and ids.max() >= n:
            raise DataFormatError(f"{source}:{lineno}: image id {ids.max()} out of range, "
                                  f"there are {n} images (ids 0..{n - 1})")
        uniq, counts = np.unique(ids, return_counts=True)
        if (counts > 1).any():
            raise DataFormatError(f"{source}:{lineno}: image {uniq[counts > 1][0]} is listed "
                                  "twice on this line")
        again = ids[labels[ids] >= 0]
        if again.size:
            i = int(again[0])
            raise DataFormatError(f"{source}:{lineno}: image {i} is listed again (first on "
                                  f"line {where[i]})")
        labels[ids] = number - first
        where[ids] = lineno
    missing = np.flatnonzero(labels < 0)
    if missing.size:
        shown = ", ".join(str(i) for i in missing[:5]) + (", ..." if missing.size > 5 else "")
        raise DataFormatError(f"{source}: {missing.size} of {n} images are in no class "
                              f"(ids {shown})")
    return labels


def read_classes(path, n_images: int | None = None) -> np.ndarray:
    """Read a classes-as-clusters file.

    Parameters
    ----------
    path : str or Path
    n_images : int, optional
        Number of images the file must cover (ids 0..n_images-1); default: the
        largest id + 1.

    Returns
    -------
    ndarray of shape (N,), int64
        0-based class of every image.

    Raises
    ------
    DataFormatError
        With the line number: a line that is not ``CLUSTER-<n> {...}``, a
        non-integer id, a size that disagrees with the ids, a class or an image
        listed twice, an id out of range; or images in no class.
    """
    return parse_classes(read_text_file(path, "classes file"), n_images, source=str(path))
