"""Photo files for the web app: only a regular file inside the photo folder that is still
the file that was indexed is ever read.

A stored path is trusted no more than a client's: ``images.sqlite`` could be crafted
(``../`` paths, absolute paths), and the photo folder changes under a running server
(a photo deleted, overwritten, or replaced by a symlink to a system file). So each
read resolves the path (symlinks included), requires it to stay inside the photo
folder, opens it without following a last symlink or blocking on a FIFO, and checks
that the open file is a regular file with the size and modification time recorded
at indexing.
"""
from __future__ import annotations

import contextlib
import os
import stat
from pathlib import PurePosixPath

from fastapi import HTTPException
from fastapi.responses import StreamingResponse

from ._errors import ApiError
from ._images import MEDIA_TYPES

_CHUNK = 256 * 1024


def _resolve(view, rec) -> str:
    """The real path of the record's file, or 404 when it is not inside the photo folder."""
    rel = PurePosixPath(rec.path)
    root = str(view.photos_root)
    real = os.path.realpath(os.path.join(root, *rel.parts)) \
        if not rel.is_absolute() and ".." not in rel.parts else None
    if real is None or os.path.commonpath([root, real]) != root or real == root:
        raise HTTPException(404, f"image {rec.path!r} is not served: its path leads outside the "
                                 f"photo folder {root}")
    return real


@contextlib.contextmanager
def open_photo(view, rec):
    """The record's photo opened for reading (a binary file object), checked as above.

    Raises HTTPException 404 (gone, outside the folder, not a regular file) or 409
    (changed since it was indexed).
    """
    real = _resolve(view, rec)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        raise HTTPException(404, f"the file of {rec.path!r} is gone from the photo folder "
                                 f"({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as fp:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise HTTPException(404, f"{rec.path!r} is no longer a regular file: not served")
        if (st.st_size, st.st_mtime_ns) != (rec.size, rec.mtime_ns):
            raise ApiError(409, f"{rec.path!r} changed since it was indexed: run `imsim index` "
                                f"again to see its new contents", error="photo_changed")
        if os.path.realpath(real) != real:  # a folder on the way was swapped meanwhile
            raise HTTPException(404, f"{rec.path!r} moved while it was opened: not served")
        yield fp


def original_response(view, rec) -> StreamingResponse:
    """The record's file as it was indexed, streamed from the descriptor checked."""
    stack = contextlib.ExitStack()
    fp = stack.enter_context(open_photo(view, rec))

    def chunks():
        with stack:
            while data := fp.read(_CHUNK):
                yield data

    name = PurePosixPath(rec.path).name
    media = MEDIA_TYPES.get(PurePosixPath(name).suffix.lower(), "application/octet-stream")
    from urllib.parse import quote

    return StreamingResponse(chunks(), media_type=media, headers={
        "Content-Length": str(rec.size),
        "Content-Disposition": f"inline; filename*=utf-8''{quote(name)}"})
