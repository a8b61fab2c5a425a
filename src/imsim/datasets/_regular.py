"""Reading an image file: regular files only, never past the byte cap (see :mod:`.image`)."""
from __future__ import annotations

import os
import stat

from .._validation import ImageTooLargeError, UnreadableImageError
from ._limits import limits


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def file_kind(mode: int) -> str:
    """What a non-regular ``st_mode`` is, in words ("a FIFO", "a character device", ...)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _too_many_bytes(source, n: int, cap: int) -> ImageTooLargeError:
    return ImageTooLargeError(source, f"{n:,} bytes, the limit is {cap:,} "
                                      f"(raise it with IMSIM_MAX_IMAGE_BYTES)")


def read_image_file(path, *, max_bytes: int | None = None) -> bytes:
    """The bytes of the image file ``path``, read only when it is a regular file under the cap.

    Raises
    ------
    UnreadableImageError
        Missing, unreadable, or not a regular file (FIFO, device, folder, socket; a
        symlink to one counts as one). Such files are never read.
    ImageTooLargeError
        Longer than ``max_bytes`` (default :func:`limits`).
    """
    if max_bytes is None:
        max_bytes = limits().max_bytes
    cap = int(max_bytes)
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise UnreadableImageError(name, "no such file" if not os.path.islink(name)
                                   else "broken symbolic link") from None
    except OSError as exc:
        raise UnreadableImageError(name, _os_reason(exc)) from None
    if not stat.S_ISREG(st.st_mode):
        raise UnreadableImageError(name, f"not a regular file ({file_kind(st.st_mode)})")
    if st.st_size > cap:
        raise _too_many_bytes(name, st.st_size, cap)
    try:
        # non-blocking: a file swapped for a FIFO after the stat cannot hang the open
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UnreadableImageError(name, _os_reason(exc)) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableImageError(name, f"not a regular file ({file_kind(st.st_mode)})")
        try:
            # the size it has now, plus one byte to see it grow: read(cap + 1) would
            # allocate the whole cap (256 MiB) for every file, a third of a scan's time
            data = f.read(min(cap, st.st_size) + 1)
            if len(data) > st.st_size and len(data) <= cap:
                data += f.read(cap + 1 - len(data))
        except OSError as exc:
            raise UnreadableImageError(name, _os_reason(exc)) from None
    if len(data) > cap:
        raise _too_many_bytes(name, len(data), cap)
    return data


def _os_reason(exc: OSError) -> str:
    if exc.errno == 40:  # ELOOP
        return "symbolic link loop"
    return f"cannot read file: {exc.strerror or exc}"
